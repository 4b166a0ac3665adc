package offline

import (
	"context"
	"fmt"
	"net/url"

	"github.com/offlined/offlined/internal/ogc"
	"github.com/offlined/offlined/tiles"
)

// LayerTypeGeoJSON is the web map layerType of a GeoJSON file by URL.
const LayerTypeGeoJSON = "GeoJSON"

// MethodGeoJSON: a GeoJSON file by URL copied read-only into a GeoPackage
// (package layer kind snapshot).
const MethodGeoJSON Method = "geoJSON"

// geoJSONSource takes GeoJSON layers by URL offline as read-only snapshots:
// the file is read whole, its features within the area (by bounding box,
// as an OGC API bbox filter selects them) typed by the data and stored in
// WGS84 like an OGC API – Features collection (source_ogcfeatures.go).
type geoJSONSource struct{ oneLayerSteps }

func (geoJSONSource) name() string { return "geojson" }

// geoJSONURL is the entry's url, checked.
func geoJSONURL(e *Entry) (string, error) {
	if e.Layer == nil || e.Layer.URL == "" {
		return "", fmt.Errorf("no url")
	}
	u, err := url.Parse(e.Layer.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("url %q is not an absolute http(s) URL", tiles.HideQuery(e.Layer.URL))
	}
	return e.Layer.URL, nil
}

func (geoJSONSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	return analyzeType(ctx, a, LayerTypeGeoJSON, MethodGeoJSON, "GeoJSON layer", func(e *Entry, c *Capability) (Reason, error) {
		u, err := geoJSONURL(e)
		if err != nil {
			return ReasonInvalidURL, err
		}
		c.ServiceURL = tiles.HideQuery(u)
		return "", nil
	})
}

func (geoJSONSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	openFeatureDefaults(a, aoi, MethodGeoJSON, &ov.GeoJSON)
}

func (geoJSONSource) check(oc *overrideCheck, o *Overrides) {
	checkOpenFeatures(oc, o.GeoJSON, LayerTypeGeoJSON, "geoJSON")
}

func (geoJSONSource) limits(context.Context, Services, *Task, *Overrides) []error { return nil }

func (s geoJSONSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	return openFeatureSteps(s, o.GeoJSON, "geojson_", used)
}

// geoJSONFeatures reads the file and keeps the features within bbox (nil:
// all); features without geometry are kept.
func geoJSONFeatures(ctx context.Context, j *Job, u string, bbox []float64, maxFeatures int64) ([]ogc.Feature, error) {
	b, err := getDoc(ctx, j.opt.Client.HTTPClient(), u, "application/geo+json, application/json")
	if err != nil {
		return nil, err
	}
	pg, err := ogc.ParsePage(b)
	if err != nil {
		return nil, err
	}
	if maxFeatures <= 0 {
		maxFeatures = DefaultMaxOpenFeatures
	}
	var out []ogc.Feature
	for i := range pg.Features {
		f := &pg.Features[i]
		if fb, ok := f.BBox(); bbox != nil && ok && (fb[0] > bbox[2] || fb[2] < bbox[0] || fb[1] > bbox[3] || fb[3] < bbox[1]) {
			continue
		}
		out = append(out, *f)
	}
	if int64(len(out)) > maxFeatures {
		return nil, fmt.Errorf("%d features, over the cap of %d (overrides maxFeatures): make the area smaller", len(out), maxFeatures)
	}
	return out, nil
}

func (geoJSONSource) run(ctx context.Context, j *Job, id string) error {
	rec, p, e, err := stepLayer(j, id, j.o.GeoJSON, "geoJSON", "GeoJSON layer", nil)
	if err != nil {
		return err
	}
	u, err := geoJSONURL(e)
	if err != nil {
		return stepErr(rec.Key, "", "url", err)
	}
	shown := tiles.HideQuery(u)
	bbox, err := aoiBBox(p.AreaOfInterest)
	if err != nil {
		return stepErr(rec.Key, shown, "area", err)
	}
	j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "query" })
	feats, err := geoJSONFeatures(ctx, j, u, bbox, p.MaxFeatures)
	if err != nil {
		return stepErr(rec.Key, shown, "download", err)
	}
	title := e.Title
	if title == "" {
		title = e.ID
	}
	return j.writeOpenSnapshot(ctx, id, u, title, feats, nil)
}

func (s geoJSONSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	return writeOpenSnapshots(ctx, j, s, local, func(e *Entry) string {
		u, _ := geoJSONURL(e)
		return u
	})
}
