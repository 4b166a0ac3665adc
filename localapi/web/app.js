// offlined's page: the device's offline maps, downloads, sync and
// conflicts. Plain ES modules, no build step; it talks only to the daemon
// that serves it, through the same /api/v1 routes field apps use, signed
// in by the session cookie `offlined open` sets (unsafe requests add the
// session's CSRF token).
import * as maplibregl from './vendor/maplibre-gl/maplibre-gl.mjs';

const API = '/api/v1';
const state = { csrf: '', session: false };
// Tests and curious developers read the page's state here.
const page = { map: null, featuresLoaded: 0, layers: {}, ready: false, errors: [] };
window.offlinedPage = page;
window.addEventListener('error', (e) => page.errors.push(String(e.message)));
window.addEventListener('unhandledrejection', (e) => page.errors.push(String(e.reason && e.reason.message || e.reason)));

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status; this.code = e.code || ''; this.field = e.field || '';
  }
}

async function api(method, path, body, opts = {}) {
  const headers = {};
  if (method !== 'GET' && method !== 'HEAD') headers['X-Offlined-CSRF'] = state.csrf;
  let payload;
  if (body instanceof Blob) { payload = body; headers['Content-Type'] = opts.contentType || body.type || 'application/octet-stream'; }
  else if (body !== undefined) { payload = JSON.stringify(body); headers['Content-Type'] = 'application/json'; }
  const resp = await fetch(path.startsWith('/') ? path : `${API}/${path}`, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

const $ = (sel, root = document) => root.querySelector(sel);
function h(tag, attrs = {}, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}
function toast(msg) {
  const t = $('#toast'); t.textContent = msg; t.classList.add('show');
  clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove('show'), 4000);
}
const fmtBytes = (n) => n == null ? '—' : n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} kB` : n < 1073741824 ? `${(n / 1048576).toFixed(1)} MB` : `${(n / 1073741824).toFixed(2)} GB`;
const fmtTime = (t) => t ? new Date(t).toLocaleString() : 'never';

// --- Area of interest -------------------------------------------------------
function bboxOf(geom) {
  let w = Infinity, s = Infinity, e = -Infinity, n = -Infinity;
  const walk = (c) => { if (typeof c[0] === 'number') { w = Math.min(w, c[0]); e = Math.max(e, c[0]); s = Math.min(s, c[1]); n = Math.max(n, c[1]); } else c.forEach(walk); };
  if (geom && geom.coordinates) walk(geom.coordinates);
  return isFinite(w) ? [w, s, e, n] : null;
}
function areaKm2(b) {
  if (!b) return null;
  const R = 6371.0088, rad = Math.PI / 180;
  return Math.abs((b[2] - b[0]) * rad * R * R * (Math.sin(b[3] * rad) - Math.sin(b[1] * rad)));
}

// --- Esri renderers to MapLibre paint -------------------------------------------
const PALETTE = ['#0b6e99', '#c2410c', '#15803d', '#7c3aed', '#b91c1c', '#0f766e'];
function esriColor(c, fallback) {
  if (!Array.isArray(c) || c.length < 3) return fallback;
  return `rgba(${c[0]},${c[1]},${c[2]},${c.length > 3 ? (c[3] / 255).toFixed(3) : 1})`;
}
function symbolColor(sym, fallback) {
  if (!sym) return fallback;
  return esriColor(sym.color, sym.outline ? esriColor(sym.outline.color, fallback) : fallback);
}
// colorExpression turns a simple, unique value or class breaks renderer into
// a MapLibre color expression; anything else gets the layer's default color.
function colorExpression(renderer, fallback) {
  if (!renderer) return fallback;
  if (renderer.type === 'simple') return symbolColor(renderer.symbol, fallback);
  if (renderer.type === 'uniqueValue' && renderer.field1 && Array.isArray(renderer.uniqueValueInfos) && renderer.uniqueValueInfos.length) {
    const expr = ['match', ['to-string', ['get', renderer.field1]]];
    const seen = new Set();
    for (const u of renderer.uniqueValueInfos) {
      const v = String(u.value);
      if (seen.has(v)) continue;
      seen.add(v); expr.push(v, symbolColor(u.symbol, fallback));
    }
    expr.push(symbolColor(renderer.defaultSymbol, fallback));
    return expr;
  }
  if (renderer.type === 'classBreaks' && renderer.field && Array.isArray(renderer.classBreakInfos) && renderer.classBreakInfos.length) {
    const v = ['to-number', ['get', renderer.field], 0];
    const expr = ['case'];
    for (const c of renderer.classBreakInfos) expr.push(['<=', v, Number(c.classMaxValue)], symbolColor(c.symbol, fallback));
    expr.push(symbolColor(renderer.defaultSymbol, fallback));
    return expr;
  }
  return fallback;
}

// --- Views ------------------------------------------------------------------
const views = [];
function route(re, fn) { views.push([re, fn]); }
let cleanup = [];
function onLeave(fn) { cleanup.push(fn); }

async function render() {
  for (const fn of cleanup.splice(0)) { try { fn(); } catch { /* view already gone */ } }
  const hash = location.hash.replace(/^#/, '') || '/';
  for (const a of document.querySelectorAll('nav a')) a.removeAttribute('aria-current');
  const main = $('#main');
  main.className = '';
  for (const [re, fn] of views) {
    const m = hash.match(re);
    if (m) {
      try { await fn(main, ...m.slice(1).map(decodeURIComponent)); }
      catch (err) { main.replaceChildren(h('p', { role: 'alert', class: 'field-error' }, `Could not load this view: ${err.message}`)); }
      return;
    }
  }
  main.replaceChildren(h('p', {}, 'No such page. ', h('a', { href: '#/' }, 'Offline maps')));
}

function signedOut(main) {
  main.replaceChildren(h('section', {},
    h('h1', {}, 'Sign in to this device\'s offlined'),
    h('p', {}, 'Run ', h('code', {}, 'offlined open'), ' on the device: it prints (or opens) a one-time link that signs this browser in.')));
}

route(/^\/$/, async (main) => {
  $('#nav-maps').setAttribute('aria-current', 'page');
  const { maps } = await api('GET', 'maps');
  const rows = maps.map((m) => {
    const tr = h('tr', { 'data-map': m.id },
      h('td', {}, h('a', { href: `#/map/${encodeURIComponent(m.id)}`, 'data-open-map': m.id }, m.title || m.id), m.broken ? h('span', { class: 'badge bad' }, ' broken') : null),
      h('td', { class: 'area' }, '…'), h('td', {}, fmtBytes(m.sizeBytes)),
      h('td', {}, `${(m.layers || []).length} layers, ${(m.tileLayers || []).length} tile layers`),
      h('td', { class: 'lastsync' }, '…'), h('td', { class: 'pending' }, '…'), h('td', { class: 'conflicts' }, '…'), h('td', { class: 'state' }, '…'));
    fillMapRow(tr, m);
    return tr;
  });
  main.replaceChildren(h('h1', {}, 'Offline maps'),
    maps.length ? h('table', { class: 'maps' },
      h('thead', {}, h('tr', {}, ['Map', 'Area', 'Size', 'Layers', 'Last sync', 'Pending edits', 'Conflicts', 'Status'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))
      : h('p', {}, 'No offline maps on this device yet. ', h('a', { href: '#/jobs' }, 'Take a map offline')));
});

async function fillMapRow(tr, m) {
  try {
    const man = await api('GET', `maps/${encodeURIComponent(m.id)}/manifest`);
    const km2 = areaKm2(bboxOf(man.areaOfInterest));
    $('.area', tr).textContent = km2 == null ? '—' : `${km2.toFixed(1)} km²`;
  } catch { $('.area', tr).textContent = '—'; }
  try {
    const st = await api('GET', `maps/${encodeURIComponent(m.id)}/sync`);
    const svcs = Object.values(st.services || {});
    const last = svcs.map((s) => s.lastSuccess).filter(Boolean).sort().pop();
    $('.lastsync', tr).textContent = fmtTime(last);
    $('.pending', tr).textContent = svcs.reduce((n, s) => n + (s.pendingEdits || 0), 0);
    $('.conflicts', tr).textContent = svcs.reduce((n, s) => n + (s.pendingConflicts || 0), 0);
    const bad = svcs.find((s) => s.state === 'needsAuth') ? ['needsAuth', 'bad'] : svcs.find((s) => s.state === 'error') ? ['error', 'bad'] : svcs.find((s) => s.state === 'offline') ? ['offline', 'warn'] : ['ok', 'ok'];
    $('.state', tr).replaceChildren(h('span', { class: `badge ${bad[1]}` }, bad[0]));
  } catch (err) {
    for (const c of ['.lastsync', '.pending', '.conflicts']) $(c, tr).textContent = '—';
    $('.state', tr).textContent = err.status === 501 ? 'no sync' : err.message;
  }
}

// --- Map view ---------------------------------------------------------------
route(/^\/map\/([^/]+)$/, async (main, id) => mapView(main, id));

async function baseStyle(mapID, tileLayers) {
  const style = { version: 8, sources: {}, layers: [{ id: 'background', type: 'background', paint: { 'background-color': '#eef2f4' } }] };
  for (const tl of tileLayers) {
    const base = `maps/${encodeURIComponent(mapID)}/tiles/${encodeURIComponent(tl)}`;
    let tj;
    try { tj = await api('GET', `${base}/tilejson`); } catch { continue; }
    if (tj.format === 'pbf' || tj.format === 'mvt') {
      let vs;
      try { vs = await api('GET', `${base}/style`); } catch { continue; }
      for (const [sid, src] of Object.entries(vs.sources || {})) style.sources[`${tl}:${sid}`] = src;
      for (const l of vs.layers || []) {
        if (l.type === 'background') continue;
        style.layers.push({ ...l, id: `${tl}:${l.id}`, ...(l.source ? { source: `${tl}:${l.source}` } : {}) });
      }
      if (vs.glyphs && !style.glyphs) style.glyphs = vs.glyphs;
      if (vs.sprite && !style.sprite) style.sprite = vs.sprite;
    } else {
      style.sources[tl] = { type: 'raster', tiles: tj.tiles, tileSize: 256, minzoom: tj.minzoom, maxzoom: tj.maxzoom, ...(tj.bounds ? { bounds: tj.bounds } : {}) };
      style.layers.push({ id: tl, type: 'raster', source: tl });
    }
  }
  // Layers without a glyph source cannot show text: drop their labels.
  if (!style.glyphs) style.layers = style.layers.filter((l) => !(l.layout && l.layout['text-field']));
  return style;
}

async function mapView(main, mapID) {
  const m = await api('GET', `maps/${encodeURIComponent(mapID)}`);
  let man = null;
  try { man = await api('GET', `maps/${encodeURIComponent(mapID)}/manifest`); } catch { /* incomplete package */ }
  main.className = 'full';
  const panel = h('aside', { id: 'panel', 'aria-label': 'Details' });
  const mapEl = h('div', { id: 'map', role: 'region', 'aria-label': `Map of ${m.title || m.id}` });
  main.replaceChildren(mapEl, panel);
  const bbox = man ? bboxOf(man.areaOfInterest) : null;
  const map = new maplibregl.Map({ container: mapEl, style: await baseStyle(mapID, m.tileLayers || []),
    bounds: bbox || undefined, fitBoundsOptions: { padding: 20 }, center: bbox ? undefined : [0, 0], zoom: bbox ? undefined : 1,
    attributionControl: false, preserveDrawingBuffer: true });
  page.map = map; page.ready = false; page.layers = {};
  map.on('error', (e) => { page.errors.push(String((e.error && e.error.message) || e)); console.error('map:', (e.error && e.error.message) || e); });
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  map.addControl(new maplibregl.ScaleControl(), 'bottom-left');
  onLeave(() => { map.remove(); page.map = null; });
  page.stage = 'loading';
  await new Promise((res) => map.once('load', res));
  page.stage = 'loaded';

  if (man && man.areaOfInterest) {
    map.addSource('aoi', { type: 'geojson', data: { type: 'Feature', geometry: man.areaOfInterest, properties: {} } });
    map.addLayer({ id: 'aoi', type: 'line', source: 'aoi', paint: { 'line-color': '#c2410c', 'line-width': 2, 'line-dasharray': [2, 2] } });
  }
  const featureLayers = (m.layers || []).filter((l) => l.type !== 'Table' && l.geometryType);
  const clickable = [];
  for (const [i, l] of featureLayers.entries()) {
    let def = {};
    try { def = (await api('GET', `maps/${encodeURIComponent(mapID)}/layers/${encodeURIComponent(l.id)}`)).definition || {}; } catch { /* drawn with defaults */ }
    page.layers[l.id] = { ...l, definition: def };
    const color = colorExpression(def.drawingInfo && def.drawingInfo.renderer, PALETTE[i % PALETTE.length]);
    const src = `fl:${l.id}`;
    map.addSource(src, { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    if (l.geometryType === 'esriGeometryPoint' || l.geometryType === 'esriGeometryMultipoint') {
      map.addLayer({ id: src, type: 'circle', source: src, paint: { 'circle-radius': 6, 'circle-color': color, 'circle-stroke-color': '#fff', 'circle-stroke-width': 1.5 } });
      clickable.push(src);
    } else if (l.geometryType === 'esriGeometryPolyline') {
      map.addLayer({ id: src, type: 'line', source: src, paint: { 'line-color': color, 'line-width': 3 } });
      clickable.push(src);
    } else {
      map.addLayer({ id: src, type: 'fill', source: src, paint: { 'fill-color': color, 'fill-opacity': 0.35 } }, clickable[0]);
      map.addLayer({ id: `${src}:outline`, type: 'line', source: src, paint: { 'line-color': color, 'line-width': 1 } }, clickable[0]);
      clickable.push(src);
    }
  }
  page.stage = 'layers added';
  const load = async () => {
    const b = map.getBounds();
    const bb = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => Math.max(-180, Math.min(180, v)));
    bb[1] = Math.max(-90, bb[1]); bb[3] = Math.min(90, bb[3]);
    await Promise.all(featureLayers.map(async (l) => {
      try {
        const fc = await api('GET', `maps/${encodeURIComponent(mapID)}/layers/${encodeURIComponent(l.id)}/features?bbox=${bb.map((v) => v.toFixed(6)).join(',')}&limit=5000`);
        const src = map.getSource(`fl:${l.id}`);
        if (src) src.setData(fc);
      } catch (err) { toast(`${l.name}: ${err.message}`); }
    }));
    page.featuresLoaded++;
  };
  let timer;
  map.on('moveend', () => { clearTimeout(timer); timer = setTimeout(load, 150); });
  page.stage = 'first load';
  await load();
  page.stage = 'features';

  let adding = null;
  map.on('click', async (e) => {
    if (adding) {
      const l = adding; adding = null; map.getCanvas().style.cursor = '';
      try {
        const res = await api('POST', `maps/${encodeURIComponent(mapID)}/layers/${encodeURIComponent(l.id)}/features`,
          { type: 'Feature', geometry: { type: 'Point', coordinates: [e.lngLat.lng, e.lngLat.lat] }, properties: {} });
        await load();
        toast('Point added');
        openFeature(panel, mapID, l.id, res.globalId, load);
      } catch (err) { toast(`Could not add the point: ${err.message}`); }
      return;
    }
    const hits = map.queryRenderedFeatures(e.point, { layers: clickable });
    if (!hits.length) return;
    const f = hits[0];
    const layerID = f.layer.id.replace(/^fl:/, '');
    const fid = (f.properties && f.properties.GlobalID) || f.id;
    openFeature(panel, mapID, layerID, fid, load);
  });
  map.on('mousemove', (e) => { if (!adding) map.getCanvas().style.cursor = map.queryRenderedFeatures(e.point, { layers: clickable }).length ? 'pointer' : ''; });

  const pointLayers = featureLayers.filter((l) => l.geometryType === 'esriGeometryPoint');
  const summary = () => panel.replaceChildren(
    h('h1', {}, m.title || m.id),
    h('div', { class: 'toolbar' },
      pointLayers.length ? h('label', { for: 'add-layer', class: 'muted' }, 'New point in') : null,
      pointLayers.length ? h('select', { id: 'add-layer' }, pointLayers.map((l) => h('option', { value: l.id }, l.name))) : null,
      pointLayers.length ? h('button', { id: 'add-point', type: 'button', onclick: () => {
        const id = $('#add-layer').value; adding = featureLayers.find((l) => l.id === id);
        map.getCanvas().style.cursor = 'crosshair'; toast('Click the map where the new point goes');
      } }, 'Add a point') : null,
      h('a', { class: 'button secondary', href: `#/map/${encodeURIComponent(mapID)}/sync` }, 'Sync')),
    h('p', { class: 'muted' }, 'Click a feature to see and edit it.'),
    h('ul', {}, featureLayers.map((l) => h('li', {}, l.name, ' ', h('span', { class: 'muted' }, l.geometryType.replace('esriGeometry', '').toLowerCase())))));
  summary();
  page.ready = true;
}

function fieldInput(f, value) {
  const id = `f-${f.name}`;
  const common = { id, name: f.name, 'aria-describedby': `${id}-err` };
  if (f.domain && f.domain.type === 'codedValue') {
    return h('select', common, h('option', { value: '' }, '—'),
      f.domain.codedValues.map((c) => h('option', { value: String(c.code), selected: String(c.code) === String(value) ? true : undefined }, c.name)));
  }
  switch (f.type) {
    case 'esriFieldTypeSmallInteger': case 'esriFieldTypeInteger': case 'esriFieldTypeBigInteger': case 'esriFieldTypeDouble': case 'esriFieldTypeSingle': {
      const range = f.domain && f.domain.type === 'range' ? f.domain.range : null;
      const int = !/Double|Single/.test(f.type);
      return h('input', { ...common, type: 'number', step: int ? '1' : 'any', min: range ? range[0] : undefined, max: range ? range[1] : undefined, value: value == null ? '' : value });
    }
    case 'esriFieldTypeDate': {
      const v = value == null ? '' : new Date(value).toISOString().slice(0, 16);
      return h('input', { ...common, type: 'datetime-local', value: v });
    }
    default:
      return h('input', { ...common, type: 'text', maxlength: f.length || undefined, value: value == null ? '' : value });
  }
}

function readInput(f, el) {
  const v = el.value;
  if (v === '') return null;
  if (f.domain && f.domain.type === 'codedValue') {
    const c = f.domain.codedValues.find((c) => String(c.code) === v);
    return c ? c.code : v;
  }
  if (/Integer|Double|Single/.test(f.type)) return Number(v);
  if (f.type === 'esriFieldTypeDate') return new Date(`${v}Z`).getTime();
  return v;
}

async function openFeature(panel, mapID, layerID, fid, reload) {
  const layer = page.layers[layerID] || {};
  const def = layer.definition || {};
  const base = `maps/${encodeURIComponent(mapID)}/layers/${encodeURIComponent(layerID)}/features/${encodeURIComponent(fid)}`;
  const f = await api('GET', base);
  const props = f.properties || {};
  const editFields = new Set(Object.values(def.editFieldsInfo || {}).filter((v) => typeof v === 'string'));
  const fields = (def.fields || []).filter((fl) => fl.type !== 'esriFieldTypeOID' && fl.type !== 'esriFieldTypeGlobalID' && fl.type !== 'esriFieldTypeGeometry');
  const editable = fields.filter((fl) => fl.editable !== false && !editFields.has(fl.name));
  const readonly = fields.filter((fl) => !editable.includes(fl));
  const form = h('form', { id: 'feature-form', 'data-feature': props.GlobalID || fid, novalidate: true },
    editable.map((fl) => h('div', {}, h('label', { for: `f-${fl.name}` }, fl.alias || fl.name), fieldInput(fl, props[fl.name]),
      h('div', { id: `f-${fl.name}-err`, class: 'field-error', 'aria-live': 'polite' }))),
    h('div', { id: 'form-error', class: 'field-error', role: 'alert' }),
    h('div', { class: 'toolbar' }, h('button', { type: 'submit', id: 'save-feature' }, 'Save'),
      h('button', { type: 'button', class: 'secondary', onclick: () => render() }, 'Close')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
    const changed = {};
    for (const fl of editable) {
      const v = readInput(fl, form.elements[fl.name]);
      const old = props[fl.name] == null ? null : props[fl.name];
      if (v !== old && !(fl.type === 'esriFieldTypeDate' && v != null && old != null && Math.abs(v - old) < 60000)) changed[fl.name] = v;
    }
    if (!Object.keys(changed).length) { toast('Nothing changed'); return; }
    try {
      await api('PATCH', base, { type: 'Feature', properties: changed });
      Object.assign(props, changed);
      toast('Saved'); form.dataset.saved = String(Date.now());
      reload();
    } catch (err) {
      const el = err.field && form.elements[err.field];
      if (el) { el.setAttribute('aria-invalid', 'true'); $(`#f-${CSS.escape(err.field)}-err`).textContent = err.message; el.focus(); }
      else $('#form-error', form).textContent = err.message;
    }
  });
  const atts = layer.hasAttachments ? h('section', { 'aria-label': 'Photos and attachments' },
    h('h2', {}, 'Attachments'), h('div', { class: 'thumbs', id: 'thumbs' }),
    h('label', { for: 'photo-input' }, 'Add a photo'),
    h('input', { id: 'photo-input', type: 'file', accept: 'image/*', capture: 'environment', onchange: async (ev) => {
      const file = ev.target.files[0];
      if (!file) return;
      try {
        await api('POST', `${base}/attachments?name=${encodeURIComponent(file.name)}`, file, { contentType: file.type || 'image/jpeg' });
        toast('Photo added'); await showThumbs(base);
      } catch (err) { toast(`Could not add the photo: ${err.message}`); }
    } })) : null;
  panel.replaceChildren(
    h('h1', {}, `${layer.name || layerID}: ${props[def.displayField] || props.OBJECTID || fid}`),
    form, atts,
    readonly.length ? h('details', {}, h('summary', {}, 'More attributes'),
      h('table', {}, readonly.map((fl) => h('tr', {}, h('th', { scope: 'row' }, fl.alias || fl.name), h('td', {}, fl.type === 'esriFieldTypeDate' && props[fl.name] ? fmtTime(props[fl.name]) : props[fl.name] ?? ''))))) : null);
  if (atts) await showThumbs(base);
  form.elements[0] && form.elements[0].focus();
}

async function showThumbs(base) {
  const box = $('#thumbs');
  if (!box) return;
  const { attachments } = await api('GET', `${base}/attachments`);
  box.replaceChildren(...attachments.map((a) => /^image\//.test(a.contentType)
    ? h('img', { src: `${API}/${base}/attachments/${encodeURIComponent(a.globalId || a.id)}`, alt: a.name, title: `${a.name} (${fmtBytes(a.size)})` })
    : h('span', {}, `${a.name} (${fmtBytes(a.size)})`)));
  box.dataset.count = String(attachments.length);
}

// --- Sync view --------------------------------------------------------------
route(/^\/map\/([^/]+)\/sync$/, async (main, mapID) => {
  const m = await api('GET', `maps/${encodeURIComponent(mapID)}`);
  const status = h('div', { id: 'sync-status' });
  const conflicts = h('div', { id: 'conflicts' });
  const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-label': 'Sync progress', 'aria-valuemin': 0, 'aria-valuemax': 100 }, h('div'));
  const log = h('ul', { id: 'sync-log' });
  main.replaceChildren(h('p', {}, h('a', { href: `#/map/${encodeURIComponent(mapID)}` }, `← ${m.title || m.id}`)),
    h('h1', {}, `Sync: ${m.title || m.id}`),
    h('div', { class: 'toolbar' }, h('button', { id: 'sync-now', type: 'button', onclick: syncNow }, 'Sync now')), bar, log,
    h('h2', {}, 'Status'), status, h('h2', {}, 'Conflicts'), conflicts);
  async function refresh() {
    try {
      const st = await api('GET', `maps/${encodeURIComponent(mapID)}/sync`);
      status.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, ['Service', 'State', 'Last sync', 'Pending edits', 'Last result', 'Error'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, Object.entries(st.services || {}).map(([svc, s]) => h('tr', { 'data-service': svc },
          h('td', {}, svc), h('td', {}, h('span', { class: `badge ${s.state === 'idle' ? 'ok' : s.state === 'offline' ? 'warn' : 'bad'}` }, s.state)),
          h('td', {}, fmtTime(s.lastSuccess)), h('td', { class: 'pending' }, s.pendingEdits),
          h('td', {}, s.lastReport ? `${s.lastReport.uploaded} up, ${s.lastReport.downloaded} down, ${s.lastReport.attachmentsSent} attachments, ${s.lastReport.conflicts} conflicts` : '—'),
          h('td', {}, s.lastError || ''))))));
    } catch (err) { status.replaceChildren(h('p', { class: 'field-error' }, err.message)); }
    try {
      const { conflicts: cs } = await api('GET', `maps/${encodeURIComponent(mapID)}/conflicts`);
      const open = (cs || []).filter((c) => c.resolution === 'pending');
      conflicts.replaceChildren(open.length ? h('div', {}, open.map((c) => h('article', { 'data-conflict': c.id },
        h('h3', {}, `${c.table} ${c.globalId}: device ${c.localOp}, server ${c.serverOp}`),
        h('div', { class: 'side-by-side' },
          h('div', {}, h('strong', {}, 'On this device'), h('pre', {}, JSON.stringify(c.localVersion, null, 1))),
          h('div', {}, h('strong', {}, 'On the server'), h('pre', {}, JSON.stringify(c.serverVersion, null, 1)))),
        h('div', { class: 'toolbar' },
          h('button', { type: 'button', 'data-choice': 'device', onclick: () => resolve(c.id, 'device') }, 'Keep the device\'s'),
          h('button', { type: 'button', class: 'secondary', 'data-choice': 'server', onclick: () => resolve(c.id, 'server') }, 'Keep the server\'s')))))
        : h('p', { class: 'muted', id: 'no-conflicts' }, 'No open conflicts.'));
    } catch (err) { conflicts.replaceChildren(h('p', { class: 'field-error' }, err.message)); }
  }
  async function resolve(id, choice) {
    try { await api('POST', `maps/${encodeURIComponent(mapID)}/conflicts/${encodeURIComponent(id)}/resolve`, { choice }); toast('Resolved'); }
    catch (err) { toast(err.message); }
    refresh();
  }
  async function syncNow() {
    const btn = $('#sync-now'); btn.disabled = true; bar.firstChild.style.width = '10%';
    try {
      const res = await api('POST', `maps/${encodeURIComponent(mapID)}/sync`);
      for (const r of res.services || []) log.append(h('li', {}, `${r.service}: ${r.error ? `failed: ${r.error}` : r.report ? `${r.report.uploaded} uploaded, ${r.report.downloaded} downloaded, ${r.report.attachmentsSent} attachments, ${r.report.conflicts} conflicts` : 'done'}`));
      bar.firstChild.style.width = '100%';
    } catch (err) { log.append(h('li', { class: 'field-error' }, `Sync failed: ${err.message}`)); }
    btn.disabled = false;
    refresh();
  }
  // Background syncs show up here too.
  const es = new EventSource(`${API}/maps/${encodeURIComponent(mapID)}/sync/events`);
  const onSyncEvent = (ev) => {
    try { const d = JSON.parse(ev.data); if (d.percent != null) bar.firstChild.style.width = `${d.percent}%`; } catch { /* keep-alive */ }
    if (ev.type === 'finished' || ev.type === 'failed') refresh();
  };
  for (const type of ['message', 'started', 'progress', 'finished', 'failed']) es.addEventListener(type, onSyncEvent);
  onLeave(() => es.close());
  await refresh();
});

// --- Downloads (jobs) ---------------------------------------------------------
route(/^\/jobs$/, async (main) => {
  $('#nav-jobs').setAttribute('aria-current', 'page');
  const list = h('div', { id: 'jobs' });
  const checkOut = h('div', { id: 'check' });
  const form = h('form', { id: 'job-form', novalidate: true },
    h('div', { class: 'grid2' },
      h('div', {}, h('label', { for: 'j-item' }, 'Portal item id of the web map'), h('input', { id: 'j-item', name: 'itemId' }),
        h('div', { id: 'j-item-err', class: 'field-error' })),
      h('div', {}, h('label', { for: 'j-url' }, 'or web map URL'), h('input', { id: 'j-url', name: 'webMapUrl', type: 'url' }),
        h('div', { id: 'j-url-err', class: 'field-error' })),
      h('div', {}, h('label', { for: 'j-map' }, 'Map id (folder name)'), h('input', { id: 'j-map', name: 'mapId' }), h('div', { id: 'j-map-err', class: 'field-error' })),
      h('div', {}, h('label', { for: 'j-title' }, 'Title'), h('input', { id: 'j-title', name: 'title' }))),
    h('fieldset', {}, h('legend', {}, 'Area (longitude/latitude, WGS84) — type it, or draw it on the map'),
      h('div', { class: 'grid2' }, ['xmin', 'ymin', 'xmax', 'ymax'].map((k) => h('div', {}, h('label', { for: `j-${k}` }, k),
        h('input', { id: `j-${k}`, name: k, type: 'number', step: 'any' }), h('div', { id: `j-${k}-err`, class: 'field-error' })))),
      // Enabled once the area map below exists (a click before would be lost).
      h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'secondary', id: 'draw-area', disabled: true }, 'Draw the area on the map')),
      h('div', { id: 'jobmap', role: 'region', 'aria-label': 'Area of interest' })),
    h('div', { class: 'grid2' },
      h('div', {}, h('label', { for: 'j-min' }, 'Most zoomed-out scale (1:N)'), h('input', { id: 'j-min', name: 'minScale', type: 'number', value: 150000 })),
      h('div', {}, h('label', { for: 'j-max' }, 'Most zoomed-in scale (1:N)'), h('input', { id: 'j-max', name: 'maxScale', type: 'number', value: 10000 }))),
    h('div', { id: 'job-error', class: 'field-error', role: 'alert' }),
    h('div', { class: 'toolbar' }, h('button', { type: 'button', class: 'secondary', id: 'check-job' }, 'Check what goes offline'),
      h('button', { type: 'submit', id: 'start-job' }, 'Start download')));
  main.replaceChildren(h('h1', {}, 'Downloads'), list, h('h2', {}, 'Take a map offline'), form, checkOut);

  // The buttons work from the first paint: the portal is asked now and
  // awaited by the request, so a click before its answer waits for it
  // instead of landing before any listener (the check then never ran).
  const status = api('GET', 'status').catch(() => ({}));
  async function request() {
    const portal = await status;
    const v = (k) => form.elements.namedItem(k).value.trim();
    const req = { minScale: Number(v('minScale')) || undefined, maxScale: Number(v('maxScale')) || undefined };
    req.source = v('webMapUrl') ? { webMapUrl: v('webMapUrl') } : { itemId: v('itemId'), ...(portal.portalUrl ? { portalUrl: portal.portalUrl } : {}) };
    if (['xmin', 'ymin', 'xmax', 'ymax'].every((k) => v(k) !== '')) req.areaOfInterest = Object.fromEntries(['xmin', 'ymin', 'xmax', 'ymax'].map((k) => [k, Number(v(k))]));
    if (v('mapId')) req.mapId = v('mapId');
    if (v('title')) req.title = v('title');
    return req;
  }
  function showError(err) {
    const key = (err.field || '').replace(/^areaOfInterest\.?/, '').replace(/^source\./, '');
    const map = { itemId: 'item', webMapUrl: 'url', source: 'item', mapId: 'map', xmin: 'xmin', ymin: 'ymin', xmax: 'xmax', ymax: 'ymax', '': '' };
    const target = map[key] !== undefined ? map[key] : '';
    const slot = target && $(`#j-${target}-err`);
    if (slot) { slot.textContent = err.message; $(`#j-${target}`).setAttribute('aria-invalid', 'true'); }
    else $('#job-error').textContent = err.message;
  }
  function clearErrors() { for (const e of form.querySelectorAll('.field-error')) e.textContent = ''; for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid'); }
  $('#check-job').addEventListener('click', async () => {
    clearErrors();
    // The planning routes take the source, area and scales only.
    const { mapId, title, ...req } = await request();
    try {
      const caps = await api('POST', 'capabilities', req);
      const all = [...(caps.layers || []), ...(caps.tables || [])];
      const est = h('p', { id: 'estimate', 'aria-live': 'polite' }, 'Estimating the size…');
      checkOut.replaceChildren(h('h2', {}, 'What goes offline'),
        h('table', { id: 'capabilities' }, h('thead', {}, h('tr', {}, ['Layer', 'How', 'Note'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, all.map((l) => h('tr', { 'data-error': l.error ? 'true' : undefined },
            h('td', {}, l.title || l.id), h('td', {}, l.error ? h('span', { class: 'badge bad' }, 'left out') : l.method),
            h('td', {}, l.message || l.reason || ''))))),
        caps.hasErrors ? h('p', { class: 'field-error' }, 'Some layers can neither go offline nor stay online.') : null, est);
      api('POST', 'parameters', req).then((params) => api('POST', 'estimate', { source: req.source, parameters: params })).then((e) => {
        const b = e.bytes || (e.package && e.package.bytes) || {};
        est.textContent = `Estimated size: ${fmtBytes(b.bytes)} (${fmtBytes(b.low)}–${fmtBytes(b.high)})`;
      }).catch((err) => { est.textContent = `No estimate: ${err.message}`; });
    } catch (err) { showError(err); }
  });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault(); clearErrors();
    try { const job = await api('POST', 'jobs', await request()); watchJob(job.id); await refreshJobs(); }
    catch (err) { showError(err); }
  });

  const watched = new Map();
  function watchJob(id) {
    if (watched.has(id)) return;
    const es = new EventSource(`${API}/jobs/${encodeURIComponent(id)}/events`);
    watched.set(id, es);
    // The stream's events are typed (progress, state): listen to each.
    const onEvent = (ev) => {
      let d; try { d = JSON.parse(ev.data); } catch { return; }
      const row = $(`[data-job="${CSS.escape(id)}"]`);
      if (row) {
        const pct = (d.progress && d.progress.percent) ?? d.percent;
        if (pct != null) { $('.progress > div', row).style.width = `${pct}%`; $('.progress', row).setAttribute('aria-valuenow', Math.round(pct)); $('.pct', row).textContent = `${Math.round(pct)} %`; }
        if (d.state) { $('.jstate', row).textContent = d.state; row.dataset.state = d.state; }
      }
      if (['succeeded', 'failed', 'canceled'].includes(d.state)) { es.close(); watched.delete(id); refreshJobs(); }
    };
    for (const type of ['message', 'progress', 'state']) es.addEventListener(type, onEvent);
  }
  onLeave(() => { for (const es of watched.values()) es.close(); });
  async function act(id, what) { try { await api('POST', `jobs/${encodeURIComponent(id)}/${what}`); } catch (err) { toast(err.message); } await refreshJobs(); }
  async function refreshJobs() {
    const { jobs } = await api('GET', 'jobs').catch((err) => ({ jobs: [], error: err }));
    list.replaceChildren(jobs.length ? h('table', {}, h('thead', {}, h('tr', {}, ['Map', 'State', 'Progress', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, jobs.map((j) => {
        const pct = (j.progress && j.progress.percent) || (j.state === 'succeeded' ? 100 : 0);
        if (['running', 'pending', 'needsAuth'].includes(j.state)) watchJob(j.id);
        return h('tr', { 'data-job': j.id, 'data-map': j.mapId, 'data-state': j.state },
          h('td', {}, j.state === 'succeeded' && j.mapId ? h('a', { href: `#/map/${encodeURIComponent(j.mapId)}` }, (j.request && j.request.title) || j.mapId) : ((j.request && j.request.title) || j.mapId || j.id)),
          h('td', { class: 'jstate' }, j.state),
          h('td', {}, h('div', { class: 'progress', role: 'progressbar', 'aria-label': `Progress of ${j.mapId || j.id}`, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(pct) }, h('div', { style: `width:${pct}%` })), h('span', { class: 'pct muted' }, `${Math.round(pct)} %`)),
          h('td', {}, j.state === 'running' ? h('button', { type: 'button', class: 'secondary', onclick: () => act(j.id, 'pause') }, 'Pause') : null,
            ['paused', 'failed', 'needsAuth'].includes(j.state) ? h('button', { type: 'button', onclick: () => act(j.id, 'resume') }, 'Resume') : null,
            ['running', 'paused', 'pending', 'needsAuth'].includes(j.state) ? h('button', { type: 'button', class: 'secondary', onclick: () => act(j.id, 'cancel') }, 'Cancel') : null));
      }))) : h('p', { class: 'muted' }, 'No downloads yet.'));
  }
  await refreshJobs();

  // The area map: the first offline map's basemap, if any, to draw on.
  const { maps } = await api('GET', 'maps').catch(() => ({ maps: [] }));
  const style = maps.length ? await baseStyle(maps[0].id, maps[0].tileLayers || []) : { version: 8, sources: {}, layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#eef2f4' } }] };
  const jm = new maplibregl.Map({ container: 'jobmap', style, center: [0, 0], zoom: 1, attributionControl: false });
  onLeave(() => jm.remove());
  jm.on('load', () => {
    jm.addSource('draw', { type: 'geojson', data: { type: 'FeatureCollection', features: [] } });
    jm.addLayer({ id: 'draw', type: 'line', source: 'draw', paint: { 'line-color': '#c2410c', 'line-width': 2 } });
    if (maps.length) api('GET', `maps/${encodeURIComponent(maps[0].id)}/manifest`).then((man) => { const b = bboxOf(man.areaOfInterest); if (b) jm.fitBounds(b, { padding: 20, duration: 0 }); }).catch(() => {});
  });
  let drawing = false, start = null;
  $('#draw-area').addEventListener('click', () => { drawing = true; jm.dragPan.disable(); jm.getCanvas().style.cursor = 'crosshair'; toast('Drag on the map to draw the area'); });
  $('#draw-area').disabled = false;
  const rect = (a, b) => [[a.lng, a.lat], [b.lng, a.lat], [b.lng, b.lat], [a.lng, b.lat], [a.lng, a.lat]];
  jm.on('mousedown', (e) => { if (drawing) start = e.lngLat; });
  jm.on('mousemove', (e) => { if (drawing && start) jm.getSource('draw').setData({ type: 'Feature', geometry: { type: 'LineString', coordinates: rect(start, e.lngLat) }, properties: {} }); });
  jm.on('mouseup', (e) => {
    if (!drawing || !start) return;
    const a = start, b = e.lngLat; drawing = false; start = null; jm.dragPan.enable(); jm.getCanvas().style.cursor = '';
    form.elements.xmin.value = Math.min(a.lng, b.lng).toFixed(6); form.elements.xmax.value = Math.max(a.lng, b.lng).toFixed(6);
    form.elements.ymin.value = Math.min(a.lat, b.lat).toFixed(6); form.elements.ymax.value = Math.max(a.lat, b.lat).toFixed(6);
  });
});

// --- Start --------------------------------------------------------------------
async function start() {
  try {
    const s = await api('GET', 'session');
    state.session = !!s.session; state.csrf = s.csrf || '';
    $('#who').textContent = s.session ? `signed in until ${new Date(s.expires).toLocaleTimeString()}` : '';
  } catch (err) {
    if (err.status === 401) { signedOut($('#main')); return; }
    throw err;
  }
  const status = await api('GET', 'status').catch(() => ({}));
  if (status.portalSignIn) {
    $('#who').after(h('button', { id: 'signin-portal', type: 'button', class: 'secondary', onclick: async () => {
      try {
        const r = await api('POST', 'portal/signin', { returnTo: '/ui/' });
        location.href = r.authorizeUrl;
      } catch (err) { toast(`Sign-in is not available: ${err.message}`); }
    } }, 'Sign in to ArcGIS'));
  }
  const signin = new URLSearchParams(location.search).get('signin');
  if (signin === 'ok') toast('Signed in to ArcGIS: syncs and downloads go on with this account');
  else if (signin === 'failed') toast('The ArcGIS sign-in failed; try again');
  if (signin) history.replaceState(null, '', location.pathname + location.hash);
  window.addEventListener('hashchange', render);
  await render();
}
start();
