package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// MethodStyle: a MapLibre/Mapbox style (v8) from any server, or a PMTiles
// archive: every vector and raster source into its own MBTiles, sprites and
// glyphs beside them, the style rewritten to name the package's files.
const MethodStyle Method = "style"

// KindStyle is the package kind of a style layer: Store is the rewritten
// style (Resources + "/styles/root.json"), its sources' MBTiles are
// tiles/<name>.<source>.mbtiles.
const KindStyle = string(MethodStyle)

// styleMaxZoom is the deepest zoom a style layer asks for by default (each
// source stops at its own TileJSON maxzoom).
const styleMaxZoom = 22

// StyleTilesParameters are one style layer's settings (Overrides.StyleTiles),
// the fields of a web tiled layer's: LevelIDs are the zooms wanted (each
// source takes those within its TileJSON minzoom/maxzoom and bounds);
// MaxTiles caps the tiles of all its sources together. The style URL is
// read from the web map entry (the journal keeps it), so an API key in its
// query string is not copied into the overrides.
type StyleTilesParameters = WebTilesParameters

// styleSource takes VectorTileLayer entries whose style is a MapLibre /
// Mapbox v8 style on a non-ArcGIS server (tileserver-gl, martin, Protomaps,
// MapTiler …), and layers whose URL is a PMTiles archive, offline
// (MethodStyle). Requests are anonymous; an API key in a URL's query is
// sent as written and never shown.
type styleSource struct{ oneLayerSteps }

func (styleSource) name() string { return "style" }

// styleURLOf returns the style URL of an entry this source takes, or a
// PMTiles archive URL (pmtiles true), or "".
func styleURLOf(e *Entry) (u string, pmtiles bool) {
	if e == nil || e.Layer == nil {
		return "", false
	}
	l := e.Layer
	var tmpl string
	if e.LayerType == LayerTypeWebTiled {
		_ = json.Unmarshal(l.Extra["templateUrl"], &tmpl)
	}
	for _, c := range []string{l.URL, l.StyleURL, tmpl} {
		if a, ok := tiles.IsPMTilesURL(c); ok && c != "" {
			return a, true
		}
	}
	if e.LayerType == LayerTypeVectorTile && !(e.HasService && e.Service.Type == VectorTileServer) && l.URL == "" {
		return l.StyleURL, false
	}
	return "", false
}

// pmtilesStyle is the style of a layer that is a bare PMTiles archive: one
// source, no layers (a map SDK styles it; the data is in the package).
func pmtilesStyle(archive string) tiles.Style {
	return tiles.Style{"version": float64(8), "sources": map[string]any{
		"pmtiles": map[string]any{"type": "vector", "url": "pmtiles://" + archive}}, "layers": []any{}}
}

func (styleSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	for _, e := range a.unclaimed() {
		u, pm := styleURLOf(e)
		if u == "" {
			continue
		}
		c := a.caps[e]
		if pm {
			c.ServiceURL = tiles.HideQuery(u)
			c.SupportsOffline, c.Method = true, MethodStyle
			continue
		}
		// A style that cannot be read, or has no tiled source, is left to
		// the vector tile source, which reports it unresolvedStyle.
		if t.services == nil {
			continue
		}
		var raw json.RawMessage
		if err := t.services.GetJSON(ctx, u, nil, &raw); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if st, err := tiles.ParseStyle(raw); err != nil || len(st.TiledSources()) == 0 {
			continue
		}
		c.ServiceURL = tiles.HideQuery(u)
		c.SupportsOffline, c.Method = true, MethodStyle
	}
	return nil
}

// styleLevels are the zooms 0-22 within the parameters' and the layer's
// scale ranges.
func styleLevels(p *Parameters, e *Entry) []int {
	return webTileLevels(tiles.WebMercatorScheme(256, 0, styleMaxZoom), p, e)
}

func (styleSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	addDefaults(a, MethodStyle, &ov.StyleTiles, func(e *Entry) *StyleTilesParameters {
		return &StyleTilesParameters{AreaOfInterest: cloneGeometry(aoi.Geometry),
			LevelIDs: styleLevels(a.params, e), MaxTiles: DefaultMaxWebTiles}
	})
}

func (styleSource) check(oc *overrideCheck, o *Overrides) {
	for _, k := range sortedKeys(o.StyleTiles) {
		p := o.StyleTiles[k]
		if u, _ := styleURLOf(oc.t.Entry(k)); u == "" {
			oc.unknown(k, "styleTiles")
			continue
		}
		if p == nil || len(p.LevelIDs) == 0 {
			oc.invalid(k, "styleTiles: no level ids")
			continue
		}
		if p.MaxTiles < 0 {
			oc.invalid(k, "styleTiles: maxTiles %d is negative", p.MaxTiles)
		}
		for _, l := range p.LevelIDs {
			if l < 0 || l > 30 {
				oc.invalid(k, "styleTiles: level %d is not a zoom 0-30", l)
				break
			}
		}
		if p.AreaOfInterest != nil {
			if _, err := PrepareAOI(p.AreaOfInterest, oc.t.Map.SpatialReference); err != nil {
				oc.invalid(k, "styleTiles: area: %v", err)
			}
		}
	}
}

// resolvedStyle is a style layer's sources resolved against their servers.
type resolvedStyle struct {
	sources []*tiles.StyleSource
	aoi     tiles.AOI
	covers  [][]tiles.LevelCover // per source
}

// resolveStyle fetches the layer's style and each source's TileJSON or
// PMTiles header, and covers the area with each.
func resolveStyle(ctx context.Context, hc *http.Client, e *Entry, p *StyleTilesParameters) (*resolvedStyle, error) {
	u, pm := styleURLOf(e)
	if u == "" {
		return nil, errors.New("no style URL")
	}
	st := pmtilesStyle(u)
	if !pm {
		var err error
		if st, _, err = tiles.FetchStyle(ctx, hc, u); err != nil {
			return nil, err
		}
	}
	aoi, err := tiles.AOIFromGeometry(p.AreaOfInterest)
	if err != nil {
		return nil, err
	}
	rs := &resolvedStyle{aoi: aoi}
	for _, name := range st.TiledSources() {
		ss, err := tiles.ResolveStyleSource(ctx, hc, u, st, name)
		if err != nil {
			return nil, err
		}
		cv, err := ss.Cover(aoi, p.LevelIDs)
		if err != nil {
			return nil, fmt.Errorf("style source %q: %w", name, err)
		}
		rs.sources = append(rs.sources, ss)
		rs.covers = append(rs.covers, cv)
	}
	return rs, nil
}

// levelTotals sums the sources' covers per level (for the cap).
func (rs *resolvedStyle) levelTotals() []tiles.LevelCover {
	by := map[int]*tiles.LevelCover{}
	var levels []int
	for _, cvs := range rs.covers {
		for _, c := range cvs {
			lc := by[c.Level]
			if lc == nil {
				lc = &tiles.LevelCover{Level: c.Level}
				by[c.Level] = lc
				levels = append(levels, c.Level)
			}
			lc.Spans = append(lc.Spans, c.Spans...)
		}
	}
	sort.Ints(levels)
	out := make([]tiles.LevelCover, 0, len(levels))
	for _, l := range levels {
		out = append(out, *by[l])
	}
	return out
}

// limits checks each style layer's covers (all sources) against its cap.
func (styleSource) limits(ctx context.Context, svc Services, t *Task, o *Overrides) []error {
	// The job's client when the services are it (its transport keeps the
	// configured outbound policy), else one with the default policy.
	hc := &http.Client{Transport: tiles.NewTransport(fetchConcurrency)}
	if c, ok := svc.(*arcgis.Client); ok && c != nil {
		hc = c.HTTPClient()
	}
	return layerLimits(ctx, o.StyleTiles, func(k Key, p *StyleTilesParameters) error {
		e := t.Entry(k)
		if e == nil {
			return nil
		}
		rs, err := resolveStyle(ctx, hc, e, p)
		if err != nil {
			return nil // reported when the job runs
		}
		return tileCapError(e, k, rs.levelTotals(), p.MaxTiles, "styleTiles")
	})
}

func (s styleSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	return layerSteps(s, KindStyle, o.StyleTiles, used, TilesDir, "", func(k Key, _ *StyleTilesParameters) (string, string) {
		return styleStoreName(k), ""
	})
}

// styleStoreName is a style layer's directory name: style_ and the last
// two path segments of its key (the style or archive URL), extension
// dropped ("style_basic_style", "style_files_area").
func styleStoreName(k Key) string {
	p := string(k)
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
	}
	segs := strings.Split(p, "/")
	if len(segs) > 1 {
		segs = segs[1:] // the host
	}
	if len(segs) > 2 {
		segs = segs[len(segs)-2:]
	}
	last := len(segs) - 1
	segs[last] = strings.TrimSuffix(segs[last], filepath.Ext(segs[last]))
	return "style_" + safeName(strings.Join(segs, "_"), "tiles")
}

// styleStoreOf is a source's MBTiles beside the style's directory.
func styleStoreOf(dir, source string) string {
	return dir + "." + safeName(source, "source") + ".mbtiles"
}

func (styleSource) run(ctx context.Context, j *Job, id string) error {
	rec := j.jr.step(id)
	p := j.o.StyleTiles[rec.Key]
	e := j.task.Entry(rec.Key)
	u, pm := styleURLOf(e)
	shown := tiles.HideQuery(u)
	if p == nil || u == "" {
		return stepErr(rec.Key, shown, "styleTiles", fmt.Errorf("no style layer %s in the web map", rec.Key))
	}
	hc := j.opt.Client.HTTPClient()
	rs, err := resolveStyle(ctx, hc, e, p)
	if err != nil {
		return stepErr(rec.Key, shown, "style", err)
	}
	if err := tileCapError(e, rec.Key, rs.levelTotals(), p.MaxTiles, "styleTiles"); err != nil {
		return stepErr(rec.Key, shown, "tiles", err)
	}
	j.planTiles(id, rs.levelTotals())
	done := map[string]int64{}
	job := tiles.StyleJob{StyleURL: u, AOI: rs.aoi, Levels: p.LevelIDs, HTTP: hc,
		Store:       func(src string) string { return styleStoreOf(rec.Store, src) },
		Path:        j.storePath,
		ResourceDir: j.storePath(rec.Store), ResourceRel: rec.Store,
		Download: tiles.DownloadOptions{Concurrency: j.opt.TileConcurrency, Logger: j.log},
		Progress: func(src string, pr tiles.Progress) {
			done[src] = pr.Skipped + pr.Fetched + pr.Absent
			var n int64
			for _, v := range done {
				n += v
			}
			j.updateProgress(id, func(lp *LayerProgress) { lp.Tiles = n })
			j.hook("tilesBatch")
		},
	}
	if pm {
		job.Style = pmtilesStyle(u)
	}
	res, err := tiles.DownloadStyle(ctx, job)
	if err != nil {
		return stepErr(rec.Key, shown, "tiles", err)
	}
	var n, size int64
	for _, sr := range res.Sources {
		n += sr.Tiles
		size += sr.Bytes
	}
	if len(res.MissingGlyphs) > 0 {
		j.log.Info("glyph ranges the server lacks", "key", rec.Key, "missing", len(res.MissingGlyphs))
	}
	return j.tilesDone(id, n, size)
}

// partial: the sources' MBTiles beside the style's directory.
func (styleSource) partial(path string) []string {
	m, _ := filepath.Glob(path + ".*.mbtiles*")
	return m
}

func (s styleSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	for _, st := range j.stepsOf(s) {
		u, _ := styleURLOf(j.task.Entry(st.Key))
		ml := &ManifestLayer{Key: st.Key, Kind: st.Kind, ServiceURL: tiles.HideQuery(u)}
		if st.Status == stepDone {
			ml.Store, ml.Resources, ml.Tiles, ml.Bytes = st.Store+"/styles/root.json", st.Store, st.Tiles, st.Bytes
			if _, err := os.Stat(j.storePath(ml.Store)); err != nil {
				return fmt.Errorf("style layer %s: %w", st.Key, err)
			}
		}
		local[st.Key] = ml
	}
	return nil
}
