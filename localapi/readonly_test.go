package localapi

import (
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"

	editsync "github.com/offlined/offlined/sync"
)

// TestReadOnlyLayerRefusesEdits: a store kept as a read-only snapshot (no
// Sync on its service) refuses every edit route with 403 naming the layer,
// and the store is unchanged.
func TestReadOnlyLayerRefusesEdits(t *testing.T) {
	t.Parallel()
	e := newReadOnlyEnv(t)
	gid, oid := e.firstFeature()
	before := e.storeChecksum()
	base := "/api/v1/maps/demo/layers/0/features"
	add := `{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.2,34.05]},"properties":{"InspectionID":"RO-1"}}`
	e.wantError(e.do("POST", base, strings.NewReader(add), "Content-Type", "application/json"), 403, "layer")
	e.wantError(e.do("PATCH", base+"/"+url.PathEscape(gid), strings.NewReader(`{"type":"Feature","properties":{"Status":"closed"}}`)), 403, "layer")
	e.wantError(e.do("DELETE", base+"/"+url.PathEscape(gid), nil), 403, "layer")
	e.wantError(e.do("POST", base+"/"+url.PathEscape(gid)+"/attachments?name=a.txt", strings.NewReader("hello"), "Content-Type", "text/plain"), 403, "layer")

	fs := "/arcgis/rest/services/demo/FeatureServer/0"
	res := e.do("POST", fs+"/applyEdits", form("f", "json",
		"updates", fmt.Sprintf(`[{"attributes":{"OBJECTID":%d,"Notes":"x"}}]`, oid)), "Content-Type", "application/x-www-form-urlencoded")
	m := e.jsonOf(res, 403)
	if er, _ := m["error"].(map[string]any); er == nil || er["code"] != float64(403) {
		t.Fatalf("applyEdits on a read-only layer: %v", m)
	}
	// Every other FeatureServer write route too (issue 13 item 5).
	for _, c := range []struct {
		path string
		body io.Reader
		ct   string
	}{
		{fs + "/addFeatures", form("f", "json", "features", `[{"attributes":{"InspectionID":"RO-2"},"geometry":{"x":-13046000,"y":4032000}}]`), "application/x-www-form-urlencoded"},
		{fs + "/updateFeatures", form("f", "json", "features", fmt.Sprintf(`[{"attributes":{"OBJECTID":%d,"Notes":"y"}}]`, oid)), "application/x-www-form-urlencoded"},
		{fs + "/deleteFeatures", form("f", "json", "objectIds", fmt.Sprint(oid)), "application/x-www-form-urlencoded"},
		{fs + fmt.Sprintf("/%d/deleteAttachments", oid), form("f", "json", "attachmentIds", "1"), "application/x-www-form-urlencoded"},
	} {
		m := e.jsonOf(e.do("POST", c.path, c.body, "Content-Type", c.ct), 403)
		if er, _ := m["error"].(map[string]any); er == nil || er["code"] != float64(403) {
			t.Errorf("%s on a read-only layer: %v", c.path, m)
		}
	}
	if after := e.storeChecksum(); after != before {
		t.Fatal("a refused edit changed the store")
	}
	// Reads still work.
	e.jsonOf(e.do("GET", base+"?limit=1", nil), 200)
}

// newReadOnlyEnv is newEnv with the demo store kept as a read-only
// snapshot (its sync configuration says so).
func newReadOnlyEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, envOpts{})
	editSyncConfig(t, e.store(), func(c *editsync.Config) { c.Mode = editsync.ModeSnapshot })
	return e
}
