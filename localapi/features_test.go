package localapi

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"testing"
)

func fc(t *testing.T, e *env, path string) (feats []map[string]any, doc map[string]any) {
	t.Helper()
	doc = e.jsonOf(e.do("GET", path, nil), 200)
	if doc["type"] != "FeatureCollection" {
		t.Fatalf("%s: not a FeatureCollection: %v", path, doc["type"])
	}
	for _, f := range doc["features"].([]any) {
		feats = append(feats, f.(map[string]any))
	}
	return feats, doc
}

func TestFeatureQueries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	base := "/api/v1/maps/demo/layers/Field_Survey.0/features"
	all, doc := fc(t, e, base+"?limit=1000")
	if len(all) != 200 || doc["next"] != nil {
		t.Fatalf("all: %d features, next %v", len(all), doc["next"])
	}
	// Coordinates come out as WGS84 inside the demo area.
	for _, f := range all {
		c := f["geometry"].(map[string]any)["coordinates"].([]any)
		lon, lat := c[0].(float64), c[1].(float64)
		if lon < -117.26 || lon > -117.09 || lat < 33.97 || lat > 34.11 {
			t.Fatalf("feature outside the demo area: %v", c)
		}
	}
	cnt := e.jsonOf(e.do("GET", base+"?count=true", nil), 200)
	if cnt["count"].(float64) != 200 {
		t.Fatalf("count %v", cnt)
	}
	// Paging: three pages of 80 cover everything once, in order.
	seen := map[float64]bool{}
	offset := 0.0
	for page := 0; ; page++ {
		fs, d := fc(t, e, fmt.Sprintf("%s?limit=80&offset=%d&orderBy=OBJECTID", base, int(offset)))
		for _, f := range fs {
			if seen[f["id"].(float64)] {
				t.Fatalf("id %v twice", f["id"])
			}
			seen[f["id"].(float64)] = true
		}
		next, ok := d["next"].(map[string]any)
		if !ok {
			break
		}
		offset = next["offset"].(float64)
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 200 {
		t.Fatalf("paging saw %d features", len(seen))
	}
	// bbox: count features inside a quarter of the area and compare with a
	// filter done here.
	bbox := [4]float64{-117.25, 33.98, -117.175, 34.04}
	inside := 0
	for _, f := range all {
		c := f["geometry"].(map[string]any)["coordinates"].([]any)
		lon, lat := c[0].(float64), c[1].(float64)
		if lon >= bbox[0] && lon <= bbox[2] && lat >= bbox[1] && lat <= bbox[3] {
			inside++
		}
	}
	bb := fmt.Sprintf("%g,%g,%g,%g", bbox[0], bbox[1], bbox[2], bbox[3])
	fsb, _ := fc(t, e, base+"?limit=1000&bbox="+bb)
	if inside == 0 || int(math.Abs(float64(len(fsb)-inside))) > 1 {
		t.Fatalf("bbox: %d features, %d by local filter", len(fsb), inside)
	}
	// The same area as a GeoJSON polygon.
	poly := fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}`, bbox[0], bbox[1], bbox[2], bbox[1], bbox[2], bbox[3], bbox[0], bbox[3], bbox[0], bbox[1])
	fsg, _ := fc(t, e, base+"?limit=1000&geometry="+url.QueryEscape(poly))
	if len(fsg) != len(fsb) {
		t.Fatalf("geometry polygon: %d, bbox %d", len(fsg), len(fsb))
	}
	// where + outFields + orderBy.
	fsw, _ := fc(t, e, base+"?where="+url.QueryEscape("Status = 'open' AND Priority >= 3")+"&outFields=Status,Priority&orderBy=Priority%20DESC")
	if len(fsw) == 0 {
		t.Fatal("where matched nothing")
	}
	prev := 99.0
	for _, f := range fsw {
		p := f["properties"].(map[string]any)
		if p["Status"] != "open" || p["Priority"].(float64) < 3 || p["Priority"].(float64) > prev {
			t.Fatalf("where/orderBy wrong: %v", p)
		}
		prev = p["Priority"].(float64)
		if _, ok := p["Notes"]; ok {
			t.Fatalf("outFields ignored: %v", p)
		}
	}
	// Bad input names the parameter.
	for q, field := range map[string]string{
		"bbox=1,2,3":       "bbox",
		"bbox=a,b,c,d":     "bbox",
		"bbox=3,3,1,1":     "bbox",
		"geometry=%7Bnope": "geometry",
		"geometry=" + url.QueryEscape(`{"type":"Circle","coordinates":[1,2]}`): "geometry",
		"where=" + url.QueryEscape("Nope = 1"):                                 "where",
		"where=" + url.QueryEscape("1=1; DROP TABLE x"):                        "where",
		"outFields=Status,Nope":                                                "outFields",
		"orderBy=Nope":                                                         "orderBy",
		"orderBy=Status%20SIDEWAYS":                                            "orderBy",
		"limit=0":                                                              "limit",
		"limit=100000":                                                         "limit",
		"offset=-1":                                                            "offset",
		"count=maybe":                                                          "count",
		"returnGeometry=x":                                                     "returnGeometry",
	} {
		e.wantError(e.do("GET", base+"?"+q, nil), 400, field)
	}
	// Tables have no geometry.
	tf, _ := fc(t, e, "/api/v1/maps/demo/layers/Field_Survey.3/features?limit=5")
	if len(tf) != 5 || tf[0]["geometry"] != nil {
		t.Fatalf("table features: %v", tf)
	}
}

func TestFeatureEdits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	base := "/api/v1/maps/demo/layers/0/features"
	add := `{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.2,34.05]},"properties":{"InspectionID":"API-1","Status":"open","Priority":2}}`
	res := e.jsonOf(e.do("POST", base, strings.NewReader(add), "Content-Type", "application/json"), 201)
	gid := res["globalId"].(string)
	got := e.jsonOf(e.do("GET", base+"/"+url.PathEscape(gid), nil), 200)
	c := got["geometry"].(map[string]any)["coordinates"].([]any)
	if math.Abs(c[0].(float64)+117.2) > 1e-9 || math.Abs(c[1].(float64)-34.05) > 1e-9 {
		t.Fatalf("round trip coordinates %v", c)
	}
	if got["properties"].(map[string]any)["InspectionID"] != "API-1" {
		t.Fatalf("added feature %v", got)
	}
	e.jsonOf(e.do("PATCH", base+"/"+url.PathEscape(gid), strings.NewReader(`{"type":"Feature","properties":{"Status":"closed"}}`)), 200)
	got = e.jsonOf(e.do("GET", base+"/"+url.PathEscape(gid), nil), 200)
	if p := got["properties"].(map[string]any); p["Status"] != "closed" || p["InspectionID"] != "API-1" {
		t.Fatalf("after update %v", p)
	}
	// Batch add with one bad feature: nothing is added; the field is named.
	sum := e.storeChecksum()
	bad := []struct {
		method, path, body, field string
		status                    int
	}{
		{"POST", base, `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":null,"properties":{"InspectionID":"ok"}},{"type":"Feature","geometry":null,"properties":{"Status":"exploded"}}]}`, "Status", 422},
		{"POST", base, `{"type":"Feature","geometry":null,"properties":{"Priority":9}}`, "Priority", 422},
		{"POST", base, `{"type":"Feature","geometry":null,"properties":{"Priority":"high"}}`, "Priority", 422},
		{"POST", base, `{"type":"Feature","geometry":null,"properties":{"InspectionID":"` + strings.Repeat("x", 40) + `"}}`, "InspectionID", 422},
		{"POST", base, `{"type":"Feature","geometry":null,"properties":{"NoSuchField":1}}`, "NoSuchField", 422},
		{"POST", base, `{"type":"Feature","geometry":{"type":"Point","coordinates":[1]},"properties":{}}`, "feature.geometry", 400},
		{"POST", base, `{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{}} trailing`, "body", 400},
		{"POST", base, `{"type":"Feature","properties":{},"extra":1}`, "body", 400},
		{"POST", base, `{"type":"Point"}`, "type", 400},
		{"POST", base, `{"type":"FeatureCollection","features":[]}`, "features", 400},
		{"POST", base, `not json`, "body", 400},
		{"PATCH", base + "/" + url.PathEscape(gid), `{"type":"Feature","properties":{"Status":"exploded"}}`, "Status", 422},
		{"PATCH", base + "/" + url.PathEscape(gid), `{"type":"Feature","properties":{"GlobalID":"{00000000-0000-0000-0000-000000000001}"}}`, "GlobalID", 400},
		{"PATCH", base + "/{00000000-0000-0000-0000-000000000001}", `{"type":"Feature","properties":{}}`, "feature", 404},
		{"PATCH", base + "/not-a-guid", `{"type":"Feature","properties":{}}`, "feature", 404},
		{"DELETE", base + "/{00000000-0000-0000-0000-000000000001}", ``, "feature", 404},
		{"POST", "/api/v1/maps/demo/layers/Field_Survey.3/features", `{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{}}`, "feature.geometry", 400},
		{"POST", "/api/v1/maps/nope/layers/0/features", `{"type":"Feature","properties":{}}`, "map", 404},
	}
	for _, b := range bad {
		e.wantError(e.do(b.method, b.path, strings.NewReader(b.body), "Content-Type", "application/json"), b.status, b.field)
	}
	if e.storeChecksum() != sum {
		t.Fatal("a rejected edit changed the store")
	}
	e.jsonOf(e.do("DELETE", base+"/"+url.PathEscape(gid), nil), 200)
	e.wantError(e.do("GET", base+"/"+url.PathEscape(gid), nil), 404, "feature")
	// The edits are in the change log for sync.
	db, _ := e.reg.FeatureStore(t.Context(), "demo", svcName)
	if n, _ := db.PendingChanges(t.Context()); n == 0 {
		t.Fatal("edits not in the change log")
	}
}

func TestFeaturePolygonRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	base := "/api/v1/maps/demo/layers/Field_Survey.2/features"
	// RFC 7946 orientation in, RFC 7946 orientation out, with a hole.
	poly := `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-117.2,34.0],[-117.19,34.0],[-117.19,34.01],[-117.2,34.01],[-117.2,34.0]],[[-117.198,34.002],[-117.198,34.004],[-117.196,34.004],[-117.196,34.002],[-117.198,34.002]]]},"properties":{}}`
	res := e.jsonOf(e.do("POST", base, strings.NewReader(poly)), 201)
	got := e.jsonOf(e.do("GET", base+"/"+url.PathEscape(res["globalId"].(string)), nil), 200)
	g := got["geometry"].(map[string]any)
	b, _ := json.Marshal(g["coordinates"])
	var rings [][][][]float64
	if g["type"] == "MultiPolygon" {
		json.Unmarshal(b, &rings)
	} else {
		var p [][][]float64
		json.Unmarshal(b, &p)
		rings = [][][][]float64{p}
	}
	if len(rings) != 1 || len(rings[0]) != 2 {
		t.Fatalf("polygon came back as %s", b)
	}
	if ringArea(rings[0][0]) <= 0 || ringArea(rings[0][1]) >= 0 {
		t.Fatalf("orientation not RFC 7946: %s", b)
	}
	io.Discard.Write(b)
}
