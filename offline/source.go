package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"

	"github.com/offlined/offlined/internal/arcgis"
)

// Portal is what the offline task needs from an ArcGIS portal.
// *arcgis.Client satisfies it.
type Portal interface {
	// Item returns the item resource /sharing/rest/content/items/{id}.
	Item(ctx context.Context, id string) (*arcgis.Item, error)
	// ItemDataInto decodes the item's /data JSON into v.
	ItemDataInto(ctx context.Context, id string, v any) error
}

// Services is what the offline task needs from ArcGIS services.
// *arcgis.Client satisfies it. Errors should carry *arcgis.Error or
// *arcgis.HTTPError (see ClassifyError) so capabilities can tell access
// denied from unreachable.
type Services interface {
	// FeatureService returns GET {url}?f=json of a FeatureServer (or of a
	// MapServer read as a feature source).
	FeatureService(ctx context.Context, svcURL string) (*arcgis.FeatureService, error)
	// Layer returns GET {layerURL}?f=json (a layer or table).
	Layer(ctx context.Context, layerURL string) (*arcgis.Layer, error)
	// MapService returns a MapServer or ImageServer root.
	MapService(ctx context.Context, svcURL string) (*arcgis.MapService, error)
	// VectorTileService returns a VectorTileServer root.
	VectorTileService(ctx context.Context, svcURL string) (*arcgis.VectorTileService, error)
	// GetJSON decodes any other JSON document (a vector tile style, a web
	// map JSON URL) into v.
	GetJSON(ctx context.Context, u string, params url.Values, v any) error
}

// tileService is what capabilities and overrides read from a MapServer,
// ImageServer or VectorTileServer root.
type tileService struct {
	cached              bool
	exportAllowed       bool
	maxExportTilesCount int64
	tileInfo            *arcgis.TileInfo
	fullExtent          *arcgis.Envelope // for the area-outside-extent warning
}

// Source says where the web map comes from: a portal item (ItemID, with
// PortalURL for the record), a web map JSON URL, or a file. Exactly one of
// ItemID, WebMapURL and File is set.
type Source struct {
	PortalURL string `json:"portalUrl,omitempty"`
	ItemID    string `json:"itemId,omitempty"`
	WebMapURL string `json:"webMapUrl,omitempty"`
	File      string `json:"file,omitempty"`
	// WebMap is a web map given inline (its JSON, as a portal item's
	// /data answers it); no portal or web map URL is then needed.
	WebMap json.RawMessage `json:"webMap,omitempty"`
}

// hasWebMap reports whether the source carries an inline web map.
func (s Source) hasWebMap() bool {
	w := bytes.TrimSpace(s.WebMap)
	return len(w) > 0 && !bytes.Equal(w, []byte("null"))
}

// String describes the source for messages.
func (s Source) String() string {
	switch {
	case s.ItemID != "":
		return fmt.Sprintf("portal item %s (%s)", s.ItemID, s.PortalURL)
	case s.WebMapURL != "":
		return "web map " + s.WebMapURL
	case s.File != "":
		return "web map file " + s.File
	case s.hasWebMap():
		return "posted web map"
	}
	return "no source"
}

// Check reports a source that names nothing or several things.
func (s Source) Check() error {
	n := 0
	for _, v := range []string{s.ItemID, s.WebMapURL, s.File} {
		if v != "" {
			n++
		}
	}
	if s.hasWebMap() {
		n++
	}
	if n != 1 {
		return &ValidationError{Code: ErrSource, Message: "source: set exactly one of item id, web map URL, web map or file"}
	}
	if s.WebMapURL != "" {
		u, err := url.Parse(s.WebMapURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &ValidationError{Code: ErrSource, Message: fmt.Sprintf("source: web map URL %q is not an http(s) URL", s.WebMapURL)}
		}
	}
	return nil
}

// Task is an offline map task for one web map: it examines capabilities and
// builds default parameters and overrides. Create it with NewTask. A Task's
// methods may be called from several goroutines.
type Task struct {
	Source Source
	// Map is the web map as loaded (do not modify while the task is used).
	Map *WebMap
	// Item is the portal item, nil for URL and file sources.
	Item *arcgis.Item

	services Services
	entries  []*Entry

	mu       sync.Mutex
	features map[Key]*serviceInfo // by service key
	tilesvcs map[Key]*tileInfo
	wmtsCaps wmtsCapsCache // WMTS capabilities documents by URL
}

type serviceInfo struct {
	svc    *arcgis.FeatureService
	err    error
	layers map[int]*arcgis.Layer
	lerr   map[int]error
}

type tileInfo struct {
	svc *tileService
	err error
}

// NewTask loads the web map from src and prepares a task. portal may be nil
// for URL and file sources; services may be nil only when the task is used
// for parsing (capabilities then report every service unreachable).
func NewTask(ctx context.Context, src Source, portal Portal, services Services) (*Task, error) {
	if err := src.Check(); err != nil {
		return nil, err
	}
	t := &Task{Source: src, services: services, features: map[Key]*serviceInfo{}, tilesvcs: map[Key]*tileInfo{}}
	var raw json.RawMessage
	switch {
	case src.ItemID != "":
		if portal == nil {
			return nil, fmt.Errorf("load %s: no portal client", src)
		}
		item, err := portal.Item(ctx, src.ItemID)
		if err != nil {
			return nil, fmt.Errorf("load %s: item: %w", src, err)
		}
		if item.Type != "" && item.Type != "Web Map" {
			return nil, &ValidationError{Code: ErrSource, Message: fmt.Sprintf("load %s: item type is %q, want \"Web Map\"", src, item.Type)}
		}
		t.Item = item
		if err := portal.ItemDataInto(ctx, src.ItemID, &raw); err != nil {
			return nil, fmt.Errorf("load %s: data: %w", src, err)
		}
	case src.WebMapURL != "":
		if services == nil {
			return nil, fmt.Errorf("load %s: no service client", src)
		}
		if err := services.GetJSON(ctx, src.WebMapURL, nil, &raw); err != nil {
			return nil, fmt.Errorf("load %s: %w", src, err)
		}
	case src.hasWebMap():
		raw = append(json.RawMessage(nil), src.WebMap...)
	default:
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", src, err)
		}
		raw = b
	}
	wm, err := ParseWebMap(raw)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", src, err)
	}
	t.Map = wm
	t.entries = wm.Entries()
	t.resolveVectorTiles(ctx, portal)
	return t, nil
}

// Entries returns the web map's layers and tables, flattened (see
// WebMap.Entries), with vector tile layers resolved to their service.
func (t *Task) Entries() []*Entry { return t.entries }

// Entry returns the first entry with the key, or nil.
func (t *Task) Entry(k Key) *Entry {
	for _, e := range t.entries {
		if e.Key == k {
			return e
		}
	}
	return nil
}

// recordMap returns the web map as loaded and the VectorTileServer each
// vector tile layer was resolved to, by entry id, for a job's journal.
func (t *Task) recordMap() (json.RawMessage, map[string]ServiceRef, error) {
	raw, err := json.Marshal(t.Map)
	if err != nil {
		return nil, nil, fmt.Errorf("record web map: %w", err)
	}
	resolved := map[string]ServiceRef{}
	for _, e := range t.entries {
		if e.LayerType == LayerTypeVectorTile && e.HasService && e.Service.Type == VectorTileServer {
			resolved[e.ID] = e.Service
		}
	}
	return raw, resolved, nil
}

// withRecordedMap returns a task for the web map recorded by recordMap,
// sharing t's source, item and service client.
func (t *Task) withRecordedMap(raw json.RawMessage, resolved map[string]ServiceRef) (*Task, error) {
	wm, err := ParseWebMap(raw)
	if err != nil {
		return nil, fmt.Errorf("recorded web map: %w", err)
	}
	nt := &Task{Source: t.Source, Map: wm, Item: t.Item, services: t.services,
		features: map[Key]*serviceInfo{}, tilesvcs: map[Key]*tileInfo{}}
	nt.entries = wm.Entries()
	for _, e := range nt.entries {
		if ref, ok := resolved[e.ID]; ok && e.LayerType == LayerTypeVectorTile {
			e.Service, e.HasService, e.Key = ref, true, ServiceKey(ref.URL)
		}
	}
	return nt, nil
}

// resolveVectorTiles finds the VectorTileServer of vector tile layers whose
// URL is a style (as Esri's packager does): the item's url when the layer
// has an itemId and a portal is at hand, else the style's sources.esri.url
// resolved against the style URL. Unresolved layers keep their style key and
// are reported by capabilities.
func (t *Task) resolveVectorTiles(ctx context.Context, portal Portal) {
	for _, e := range t.entries {
		if e.LayerType != LayerTypeVectorTile || (e.HasService && e.Service.Type == VectorTileServer) {
			continue
		}
		l := e.Layer
		if l.URL != "" {
			continue // a URL that is not a VectorTileServer: reported as unsupported
		}
		if l.ItemID != "" && portal != nil {
			if it, err := portal.Item(ctx, l.ItemID); err == nil {
				if ref, ok := ParseServiceURL(it.URL); ok && ref.Type == VectorTileServer {
					e.Service, e.HasService, e.Key = ref, true, ServiceKey(ref.URL)
					continue
				}
			}
		}
		if l.StyleURL == "" || t.services == nil {
			continue
		}
		var style struct {
			Sources map[string]struct {
				URL string `json:"url"`
			} `json:"sources"`
		}
		if err := t.services.GetJSON(ctx, l.StyleURL, nil, &style); err != nil {
			continue
		}
		src, ok := style.Sources["esri"]
		if !ok {
			for _, s := range style.Sources {
				src = s
				break
			}
		}
		base, err := url.Parse(l.StyleURL)
		if err != nil || src.URL == "" {
			continue
		}
		ref, err := url.Parse(src.URL)
		if err != nil {
			continue
		}
		if r, ok := ParseServiceURL(base.ResolveReference(ref).String()); ok && r.Type == VectorTileServer {
			e.Service, e.HasService, e.Key = r, true, ServiceKey(r.URL)
		}
	}
}

// featureService fetches (once) a feature service root.
func (t *Task) featureService(ctx context.Context, serviceURL string) (*serviceInfo, error) {
	k := ServiceKey(serviceURL)
	t.mu.Lock()
	si := t.features[k]
	t.mu.Unlock()
	if si != nil {
		return si, si.err
	}
	si = &serviceInfo{layers: map[int]*arcgis.Layer{}, lerr: map[int]error{}}
	if t.services == nil {
		si.err = errNoServices
	} else {
		si.svc, si.err = t.services.FeatureService(ctx, serviceURL)
		if si.err == nil && si.svc == nil {
			si.err = fmt.Errorf("empty service description")
		}
	}
	if si.err != nil && ctx.Err() != nil {
		return si, si.err // canceled: do not remember
	}
	t.mu.Lock()
	if prev := t.features[k]; prev != nil {
		si = prev
	} else {
		t.features[k] = si
	}
	t.mu.Unlock()
	return si, si.err
}

// layer fetches (once) a service layer resource.
func (t *Task) layer(ctx context.Context, serviceURL string, id int) (*arcgis.Layer, error) {
	si, err := t.featureService(ctx, serviceURL)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	l, lerr := si.layers[id], si.lerr[id]
	t.mu.Unlock()
	if l != nil || lerr != nil {
		return l, lerr
	}
	l, lerr = t.services.Layer(ctx, serviceURL+"/"+strconv.Itoa(id))
	if lerr == nil && l == nil {
		lerr = fmt.Errorf("empty layer description")
	}
	if lerr != nil && ctx.Err() != nil {
		return l, lerr // canceled: do not remember
	}
	t.mu.Lock()
	si.layers[id], si.lerr[id] = l, lerr
	t.mu.Unlock()
	return l, lerr
}

// tileService fetches (once) a tile service root: a MapServer or
// ImageServer, or a VectorTileServer.
func (t *Task) tileService(ctx context.Context, ref ServiceRef) (*tileService, error) {
	k := ServiceKey(ref.URL)
	t.mu.Lock()
	ti := t.tilesvcs[k]
	t.mu.Unlock()
	if ti != nil {
		return ti.svc, ti.err
	}
	ti = &tileInfo{}
	switch {
	case t.services == nil:
		ti.err = errNoServices
	case ref.Type == VectorTileServer:
		vs, err := t.services.VectorTileService(ctx, ref.URL)
		if err == nil && vs == nil {
			err = fmt.Errorf("empty service description")
		}
		if ti.err = err; err == nil {
			ti.svc = &tileService{
				cached:        vs.TileInfo != nil && len(vs.TileInfo.LODs) > 0,
				exportAllowed: vs.ExportTilesAllowed, maxExportTilesCount: vs.MaxExportTilesCount, tileInfo: vs.TileInfo,
				fullExtent: vs.FullExtent,
			}
		}
	default:
		ms, err := t.services.MapService(ctx, ref.URL)
		if err == nil && ms == nil {
			err = fmt.Errorf("empty service description")
		}
		if ti.err = err; err == nil {
			ti.svc = &tileService{
				cached: ms.IsCached(), exportAllowed: ms.ExportTilesAllowed,
				maxExportTilesCount: ms.MaxExportTilesCount, tileInfo: ms.TileInfo, fullExtent: ms.FullExtent,
			}
		}
	}
	if ti.err != nil && ctx.Err() != nil {
		return ti.svc, ti.err // canceled: do not remember
	}
	t.mu.Lock()
	t.tilesvcs[k] = ti
	t.mu.Unlock()
	return ti.svc, ti.err
}

var errNoServices = errors.New("no service client configured")

// fetchConcurrency bounds the service requests prefetch runs at once.
const fetchConcurrency = 4

// prefetch fetches every service the web map references — feature service
// roots, then their layers, and tile service roots — at most
// fetchConcurrency requests at a time, filling the task's caches so the
// analysis that follows reads them. Failures are cached like successes and
// reported by the analysis. Every goroutine has ended when it returns.
func (t *Task) prefetch(ctx context.Context) {
	if t.services == nil {
		return
	}
	groups := GroupFeatureEntries(t.entries)
	var first []func()
	for _, g := range groups {
		first = append(first, func() { _, _ = t.featureService(ctx, g.URL) })
	}
	seen := map[Key]bool{}
	for _, e := range t.entries {
		if !e.HasService || e.IsFeature() || e.Service.HasLayer || seen[ServiceKey(e.Service.URL)] {
			continue
		}
		switch e.LayerType {
		case LayerTypeTiledMapService, LayerTypeTiledImage, LayerTypeVectorTile:
			seen[ServiceKey(e.Service.URL)] = true
			ref := e.Service
			first = append(first, func() { _, _ = t.tileService(ctx, ref) })
		}
	}
	runLimited(ctx, fetchConcurrency, first)
	var second []func()
	for _, g := range groups {
		if _, err := t.featureService(ctx, g.URL); err != nil {
			continue
		}
		for _, gl := range g.Layers {
			second = append(second, func() { _, _ = t.layer(ctx, g.URL, gl.ID) })
		}
	}
	runLimited(ctx, fetchConcurrency, second)
}

// runLimited runs jobs with at most n at a time and waits for all of them;
// jobs not yet started when ctx ends are skipped.
func runLimited(ctx context.Context, n int, jobs []func()) {
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, job := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			job()
		}()
	}
	wg.Wait()
}

// Equal reports whether s and o name the same web map (inline web maps
// compared by their JSON, whitespace aside).
func (s Source) Equal(o Source) bool {
	if s.PortalURL != o.PortalURL || s.ItemID != o.ItemID || s.WebMapURL != o.WebMapURL || s.File != o.File || s.hasWebMap() != o.hasWebMap() {
		return false
	}
	if !s.hasWebMap() {
		return true
	}
	var a, b bytes.Buffer
	if json.Compact(&a, s.WebMap) != nil || json.Compact(&b, o.WebMap) != nil {
		return bytes.Equal(s.WebMap, o.WebMap)
	}
	return bytes.Equal(a.Bytes(), b.Bytes())
}
