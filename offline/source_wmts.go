package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/ogc"
	"github.com/offlined/offlined/tiles"
)

// LayerTypeWMTS is the web map layerType of an OGC WMTS layer.
const LayerTypeWMTS = "WMTS"

// MethodWMTS: the tiles of a WMTS layer (from its capabilities document, or
// its templateUrl) into MBTiles (package layer kind rasterTiles).
const MethodWMTS Method = "wmts"

// wmtsSource takes WMTS layers offline into MBTiles. With wmtsInfo (url,
// layerIdentifier, tileMatrixSet) the capabilities document gives the
// tiling scheme (a GoogleMapsCompatible set is an XYZ grid; a WGS84 set is
// stored with its own tiling scheme) and the tile URLs (RESTful
// ResourceURL, else KVP GetTile); without it the layer's templateUrl and
// tileInfo are read like a WebTiledLayer's. Requests are anonymous, as for
// XYZ templates; the per-layer settings are Overrides.WMTS.
type wmtsSource struct{ oneLayerSteps }

func (wmtsSource) name() string { return "wmts" }

// wmtsInfo is a WMTS layer's wmtsInfo member.
type wmtsInfo struct {
	URL             string `json:"url"`
	LayerIdentifier string `json:"layerIdentifier"`
	TileMatrixSet   string `json:"tileMatrixSet"`
}

// wmtsLayer is a WMTS entry resolved to its scheme and tile URLs.
type wmtsLayer struct {
	scheme *tiles.Scheme
	tmpl   *tiles.Template
	format string // MBTiles format
	// matrix, when set, gives each level's matrix size (tiles outside are
	// never requested).
	matrix *ogc.TileMatrixSet
	// fullExtent bounds the tiles of a templateUrl layer (webTiled's).
	web *webTiled
}

// wmtsShown is the layer's URL as progress and errors show it.
func wmtsShown(e *Entry) string {
	if e == nil || e.Layer == nil {
		return ""
	}
	var wi wmtsInfo
	if json.Unmarshal(e.Layer.Extra["wmtsInfo"], &wi) == nil && wi.URL != "" {
		return tiles.HideQuery(wi.URL)
	}
	if e.Layer.URL != "" {
		return tiles.HideQuery(e.Layer.URL)
	}
	return shownTemplate(e)
}

// capabilitiesURL is the GetCapabilities URL of a wmtsInfo.url: the URL
// itself when it names a document (….xml or REQUEST=GetCapabilities), else
// the KVP request.
func capabilitiesURL(u string) string {
	l := strings.ToLower(u)
	if strings.Contains(l, "request=getcapabilities") || strings.HasSuffix(strings.SplitN(l, "?", 2)[0], ".xml") {
		return u
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
		if strings.HasSuffix(u, "?") || strings.HasSuffix(u, "&") {
			sep = ""
		}
	}
	return u + sep + "SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0"
}

// fetchCapabilities GETs and parses a WMTS capabilities document.
func fetchCapabilities(ctx context.Context, hc *http.Client, u string) (*ogc.Capabilities, error) {
	b, err := getBody(ctx, hc, u, "", ogc.MaxCapabilitiesBytes)
	if err != nil {
		return nil, err
	}
	return ogc.ParseCapabilities(b)
}

// wmtsCapsCache holds the WMTS capabilities documents of a task by URL,
// so that analysis, checks, estimate and the job's steps fetch each
// document once (they asked for it three times and more per layer). A
// parsed document is kept for the task's life and shared (it is read
// only); a failed fetch is shared with the callers that waited for it and
// forgotten, so the next call asks again. The zero value is ready to use.
type wmtsCapsCache struct {
	mu sync.Mutex
	m  map[string]*capsFetch
}

// capsFetch is one fetch of a capabilities document: done is closed when
// caps or err is set; canceled reports that err came with the end of the
// fetching caller's context.
type capsFetch struct {
	done     chan struct{}
	caps     *ogc.Capabilities
	err      error
	canceled bool
}

// get returns the capabilities document at u, fetching it with hc unless
// it was fetched before or is being fetched (then it waits for that fetch).
func (c *wmtsCapsCache) get(ctx context.Context, hc *http.Client, u string) (*ogc.Capabilities, error) {
	for {
		c.mu.Lock()
		f := c.m[u]
		if f == nil {
			if c.m == nil {
				c.m = map[string]*capsFetch{}
			}
			f = &capsFetch{done: make(chan struct{})}
			c.m[u] = f
			c.mu.Unlock()
			f.caps, f.err = fetchCapabilities(ctx, hc, u)
			f.canceled = f.err != nil && ctx.Err() != nil
			if f.err != nil {
				c.mu.Lock()
				delete(c.m, u)
				c.mu.Unlock()
			}
			close(f.done)
			return f.caps, f.err
		}
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// The fetch this call waited for ended with its caller's context
		// (not with a timeout of its own): fetch again with this one's.
		if f.canceled && ctx.Err() == nil {
			continue
		}
		return f.caps, f.err
	}
}

// resolveWMTS reads the entry's wmtsInfo (the capabilities document from
// caps, fetched with hc the first time) or its templateUrl.
func resolveWMTS(ctx context.Context, caps *wmtsCapsCache, hc *http.Client, e *Entry) (*wmtsLayer, error) {
	if e.Layer == nil {
		return nil, errors.New("no layer")
	}
	x := e.Layer.Extra
	var wi wmtsInfo
	if raw := x["wmtsInfo"]; len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &wi); err != nil {
			return nil, fmt.Errorf("wmtsInfo: %v", err)
		}
	}
	if wi.URL == "" || wi.LayerIdentifier == "" {
		if len(x["templateUrl"]) == 0 {
			return nil, errors.New("neither wmtsInfo (url and layerIdentifier) nor templateUrl")
		}
		w, tmpl, err := parseWebTiled(e)
		if err != nil {
			return nil, err
		}
		s, err := w.scheme()
		if err != nil {
			return nil, err
		}
		return &wmtsLayer{scheme: s, tmpl: tmpl, format: w.format(), web: w}, nil
	}
	if hc == nil {
		return nil, errors.New("no HTTP client to read the capabilities")
	}
	doc, err := caps.get(ctx, hc, capabilitiesURL(wi.URL))
	if err != nil {
		return nil, err
	}
	l := doc.Layer(wi.LayerIdentifier)
	if l == nil {
		return nil, fmt.Errorf("the capabilities list no layer %q", wi.LayerIdentifier)
	}
	set, ti, err := pickMatrixSet(doc, l, wi.TileMatrixSet)
	if err != nil {
		return nil, err
	}
	s, err := tiles.NewScheme(ti)
	if err != nil {
		return nil, err
	}
	var style, format string
	_ = json.Unmarshal(x["style"], &style)
	_ = json.Unmarshal(x["format"], &format)
	if format != "" && !strings.Contains(format, "/") {
		format = "image/" + strings.TrimPrefix(strings.ToLower(format), "image")
	}
	tu, err := doc.NewTileURL(l, set, style, format, false)
	if err != nil && format != "" {
		tu, err = doc.NewTileURL(l, set, style, "", false)
	}
	if err != nil {
		return nil, err
	}
	shown := tiles.HideQuery(wi.URL) + " (layer " + l.Identifier + ", " + set.Identifier + ")"
	tmpl := tiles.FuncTemplate(shown, func(k tiles.TileKey) string { return tu.URL(k.Level, k.Row, k.Col) })
	return &wmtsLayer{scheme: s, tmpl: tmpl, format: mimeFormat(tu.Format()), matrix: set}, nil
}

// pickMatrixSet returns the named set (it must be linked to the layer), or
// the first linked set offlined can use, Web Mercator ones first.
func pickMatrixSet(caps *ogc.Capabilities, l *ogc.Layer, want string) (*ogc.TileMatrixSet, arcgis.TileInfo, error) {
	if want != "" {
		linked := false
		for _, id := range l.MatrixSets {
			linked = linked || id == want
		}
		set := caps.MatrixSet(want)
		if !linked || set == nil {
			return nil, arcgis.TileInfo{}, fmt.Errorf("layer %q has no tile matrix set %q (it links %s)", l.Identifier, want, strings.Join(l.MatrixSets, ", "))
		}
		ti, err := set.TileInfo()
		return set, ti, err
	}
	var firstErr error
	for _, mercFirst := range []bool{true, false} {
		for _, id := range l.MatrixSets {
			set := caps.MatrixSet(id)
			if set == nil || (set.EPSG == 3857) != mercFirst {
				continue
			}
			ti, err := set.TileInfo()
			if err == nil {
				return set, ti, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("layer %q links no tile matrix set the document defines", l.Identifier)
	}
	return nil, arcgis.TileInfo{}, firstErr
}

// mimeFormat maps a WMTS format (MIME type) to the MBTiles format.
func mimeFormat(f string) string {
	f = strings.ToLower(f)
	switch {
	case strings.Contains(f, "jpeg"), strings.Contains(f, "jpg"):
		return "jpg"
	case strings.Contains(f, "webp"):
		return "webp"
	}
	return "png"
}

// httpClientOf returns the task's HTTP client (anonymous: the ArcGIS
// client's transport, without its credential), nil when the services
// offer none.
func httpClientOf(s Services) *http.Client {
	if h, ok := s.(interface{ HTTPClient() *http.Client }); ok {
		return h.HTTPClient()
	}
	return nil
}

func (wmtsSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	return analyzeType(ctx, a, LayerTypeWMTS, MethodWMTS, "WMTS layer", func(e *Entry, c *Capability) (Reason, error) {
		c.ServiceURL = wmtsShown(e)
		w, err := resolveWMTS(ctx, &t.wmtsCaps, httpClientOf(t.services), e)
		if err != nil {
			return wmtsReason(err), err
		}
		if a.wmts == nil {
			a.wmts = map[*Entry]*wmtsLayer{}
		}
		a.wmts[e] = w
		return "", nil
	})
}

// wmtsReason classifies a failure to resolve a WMTS layer.
func wmtsReason(err error) Reason {
	var se *tiles.StatusError
	switch {
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return ReasonServiceNotFound
	case errors.As(err, &se) && (se.Code == 401 || se.Code == 403):
		return ReasonAccessDenied
	case errors.As(err, &se):
		return ReasonServiceUnreachable
	case errors.Is(err, ogc.ErrCapabilities):
		return ReasonServiceError
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ReasonServiceUnreachable
	}
	return ReasonInvalidURL
}

func (wmtsSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	addDefaults(a, MethodWMTS, &ov.WMTS, func(e *Entry) *WebTilesParameters {
		w := a.wmts[e]
		if w == nil {
			return nil
		}
		return &WebTilesParameters{AreaOfInterest: cloneGeometry(aoi.Geometry),
			LevelIDs: webTileLevels(w.scheme, a.params, e), MaxTiles: DefaultMaxWebTiles}
	})
}

func (wmtsSource) check(oc *overrideCheck, o *Overrides) {
	checkWebTiles(oc, o.WMTS, LayerTypeWMTS, "wmts", nil)
}

// cover is the layer's cover of the area at its levels, within each
// level's tile matrix (or the template layer's fullExtent).
func (w *wmtsLayer) cover(p *WebTilesParameters) ([]tiles.LevelCover, tiles.AOI, error) {
	if w.web != nil {
		return webTilesCover(w.web, p)
	}
	aoi, err := tiles.AOIFromGeometry(p.AreaOfInterest)
	if err != nil {
		return nil, aoi, err
	}
	for _, l := range p.LevelIDs {
		if _, ok := w.scheme.LOD(l); !ok {
			return nil, aoi, fmt.Errorf("level %d is not in the layer's tile matrix set", l)
		}
	}
	covers, err := tiles.Cover(w.scheme, aoi, p.LevelIDs, tiles.CoverOptions{})
	if err != nil {
		return nil, aoi, err
	}
	for i, c := range covers {
		cols, rows, ok := w.matrix.Grid(c.Level)
		if !ok {
			continue
		}
		nc := tiles.LevelCover{Level: c.Level}
		for _, sp := range c.Spans {
			if sp.Row < 0 || sp.Row >= rows {
				continue
			}
			sp.Col0, sp.Col1 = max(sp.Col0, 0), min(sp.Col1, cols-1)
			if sp.Col0 <= sp.Col1 {
				nc.Spans = append(nc.Spans, sp)
			}
		}
		covers[i] = nc
	}
	return covers, aoi, nil
}

// wmtsCap is webTilesCap naming the wmts overrides.
func wmtsCap(e *Entry, k Key, covers []tiles.LevelCover, capTiles int64) error {
	err := webTilesCap(e, k, covers, capTiles)
	var ve *ValidationError
	if errors.As(err, &ve) {
		ve.Message = strings.Replace(ve.Message, "overrides webTiles maxTiles", "overrides wmts maxTiles", 1)
	}
	return err
}

// limits checks each layer's cover against its safety cap.
func (wmtsSource) limits(ctx context.Context, _ Services, t *Task, o *Overrides) []error {
	return layerLimits(ctx, o.WMTS, func(k Key, p *WebTilesParameters) error {
		e := t.Entry(k)
		if e == nil {
			return nil
		}
		w, err := resolveWMTS(ctx, &t.wmtsCaps, httpClientOf(t.services), e)
		if err != nil {
			return nil // reported when the job runs
		}
		covers, _, err := w.cover(p)
		if err != nil {
			return nil
		}
		return wmtsCap(e, k, covers, p.MaxTiles)
	})
}

func (s wmtsSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	return layerSteps(s, KindRasterTiles, o.WMTS, used, TilesDir, ".mbtiles", func(k Key, _ *WebTilesParameters) (string, string) {
		return "wmts_" + strings.TrimPrefix(webTilesStoreName(k), "xyz_"), ""
	})
}

func (wmtsSource) run(ctx context.Context, j *Job, id string) error {
	rec, p, e, err := stepLayer(j, id, j.o.WMTS, "wmts", "WMTS layer", wmtsShown)
	if err != nil {
		return err
	}
	shown := wmtsShown(e)
	hc := j.opt.Client.HTTPClient()
	w, err := resolveWMTS(ctx, &j.task.wmtsCaps, hc, e)
	if err != nil {
		return stepErr(rec.Key, shown, "capabilities", err)
	}
	covers, aoi, err := w.cover(p)
	if err != nil {
		return stepErr(rec.Key, shown, "cover", err)
	}
	if err := wmtsCap(e, rec.Key, covers, p.MaxTiles); err != nil {
		return stepErr(rec.Key, shown, "tiles", err)
	}
	// Anonymous, like XYZ templates: no token reaches the WMTS host.
	f := &tiles.HTTPFetcher{Client: hc, Template: w.tmpl, HideQuery: true, Raster: true}
	return j.downloadTiles(ctx, id, shown, w.scheme, w.format, f, covers, aoi)
}

func (s wmtsSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	writeTileLayers(j, s, local, func(st stepInfo) (string, string) {
		return wmtsShown(j.task.Entry(st.Key)), ""
	})
	return nil
}

// estimate sizes each WMTS layer like an XYZ layer: exact cover counts,
// bytes from a few tiles fetched per level.
func (wmtsSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	return estimateEntries(ctx, e, plans, o.WMTS, "WMTS layer", func(pl stepPlan, p *WebTilesParameters, en *Entry, le *LayerEstimate) error {
		w, err := resolveWMTS(ctx, &e.t.wmtsCaps, e.c.HTTPClient(), en)
		if err != nil {
			return err
		}
		covers, aoi, err := w.cover(p)
		if err != nil {
			return err
		}
		f := &timedFetcher{e: e, f: &tiles.HTTPFetcher{Client: e.c.HTTPClient(), Template: w.tmpl, HideQuery: true, Raster: true}}
		return estimateCovers(ctx, e, le, covers, aoi, tiles.EstimateOptions{}, f, 0)
	})
}
