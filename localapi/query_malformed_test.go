package localapi

import (
	"io"
	"net/http"
	"strconv"
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
		return strconv.Itoa(int(id))
	}
	t.Fatalf("layer id %v", l["id"])
	return ""
}

// TestReadOnlyFieldRefused: a value for a non-editable field (EditDate)
// in a native add or PATCH is 422 readOnlyField naming it instead of being
// dropped silently; a GET → PATCH round trip with the stored value passes
// (issue 23 item 11).
func TestReadOnlyFieldRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	gid, _ := e.firstFeature()
	m := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features/"+gid, nil), 200)
	props, _ := m["properties"].(map[string]any)
	ro := ""
	for _, f := range []string{"EditDate", "CreationDate", "Editor", "Creator"} {
		if _, ok := props[f]; ok {
			ro = f
			break
		}
	}
	if ro == "" {
		t.Fatalf("layer 0 has no editor-tracking field: %v", props)
	}
	// Round trip: every property as read, one editable value changed.
	resp := e.do("PATCH", "/api/v1/maps/demo/layers/0/features/"+gid, jsonBody(map[string]any{"type": "Feature", "properties": props}))
	e.jsonOf(resp, 200)
	changed := map[string]any{ro: "2001-01-01T00:00:00Z"}
	if ro == "Editor" || ro == "Creator" {
		changed[ro] = "mallory"
	}
	er := e.wantError(e.do("PATCH", "/api/v1/maps/demo/layers/0/features/"+gid, jsonBody(map[string]any{"type": "Feature", "properties": changed})), 422, ro)
	if er["code"] != "readOnlyField" {
		t.Errorf("code %v", er["code"])
	}
	er = e.wantError(e.do("POST", "/api/v1/maps/demo/layers/0/features", jsonBody(map[string]any{"type": "Feature",
		"geometry": map[string]any{"type": "Point", "coordinates": []float64{-117.2, 34.05}}, "properties": changed})), 422, ro)
	if er["code"] != "readOnlyField" {
		t.Errorf("code %v", er["code"])
	}
}
