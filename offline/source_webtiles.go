package offline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// DefaultMaxWebTiles is the default safety cap of an open tile layer: a job
// refuses a layer whose cover has more tiles (WebTilesParameters.MaxTiles).
const DefaultMaxWebTiles = 100_000

// webMercatorDefaultMaxLevel is the deepest level taken from an XYZ
// template without tileInfo (OpenStreetMap-style servers stop at 19).
const webMercatorDefaultMaxLevel = 19

// WebTilesParameters are one WebTiledLayer's settings (Overrides.WebTiles).
// The template itself is read from the web map entry (the journal keeps it),
// so an API key in its query string is not copied into the overrides.
type WebTilesParameters struct {
	AreaOfInterest *arcgis.Geometry `json:"areaOfInterest"`
	LevelIDs       []int            `json:"levelIds"`
	// MaxTiles is the layer's safety cap: the job refuses a cover with more
	// tiles, naming the levels to drop (0: DefaultMaxWebTiles).
	MaxTiles int64 `json:"maxTiles,omitempty"`
}

// webTilesSource takes WebTiledLayer entries (an XYZ or ArcGIS-style tile
// URL template on any server) offline into MBTiles (MethodWebTiles; the
// package layer is of kind rasterTiles, so the local API serves it like any
// raster tile layer). Requests are anonymous: a portal credential never
// goes to a template's host; an API key in the template's query string is
// sent as written and never shown (errors and progress hide the query).
type webTilesSource struct{ oneLayerSteps }

func (webTilesSource) name() string { return "xyz" }

// webTiled is what a WebTiledLayer entry says about its tiles.
type webTiled struct {
	template   string
	subDomains []string
	tileInfo   *arcgis.TileInfo
	fullExtent *arcgis.Geometry
}

// parseWebTiled reads templateUrl, subDomains, tileInfo and fullExtent of a
// WebTiledLayer entry and checks the template.
func parseWebTiled(e *Entry) (*webTiled, *tiles.Template, error) {
	if e.Layer == nil {
		return nil, nil, errors.New("no layer")
	}
	w := &webTiled{}
	x := e.Layer.Extra
	if err := json.Unmarshal(x["templateUrl"], &w.template); err != nil || w.template == "" {
		return nil, nil, errors.New("no templateUrl")
	}
	if raw := x["subDomains"]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &w.subDomains); err != nil {
			return nil, nil, fmt.Errorf("subDomains: %v", err)
		}
	}
	if raw := x["tileInfo"]; len(raw) > 0 && string(raw) != "null" {
		var ti arcgis.TileInfo
		if err := json.Unmarshal(raw, &ti); err != nil {
			return nil, nil, fmt.Errorf("tileInfo: %v", err)
		}
		w.tileInfo = &ti
	}
	if raw := x["fullExtent"]; len(raw) > 0 && string(raw) != "null" {
		var g arcgis.Geometry
		if err := json.Unmarshal(raw, &g); err == nil && g.XMin != nil && g.YMin != nil && g.XMax != nil && g.YMax != nil {
			w.fullExtent = &g
		}
	}
	t, err := tiles.ParseTemplate(w.template, w.subDomains)
	if err != nil {
		var te *tiles.TemplateError
		if errors.As(err, &te) {
			return nil, nil, fmt.Errorf("tile URL template %q: %s", tiles.HideQuery(te.Template), te.Reason)
		}
		return nil, nil, errors.New(tiles.HideQuery(err.Error()))
	}
	return w, t, nil
}

// scheme is the layer's tileInfo, else Web Mercator 256 px XYZ, levels 0-19.
func (w *webTiled) scheme() (*tiles.Scheme, error) {
	if w.tileInfo != nil {
		return tiles.NewScheme(*w.tileInfo)
	}
	return tiles.WebMercatorScheme(256, 0, webMercatorDefaultMaxLevel), nil
}

// format is the MBTiles format: tileInfo's, else the template path's
// extension, else png.
func (w *webTiled) format() string {
	if w.tileInfo != nil && w.tileInfo.Format != "" {
		return tiles.FormatFor(w.tileInfo.Format)
	}
	return tiles.TemplateFormat(w.template)
}

// shownTemplate is a template as progress and errors show it (no query).
func shownTemplate(e *Entry) string {
	var s string
	if e != nil && e.Layer != nil {
		_ = json.Unmarshal(e.Layer.Extra["templateUrl"], &s)
	}
	return tiles.HideQuery(s)
}

func (webTilesSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	return analyzeType(ctx, a, LayerTypeWebTiled, MethodWebTiles, "web tiled layer", func(e *Entry, c *Capability) (Reason, error) {
		c.ServiceURL = shownTemplate(e)
		w, _, err := parseWebTiled(e)
		if err == nil {
			_, err = w.scheme()
		}
		return ReasonInvalidURL, err
	})
}

// webTileLevels are the scheme's levels within both the parameters' and the
// layer's scale ranges (the tighter bound on each side).
func webTileLevels(s *tiles.Scheme, p *Parameters, e *Entry) []int {
	minS, maxS := p.MinScale, p.MaxScale
	if e.Layer != nil {
		lmin, lmax := e.Layer.ScaleRange()
		if lmin > 0 && (minS == 0 || lmin < minS) {
			minS = lmin
		}
		if lmax > maxS {
			maxS = lmax
		}
	}
	return LevelIDs(s.Info.LODs, minS, maxS)
}

func (webTilesSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	addDefaults(a, MethodWebTiles, &ov.WebTiles, func(e *Entry) *WebTilesParameters {
		w, _, err := parseWebTiled(e)
		if err != nil {
			return nil
		}
		s, err := w.scheme()
		if err != nil {
			return nil
		}
		return &WebTilesParameters{AreaOfInterest: cloneGeometry(aoi.Geometry),
			LevelIDs: webTileLevels(s, a.params, e), MaxTiles: DefaultMaxWebTiles}
	})
}

func (webTilesSource) check(oc *overrideCheck, o *Overrides) {
	checkWebTiles(oc, o.WebTiles, LayerTypeWebTiled, "webTiles", webTilesScheme)
}

// checkWebTiles checks the tile parameters m (the overrides' field) of
// layers of layerType: levels (within the layer's scheme, when scheme is
// given and finds it), maxTiles and area.
func checkWebTiles(oc *overrideCheck, m map[Key]*WebTilesParameters, layerType, field string, scheme func(*Task, Key) (*tiles.Scheme, error)) {
	for _, k := range sortedKeys(m) {
		p := m[k]
		if !oc.hasType(k, layerType) {
			oc.unknown(k, field)
			continue
		}
		if p == nil || len(p.LevelIDs) == 0 {
			oc.invalid(k, "%s: no level ids", field)
			continue
		}
		if p.MaxTiles < 0 {
			oc.invalid(k, "%s: maxTiles %d is negative", field, p.MaxTiles)
		}
		if scheme != nil {
			if s, err := scheme(oc.t, k); err == nil {
				for _, l := range p.LevelIDs {
					if _, ok := s.LOD(l); !ok {
						oc.invalid(k, "%s: level %d is not in the layer's tiling scheme", field, l)
						break
					}
				}
			}
		}
		if p.AreaOfInterest != nil {
			if _, err := PrepareAOI(p.AreaOfInterest, oc.t.Map.SpatialReference); err != nil {
				oc.invalid(k, "%s: area: %v", field, err)
			}
		}
	}
}

// webTilesScheme returns the tiling scheme of the WebTiledLayer entry k.
func webTilesScheme(t *Task, k Key) (*tiles.Scheme, error) {
	e := t.Entry(k)
	if e == nil {
		return nil, fmt.Errorf("no entry %s", k)
	}
	w, _, err := parseWebTiled(e)
	if err != nil {
		return nil, err
	}
	return w.scheme()
}

// limits checks each layer's cover against its safety cap.
func (webTilesSource) limits(ctx context.Context, _ Services, t *Task, o *Overrides) []error {
	return layerLimits(ctx, o.WebTiles, func(k Key, p *WebTilesParameters) error {
		e := t.Entry(k)
		if e == nil {
			return nil
		}
		w, _, err := parseWebTiled(e)
		if err != nil {
			return nil
		}
		covers, _, err := webTilesCover(w, p)
		if err != nil {
			return nil // reported when the job runs
		}
		return webTilesCap(e, k, covers, p.MaxTiles)
	})
}

// webTilesCover is the layer's cover of the area at its levels, clipped to
// its fullExtent when that is in the scheme's spatial reference.
func webTilesCover(w *webTiled, p *WebTilesParameters) ([]tiles.LevelCover, tiles.AOI, error) {
	s, err := w.scheme()
	if err != nil {
		return nil, tiles.AOI{}, err
	}
	aoi, err := tiles.AOIFromGeometry(p.AreaOfInterest)
	if err != nil {
		return nil, aoi, err
	}
	for _, l := range p.LevelIDs {
		if _, ok := s.LOD(l); !ok {
			return nil, aoi, fmt.Errorf("level %d is not in the layer's tiling scheme", l)
		}
	}
	covers, err := tiles.Cover(s, aoi, p.LevelIDs, tiles.CoverOptions{})
	if err != nil {
		return nil, aoi, err
	}
	if fe := w.fullExtent; fe != nil && (fe.SpatialReference == nil || sameSR(fe.SpatialReference, s.Info.SpatialReference)) {
		covers = clipCovers(s, covers, *fe.XMin, *fe.YMin, *fe.XMax, *fe.YMax)
	}
	return covers, aoi, nil
}

// clipCovers keeps the tiles that meet the extent (in scheme units).
func clipCovers(s *tiles.Scheme, covers []tiles.LevelCover, xmin, ymin, xmax, ymax float64) []tiles.LevelCover {
	out := make([]tiles.LevelCover, 0, len(covers))
	ox, oy := s.Info.Origin.X, s.Info.Origin.Y
	for _, c := range covers {
		w, h, ok := s.TileSpan(c.Level)
		if !ok || w <= 0 || h <= 0 {
			out = append(out, c)
			continue
		}
		// A tile that only touches the extent's edge is out (eps absorbs
		// rounding in extents written with fewer digits than the origin).
		const eps = 1e-6
		c0, c1 := int(math.Floor((xmin-ox)/w+eps)), int(math.Ceil((xmax-ox)/w-eps))-1
		r0, r1 := int(math.Floor((oy-ymax)/h+eps)), int(math.Ceil((oy-ymin)/h-eps))-1
		nc := tiles.LevelCover{Level: c.Level}
		for _, sp := range c.Spans {
			if sp.Row < r0 || sp.Row > r1 {
				continue
			}
			sp.Col0, sp.Col1 = max(sp.Col0, c0), min(sp.Col1, c1)
			if sp.Col0 <= sp.Col1 {
				nc.Spans = append(nc.Spans, sp)
			}
		}
		out = append(out, nc)
	}
	return out
}

// webTilesCap returns a *ValidationError (ErrTileLimit) naming the levels to
// drop when the cover has more tiles than the cap (≤ 0: the default).
func webTilesCap(e *Entry, k Key, covers []tiles.LevelCover, capTiles int64) error {
	return tileCapError(e, k, covers, capTiles, "webTiles")
}

// tileCapError is webTilesCap for the overrides section field (webTiles,
// styleTiles) whose maxTiles the message names.
func tileCapError(e *Entry, k Key, covers []tiles.LevelCover, capTiles int64, field string) error {
	if capTiles <= 0 {
		capTiles = DefaultMaxWebTiles
	}
	var total int64
	for _, c := range covers {
		total += c.Count()
	}
	if total <= capTiles || len(covers) == 0 {
		return nil
	}
	title := string(k)
	if e != nil && e.Title != "" {
		title = e.Title
	}
	lo, hi := covers[0].Level, covers[len(covers)-1].Level
	msg := fmt.Sprintf("layer %q needs %d tiles for levels %d-%d, over its safety cap of %d (overrides %s maxTiles)", title, total, lo, hi, capTiles, field)
	// Keep the most zoomed-out levels that fit.
	var kept int64
	keep := -1
	for i, c := range covers {
		if kept+c.Count() > capTiles {
			break
		}
		kept += c.Count()
		keep = i
	}
	if keep >= 0 {
		msg += fmt.Sprintf("; drop levels %d-%d (keeping %d-%d, %d tiles), raise maxScale, or make the area smaller",
			covers[keep+1].Level, hi, lo, covers[keep].Level, kept)
	} else {
		msg += "; not even the most zoomed-out level fits: make the area smaller"
	}
	return &ValidationError{Code: ErrTileLimit, Key: k, Message: msg}
}

func (s webTilesSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	return layerSteps(s, KindRasterTiles, o.WebTiles, used, TilesDir, ".mbtiles", func(k Key, _ *WebTilesParameters) (string, string) {
		return webTilesStoreName(k), ""
	})
}

// webTilesStoreName is the store's base name for an entry key: xyz_ and
// the web map id (the key's last part).
func webTilesStoreName(k Key) string {
	id := string(k)
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		id = id[i+1:]
	}
	return "xyz_" + safeName(id, "tiles")
}

func (webTilesSource) run(ctx context.Context, j *Job, id string) error {
	rec, p, e, err := stepLayer(j, id, j.o.WebTiles, "webTiles", "web tiled layer", shownTemplate)
	if err != nil {
		return err
	}
	shown := shownTemplate(e)
	w, tmpl, err := parseWebTiled(e)
	if err != nil {
		return stepErr(rec.Key, shown, "template", err)
	}
	scheme, err := w.scheme()
	if err != nil {
		return stepErr(rec.Key, shown, "tileInfo", err)
	}
	covers, aoi, err := webTilesCover(w, p)
	if err != nil {
		return stepErr(rec.Key, shown, "cover", err)
	}
	if err := webTilesCap(e, rec.Key, covers, p.MaxTiles); err != nil {
		return stepErr(rec.Key, shown, "tiles", err)
	}
	// Anonymous: Tokens stay nil, so no credential reaches the template's
	// host; the client's transport keeps the outbound dial policy.
	f := &tiles.HTTPFetcher{Client: j.opt.Client.HTTPClient(), Template: tmpl, HideQuery: true, Raster: true}
	return j.downloadTiles(ctx, id, shown, scheme, w.format(), f, covers, aoi)
}

func (s webTilesSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	writeTileLayers(j, s, local, func(st stepInfo) (string, string) {
		return shownTemplate(j.task.Entry(st.Key)), ""
	})
	return nil
}
