package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/ogc"
	"github.com/offlined/offlined/tiles"
)

// LayerTypeOGCFeature is the web map layerType of an OGC API – Features
// collection (url: the landing page; collectionId).
const LayerTypeOGCFeature = "OGCFeatureLayer"

// MethodOGCFeatures: an OGC API – Features collection copied read-only into
// a GeoPackage (package layer kind snapshot).
const MethodOGCFeatures Method = "ogcFeatures"

// OpenFeaturesParameters are the settings of an OGC API – Features or
// GeoJSON layer (Overrides.OGCFeatures, Overrides.GeoJSON).
type OpenFeaturesParameters struct {
	// AreaOfInterest bounds the features taken (a bbox filter in CRS84).
	AreaOfInterest *arcgis.Geometry `json:"areaOfInterest"`
	// MaxFeatures is the layer's safety cap (0: DefaultMaxOpenFeatures).
	MaxFeatures int64 `json:"maxFeatures,omitempty"`
}

// DefaultMaxOpenFeatures is the default cap of features per open layer (a
// snapshot is built in memory before it is written).
const DefaultMaxOpenFeatures = 500_000

// maxPageBytes bounds one items page or GeoJSON document.
const maxPageBytes = 512 << 20

// ogcFeaturesSource takes OGCFeatureLayer entries offline as read-only
// snapshots: the items of the collection within the area (bbox, CRS84),
// paged through the "next" links, typed by the collection's queryables
// when the server offers them, else by the data; stored in WGS84 in a
// GeoPackage that the local API serves like a FeatureServer snapshot
// (edits answer 403 readOnlyLayer).
type ogcFeaturesSource struct{ oneLayerSteps }

func (ogcFeaturesSource) name() string { return "ogcf" }

// keyedByID reports whether entries of a layer type are keyed by their web
// map id, not their url: several WMTS layers or OGC API collections share
// one service url (the layer or collection is another member).
func keyedByID(layerType string) bool {
	switch layerType {
	case LayerTypeWMTS, LayerTypeOGCFeature, LayerTypeGeoJSON:
		return true
	}
	return false
}

// ogcCollectionURL is the entry's collection URL: url/collections/collectionId.
func ogcCollectionURL(e *Entry) (string, error) {
	if e.Layer == nil || e.Layer.URL == "" {
		return "", errors.New("no url")
	}
	var id string
	_ = json.Unmarshal(e.Layer.Extra["collectionId"], &id)
	if id == "" {
		return "", errors.New("no collectionId")
	}
	u, err := url.Parse(e.Layer.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("url %q is not an absolute http(s) URL", tiles.HideQuery(e.Layer.URL))
	}
	u.Path = strings.TrimRight(u.Path, "/") + "/collections/" + url.PathEscape(id)
	return u.String(), nil
}

// getDoc GETs u asking for accept and returns the body (bounded).
func getDoc(ctx context.Context, hc *http.Client, u, accept string) ([]byte, error) {
	b, err := getBody(ctx, hc, u, accept, maxPageBytes)
	if err != nil {
		return nil, err
	}
	if len(b) > maxPageBytes {
		return nil, fmt.Errorf("GET %s: over %d bytes", tiles.HideQuery(u), maxPageBytes)
	}
	return b, nil
}

// getBody GETs u (asking for accept unless it is "") and returns up to
// limit+1 bytes of the body: the caller judges a body over limit.
func getBody(ctx context.Context, hc *http.Client, u, accept string, limit int64) ([]byte, error) {
	if hc == nil {
		return nil, errors.New("no HTTP client")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = tiles.HideQuery(ue.URL)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &tiles.StatusError{URL: tiles.HideQuery(u), Code: resp.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", tiles.HideQuery(u), err)
	}
	return b, nil
}

func (ogcFeaturesSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	return analyzeType(ctx, a, LayerTypeOGCFeature, MethodOGCFeatures, "OGC feature layer", func(e *Entry, c *Capability) (Reason, error) {
		u, err := ogcCollectionURL(e)
		if err != nil {
			return ReasonInvalidURL, err
		}
		c.ServiceURL = tiles.HideQuery(u)
		b, err := getDoc(ctx, httpClientOf(t.services), withF(u), "application/json")
		if err == nil {
			_, err = ogc.ParseCollection(b)
		}
		if err != nil {
			r := wmtsReason(err)
			if errors.Is(err, ogc.ErrFeatures) {
				r = ReasonServiceError
			}
			return r, fmt.Errorf("collection %s: %w", c.ServiceURL, err)
		}
		return "", nil
	})
}

// withF adds f=json to an OGC API URL (pygeoapi and others pick HTML for
// browsers otherwise).
func withF(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := p.Query()
	if q.Get("f") == "" {
		q.Set("f", "json")
	}
	p.RawQuery = q.Encode()
	return p.String()
}

func (ogcFeaturesSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	openFeatureDefaults(a, aoi, MethodOGCFeatures, &ov.OGCFeatures)
}

// openFeatureDefaults adds the default settings of the entries going
// offline by method m.
func openFeatureDefaults(a *analysis, aoi *AOI, m Method, into *map[Key]*OpenFeaturesParameters) {
	addDefaults(a, m, into, func(*Entry) *OpenFeaturesParameters {
		return &OpenFeaturesParameters{AreaOfInterest: cloneGeometry(aoi.Geometry), MaxFeatures: DefaultMaxOpenFeatures}
	})
}

func (ogcFeaturesSource) check(oc *overrideCheck, o *Overrides) {
	checkOpenFeatures(oc, o.OGCFeatures, LayerTypeOGCFeature, "ogcFeatures")
}

func checkOpenFeatures(oc *overrideCheck, m map[Key]*OpenFeaturesParameters, layerType, what string) {
	for _, k := range sortedKeys(m) {
		p := m[k]
		switch {
		case !oc.hasType(k, layerType):
			oc.unknown(k, what)
		case p == nil:
			oc.invalid(k, "%s: nil parameters", what)
		case p.MaxFeatures < 0:
			oc.invalid(k, "%s: maxFeatures %d is negative", what, p.MaxFeatures)
		case p.AreaOfInterest != nil:
			if _, err := PrepareAOI(p.AreaOfInterest, oc.t.Map.SpatialReference); err != nil {
				oc.invalid(k, "%s: area: %v", what, err)
			}
		}
	}
}

func (ogcFeaturesSource) limits(context.Context, Services, *Task, *Overrides) []error { return nil }

func (s ogcFeaturesSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	return openFeatureSteps(s, o.OGCFeatures, "ogc_", used)
}

func openFeatureSteps(s source, m map[Key]*OpenFeaturesParameters, prefix string, used map[string]bool) []stepPlan {
	return layerSteps(s, KindSnapshot, m, used, DataDir, ".gpkg", func(k Key, _ *OpenFeaturesParameters) (string, string) {
		return prefix + strings.TrimPrefix(webTilesStoreName(k), "xyz_"), ""
	})
}

// aoiBBox is the area's CRS84 bounding box (nil: no area).
func aoiBBox(g *arcgis.Geometry) ([]float64, error) {
	if g == nil {
		return nil, nil
	}
	aoi, err := tiles.AOIFromGeometry(g)
	if err != nil {
		return nil, err
	}
	b, err := aoi.WGS84Bounds()
	if err != nil {
		return nil, err
	}
	return []float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}, nil
}

func (ogcFeaturesSource) run(ctx context.Context, j *Job, id string) error {
	rec, p, e, err := stepLayer(j, id, j.o.OGCFeatures, "ogcFeatures", "OGC feature layer", nil)
	if err != nil {
		return err
	}
	colURL, err := ogcCollectionURL(e)
	if err != nil {
		return stepErr(rec.Key, "", "collection", err)
	}
	shown := tiles.HideQuery(colURL)
	hc := j.opt.Client.HTTPClient()
	j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "query" })
	b, err := getDoc(ctx, hc, withF(colURL), "application/json")
	if err != nil {
		return stepErr(rec.Key, shown, "collection", err)
	}
	col, err := ogc.ParseCollection(b)
	if err != nil {
		return stepErr(rec.Key, shown, "collection", err)
	}
	bbox, err := aoiBBox(p.AreaOfInterest)
	if err != nil {
		return stepErr(rec.Key, shown, "area", err)
	}
	feats, err := ogcItems(ctx, hc, col, colURL, bbox, p.MaxFeatures, func(n int) {
		j.updateProgress(id, func(lp *LayerProgress) { lp.Features = int64(n) })
	})
	if err != nil {
		return stepErr(rec.Key, shown, "items", err)
	}
	// The queryables type the attributes when the server offers them.
	var qs map[string]ogc.Property
	qu := ogc.LinkHref(col.Links, "http://www.opengis.net/def/rel/ogc/1.0/queryables", "", colURL)
	if qu == "" {
		qu = colURL + "/queryables"
	}
	if qb, err := getDoc(ctx, hc, withF(qu), "application/schema+json"); err == nil {
		qs, _ = ogc.ParseQueryables(qb)
	}
	title := col.Title
	if title == "" {
		title = col.ID
	}
	return j.writeOpenSnapshot(ctx, id, colURL, title, feats, qs)
}

// ogcItems pages through the collection's items within bbox, following
// the "next" links.
func ogcItems(ctx context.Context, hc *http.Client, col *ogc.Collection, colURL string, bbox []float64, maxFeatures int64, progress func(int)) ([]ogc.Feature, error) {
	if maxFeatures <= 0 {
		maxFeatures = DefaultMaxOpenFeatures
	}
	itemsURL := ogc.LinkHref(col.Links, "items", "application/geo+json", colURL)
	if itemsURL == "" {
		itemsURL = ogc.LinkHref(col.Links, "items", "", colURL)
	}
	if itemsURL == "" {
		itemsURL = colURL + "/items"
	}
	u, err := url.Parse(itemsURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("f", "json")
	q.Set("limit", "1000")
	if bbox != nil {
		parts := make([]string, 4)
		for i, v := range bbox {
			parts[i] = strconv.FormatFloat(v, 'f', -1, 64)
		}
		q.Set("bbox", strings.Join(parts, ","))
	}
	u.RawQuery = q.Encode()
	next := u.String()
	var out []ogc.Feature
	seen := map[string]bool{}
	for next != "" {
		if seen[next] {
			return nil, fmt.Errorf("the next link %s repeats a page", tiles.HideQuery(next))
		}
		seen[next] = true
		b, err := getDoc(ctx, hc, next, "application/geo+json, application/json")
		if err != nil {
			return nil, err
		}
		pg, err := ogc.ParsePage(b)
		if err != nil {
			return nil, err
		}
		out = append(out, pg.Features...)
		if int64(len(out)) > maxFeatures {
			return nil, fmt.Errorf("over %d features (overrides maxFeatures): make the area smaller", maxFeatures)
		}
		progress(len(out))
		page := next
		next = ""
		if len(pg.Features) > 0 {
			// A GeoJSON next link first (servers also link the HTML page).
			for _, typ := range []string{"application/geo+json", "application/json", ""} {
				if next = ogc.LinkHref(pg.Links, "next", typ, page); next != "" {
					break
				}
			}
		}
	}
	return out, nil
}

// writeOpenSnapshot types the features, writes them into the step's
// GeoPackage as layer 0 (WGS84) and finishes the step.
func (j *Job) writeOpenSnapshot(ctx context.Context, id, srcURL, title string, feats []ogc.Feature, qs map[string]ogc.Property) error {
	rec := j.jr.step(id)
	sc := ogc.InferSchema(title, feats, qs)
	layer := sc.Layer
	var buf bytes.Buffer
	buf.WriteString(`{"features":[`)
	mismatched := 0
	for i := range feats {
		f, ok := sc.Esri(&feats[i], int64(i+1))
		if !ok {
			mismatched++
		}
		b, err := json.Marshal(&f)
		if err != nil {
			return err
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(b)
	}
	buf.WriteString(`]}`)
	if mismatched > 0 {
		j.log.Warn("features whose geometry is not the layer's kept without geometry", "layer", rec.Key, "features", mismatched, "geometryType", layer.GeometryType)
	}
	svc, err := json.Marshal(map[string]any{"currentVersion": 11.1, "serviceDescription": title, "capabilities": "Query",
		"spatialReference": layer.SpatialReference, "layers": []any{map[string]any{"id": 0, "name": title}}})
	if err != nil {
		return err
	}
	stats, err := j.buildStore(ctx, rec.Store, svc, map[int]*arcgis.Layer{0: &layer}, func(db *geodb.DB) (geodb.LoadStats, error) {
		st, err := db.LoadFeatures(ctx, 0, &buf, geodb.LoadOptions{})
		if err != nil {
			return st, err
		}
		st.PerLayer = map[int]int64{0: st.Features}
		return st, db.SetMeta(ctx, MetaServiceURL, srcURL)
	})
	if err != nil {
		return stepErr(rec.Key, tiles.HideQuery(srcURL), "snapshot", err)
	}
	return j.finishService(id, stats)
}

func (s ogcFeaturesSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	return writeOpenSnapshots(ctx, j, s, local, func(e *Entry) string {
		u, _ := ogcCollectionURL(e)
		return u
	})
}

// writeOpenSnapshots lists the source's snapshot layers and marks each
// finished store read-only.
func writeOpenSnapshots(ctx context.Context, j *Job, s source, local map[Key]*ManifestLayer, srcURL func(*Entry) string) error {
	for _, st := range j.stepsOf(s) {
		u := tiles.HideQuery(srcURL(j.task.Entry(st.Key)))
		ml := &ManifestLayer{Key: st.Key, Kind: KindSnapshot, ServiceURL: u, LayerID: arcgis.Int(0)}
		if st.Status == stepDone {
			ml.Store, ml.Features = st.Store, st.Features
			g := &GenerateGeodatabaseParameters{ServiceURL: u, Snapshot: true, SyncModel: SyncModelNone}
			if err := writeSyncConfig(ctx, j.storePath(st.Store), g); err != nil {
				return fmt.Errorf("sync configuration of %s: %w", st.Store, err)
			}
		}
		local[st.Key] = ml
	}
	return nil
}

// estimate counts the features of each collection within the area
// (numberMatched) and sizes them from a sample page: GeoJSON bytes per
// feature, stored as about half that in the GeoPackage (WKB and SQLite
// rows are more compact than JSON text), ±50%.
func (ogcFeaturesSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	return estimateEntries(ctx, e, plans, o.OGCFeatures, "OGC feature layer", func(pl stepPlan, p *OpenFeaturesParameters, en *Entry, le *LayerEstimate) error {
		colURL, err := ogcCollectionURL(en)
		if err != nil {
			return err
		}
		bbox, err := aoiBBox(p.AreaOfInterest)
		if err != nil {
			return err
		}
		u, _ := url.Parse(colURL + "/items")
		q := url.Values{"f": {"json"}, "limit": {"20"}}
		if bbox != nil {
			q.Set("bbox", fmt.Sprintf("%g,%g,%g,%g", bbox[0], bbox[1], bbox[2], bbox[3]))
		}
		u.RawQuery = q.Encode()
		b, err := getDoc(ctx, e.c.HTTPClient(), u.String(), "application/geo+json, application/json")
		if err != nil {
			return err
		}
		pg, err := ogc.ParsePage(b)
		if err != nil {
			return err
		}
		if pg.NumberMatched < 0 {
			return errors.New("the server does not give numberMatched")
		}
		le.Features = pg.NumberMatched
		var per float64
		for _, f := range pg.Features {
			fb, _ := json.Marshal(f)
			per += float64(len(fb))
		}
		if n := len(pg.Features); n > 0 {
			per /= float64(n)
		}
		le.Data = band(int64(per*float64(le.Features)/2)+64<<10, 0.5, EstimateSampled)
		le.total()
		return nil
	})
}
