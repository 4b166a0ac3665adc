package localapi

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/offlined/offlined/localapi/localapitest"
)

// The attachment write routes of a read-only layer (FeatureServer
// addAttachment, native attachment delete) answer 403 too, and the store is
// unchanged (issue 13 item 5; the other routes are in readonly_test.go).
func TestReadOnlyLayerRefusesAttachmentWrites(t *testing.T) {
	t.Parallel()
	e := newReadOnlyEnv(t)
	gid, oid := e.firstFeature()
	before := e.storeChecksum()

	body, ct := localapitest.Upload("photo.jpg", []byte("not really a photo"), "f", "json")
	m := e.jsonOf(e.do("POST", fmt.Sprintf("/arcgis/rest/services/demo/FeatureServer/0/%d/addAttachment", oid), body, "Content-Type", ct), 403)
	if er, _ := m["error"].(map[string]any); er == nil || er["code"] != float64(403) {
		t.Fatalf("addAttachment on a read-only layer: %v", m)
	}
	e.wantError(e.do("DELETE", "/api/v1/maps/demo/layers/0/features/"+url.PathEscape(gid)+"/attachments/1", nil), 403, "layer")
	if after := e.storeChecksum(); after != before {
		t.Fatal("a refused attachment edit changed the store")
	}
}
