package localapi

import (
	"io"
	"net/http"
	"testing"
)

// TestMalformedQueryRefused: a query string Go cannot parse (an unencoded
// ';') is a 400 naming the query, not a query run without the dropped
// pair (it returned every row; issue 23 item 10).
func TestMalformedQueryRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	layer := firstLayerID(t, e)
	for _, path := range []string{
		"/api/v1/maps/demo/layers/" + layer + "/features?where=1=1;DROP%20TABLE%20x",
		"/arcgis/rest/services/demo/FeatureServer/0/query?f=json&where=1=1;DROP%20TABLE%20x",
		"/api/v1/maps/demo/layers/" + layer + "/features?where=%zz",
	} {
		resp := e.do("GET", path, nil)
		if resp.StatusCode != http.StatusBadRequest {
			b, _ := io.ReadAll(resp.Body)
			t.Errorf("%s: %d %.200s, want 400", path, resp.StatusCode, b)
			continue
		}
		er, _ := e.jsonOf(resp, 400)["error"].(map[string]any)
		if er["field"] != "query" {
			t.Errorf("%s: error %v does not name the query", path, er)
		}
	}
	// A well-formed query with an encoded ';' still works.
	e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/"+layer+"/features?where=1%3D1&limit=1", nil), 200)
}

func firstLayerID(t *testing.T, e *env) string {
	t.Helper()
	m := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers", nil), 200)
	ls, _ := m["layers"].([]any)
	if len(ls) == 0 {
		t.Fatalf("no layers: %v", m)
	}
	l, _ := ls[0].(map[string]any)
	switch id := l["id"].(type) {
	case string:
		return id
	case float64:
		return itoa(int(id))
	}
	t.Fatalf("layer id %v", l["id"])
	return ""
}
