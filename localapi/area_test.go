package localapi

import (
	"net/http"
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
