package localapi

import (
	"net/http"
	"testing"
)

// GET /arcgis/rest/services lists the demo map's feature service as a
// FeatureServer whose name the FeatureServer routes accept; it needs the
// token like every route, also as the token parameter ArcGIS clients send.
func TestServicesDirectory(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	dir := e.jsonOf(e.do("GET", "/arcgis/rest/services?f=json", nil), 200)
	svcs, _ := dir["services"].([]any)
	if _, ok := dir["folders"].([]any); !ok || len(svcs) != 1 {
		t.Fatalf("directory %v", dir)
	}
	s := svcs[0].(map[string]any)
	if s["type"] != "FeatureServer" || s["name"] != "demo" {
		t.Fatalf("entry %v", s)
	}
	e.jsonOf(e.do("GET", "/arcgis/rest/services/"+s["name"].(string)+"/FeatureServer?f=json", nil), 200)
	e.jsonOf(e.do("POST", "/arcgis/rest/services", nil), 200)

	req, _ := http.NewRequest("GET", e.hs.URL+"/arcgis/rest/services?f=json", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
	resp, err = http.Get(e.hs.URL + "/arcgis/rest/services?f=json&token=" + testToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with ?token=: %d, want 200", resp.StatusCode)
	}
	if r := e.do("GET", "/arcgis/rest/services?f=xml", nil); r.StatusCode != 400 {
		t.Errorf("f=xml: %d, want 400", r.StatusCode)
	}
}
