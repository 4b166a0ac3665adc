package localapi

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

// TestAreaWithoutSRIsLonLat: on the native API an area without a spatial
// reference is WGS84 lon/lat (it was read in the map's Web Mercator metres
// and every layer came out empty); GeoJSON areas are accepted; values
// impossible in degrees are a 400 naming the field (issue 15 item 1).
func TestAreaWithoutSRIsLonLat(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true, withPlanner: true})
	src := map[string]any{"portalUrl": e.em.PortalURL, "itemId": emulator.DemoWebMapFieldSurveyID}
	wantWGS84 := func(name string, area any) {
		t.Helper()
		m := e.jsonOf(e.do("POST", "/api/v1/parameters", jsonBody(map[string]any{"source": src, "areaOfInterest": area})), 200)
		aoi, _ := m["areaOfInterest"].(map[string]any)
		sr, _ := aoi["spatialReference"].(map[string]any)
		if sr == nil || sr["wkid"] != float64(4326) {
			t.Errorf("%s: parameters area %v, want WGS84", name, aoi)
		}
	}
	wantWGS84("envelope", map[string]any{"xmin": -117.25, "ymin": 33.98, "xmax": -117.10, "ymax": 34.10})
	wantWGS84("esri polygon", map[string]any{"rings": [][][]float64{{{-117.25, 33.98}, {-117.25, 34.1}, {-117.1, 34.1}, {-117.1, 33.98}, {-117.25, 33.98}}}})
	wantWGS84("geojson polygon", map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{-117.25, 33.98}, {-117.1, 33.98}, {-117.1, 34.1}, {-117.25, 34.1}, {-117.25, 33.98}}}})
	wantWGS84("geojson feature", map[string]any{"type": "Feature", "properties": map[string]any{}, "geometry": map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{-117.25, 33.98}, {-117.1, 33.98}, {-117.1, 34.1}, {-117.25, 34.1}, {-117.25, 33.98}}}}})
	// Metres are fine when named.
	m := e.jsonOf(e.do("POST", "/api/v1/parameters", jsonBody(map[string]any{"source": src, "areaOfInterest": map[string]any{
		"xmin": -13052769, "ymin": 4024252, "xmax": -13036072, "ymax": 4040394, "spatialReference": map[string]any{"wkid": 102100}}})), 200)
	if sr, _ := m["areaOfInterest"].(map[string]any)["spatialReference"].(map[string]any); sr["wkid"] != float64(102100) {
		t.Errorf("named Web Mercator area became %v", sr)
	}
	// Metres without a reference are impossible degrees: 400 naming the field.
	e.wantError(e.do("POST", "/api/v1/parameters", jsonBody(map[string]any{"source": src, "areaOfInterest": map[string]any{
		"xmin": -13052769, "ymin": 4024252, "xmax": -13036072, "ymax": 4040394}})), http.StatusBadRequest, "areaOfInterest")
	e.wantError(e.do("POST", "/api/v1/parameters", jsonBody(map[string]any{"source": src, "areaOfInterest": map[string]any{
		"type": "Point", "coordinates": []float64{1, 2}}})), http.StatusBadRequest, "areaOfInterest")
}

// TestFeatureIDRoundTrips: the GeoJSON id a feature listing gives is
// accepted by the feature routes (it answered 404 "feature ids are
// GlobalIDs"), as is the GlobalID; attachments likewise by their listed id
// (issue 15 item 2).
func TestFeatureIDRoundTrips(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	fc := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features?limit=1", nil), 200)
	fs, _ := fc["features"].([]any)
	if len(fs) == 0 {
		t.Fatal("no features")
	}
	f := fs[0].(map[string]any)
	id := fmt.Sprint(f["id"])
	got := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features/"+id, nil), 200)
	if fmt.Sprint(got["id"]) != id {
		t.Fatalf("GET by GeoJSON id %s gave %v", id, got["id"])
	}
	e.jsonOf(e.do("PATCH", "/api/v1/maps/demo/layers/0/features/"+id, jsonBody(map[string]any{"type": "Feature", "properties": map[string]any{"Notes": "by id"}})), 200)
	gid, _ := e.firstFeature()
	e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features/"+gid, nil), 200)
	e.wantError(e.do("GET", "/api/v1/maps/demo/layers/0/features/987654321", nil), 404, "feature")
	e.wantError(e.do("GET", "/api/v1/maps/demo/layers/0/features/01", nil), 404, "feature")
	// Attachments: add one, then read it by the id the listing gives.
	resp := e.do("POST", "/api/v1/maps/demo/layers/0/features/"+id+"/attachments?name=p.jpg", strings.NewReader("jpegbytes"), "Content-Type", "image/jpeg")
	if resp.StatusCode != 201 && resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("add attachment: %d %s", resp.StatusCode, b)
	}
	resp.Body.Close()
	l := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features/"+id+"/attachments", nil), 200)
	as, _ := l["attachments"].([]any)
	if len(as) == 0 {
		t.Fatalf("no attachments listed: %v", l)
	}
	aid := fmt.Sprint(as[len(as)-1].(map[string]any)["id"])
	r := e.do("GET", "/api/v1/maps/demo/layers/0/features/"+id+"/attachments/"+aid, nil)
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || len(b) == 0 {
		t.Errorf("attachment by listed id %s: %d", aid, r.StatusCode)
	}
}
