package features

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func TestAttachmentEndpoints(t *testing.T) {
	env := fsStart(t, nil)
	l0 := env.svc("Field_Survey") + "/0"
	// queryAttachments: every 4th feature (1, 5, 9, …) has one.
	qa := fsGet(t, l0+"/queryAttachments", url.Values{"objectIds": {"1,2,5"}})
	groups := qa["attachmentGroups"].([]any)
	if len(groups) != 2 {
		t.Fatalf("attachment groups %v", groups)
	}
	byParent := map[float64]map[string]any{}
	for _, g := range groups {
		m := g.(map[string]any)
		byParent[m["parentObjectId"].(float64)] = m
	}
	g1 := byParent[1]
	if g1 == nil || g1["parentGlobalId"] != env.em.mustGID(t, 0, 1) {
		t.Fatalf("group of feature 1: %v", g1)
	}
	var infos []arcgis.AttachmentInfo
	_ = jsonRoundTrip(g1["attachmentInfos"], &infos)
	if len(infos) != 1 || infos[0].ContentType != "image/jpeg" || infos[0].Size == 0 || infos[0].URL == "" {
		t.Fatalf("attachment infos %+v", infos)
	}
	all := fsGet(t, l0+"/queryAttachments", url.Values{"definitionExpression": {"1=1"}})
	if n := len(all["attachmentGroups"].([]any)); n != 50 {
		t.Errorf("all groups: %d, want 50", n)
	}
	pngOnly := fsGet(t, l0+"/queryAttachments", url.Values{"definitionExpression": {"OBJECTID <= 9"}, "attachmentTypes": {"image/png"}})
	if n := len(pngOnly["attachmentGroups"].([]any)); n != 1 { // 1 and 9 are jpeg, 5 is png
		t.Errorf("png groups for OBJECTID<=9: %d, want 1", n)
	}
	byGID := fsGet(t, l0+"/queryAttachments", url.Values{"globalIds": {env.em.mustGID(t, 0, 5)}})
	if n := len(byGID["attachmentGroups"].([]any)); n != 1 {
		t.Errorf("globalIds filter: %d groups", n)
	}
	if bad := fsGet(t, l0+"/queryAttachments", url.Values{"definitionExpression": {"Nope=1"}}); fsErrCode(bad) != 400 {
		t.Errorf("bad definitionExpression: %v", bad)
	}
	if bad := fsGet(t, env.svc("Field_Survey")+"/1/queryAttachments", nil); fsErrCode(bad) != 400 {
		t.Errorf("queryAttachments on a layer without attachments: %v", bad)
	}
	// Per feature list and bytes.
	list := fsGet(t, l0+"/1/attachments", nil)
	if n := len(list["attachmentInfos"].([]any)); n != 1 {
		t.Errorf("attachment list %v", list)
	}
	if empty := fsGet(t, l0+"/2/attachments", nil); len(empty["attachmentInfos"].([]any)) != 0 {
		t.Errorf("feature 2 has attachments: %v", empty)
	}
	req, _ := http.NewRequest(http.MethodGet, infos[0].URL, nil)
	resp, data := fsDo(t, req)
	if resp.Header.Get("Content-Type") != "image/jpeg" || int64(len(data)) != infos[0].Size || data[0] != 0xFF || data[1] != 0xD8 {
		t.Errorf("attachment bytes: %q %d", resp.Header.Get("Content-Type"), len(data))
	}
	if m := fsGet(t, l0+"/2/attachments/1", nil); fsErrCode(m) != 404 {
		t.Errorf("attachment under the wrong feature: %v", m)
	}
	// Legacy add / update / delete.
	add := fsMultipart(t, l0+"/2/addAttachment", map[string]string{"f": "json"}, "attachment", "note.txt", []byte("hello"))
	ar := add["addAttachmentResult"].(map[string]any)
	if ar["success"] != true {
		t.Fatalf("addAttachment %v", add)
	}
	newID := int(ar["objectId"].(float64))
	list = fsGet(t, l0+"/2/attachments", nil)
	if n := len(list["attachmentInfos"].([]any)); n != 1 {
		t.Errorf("after addAttachment: %v", list)
	}
	upd := fsMultipart(t, l0+"/2/updateAttachment", map[string]string{"f": "json", "attachmentId": strconv.Itoa(newID)}, "attachment", "note2.txt", []byte("hello again"))
	if upd["updateAttachmentResult"].(map[string]any)["success"] != true {
		t.Errorf("updateAttachment %v", upd)
	}
	req, _ = http.NewRequest(http.MethodGet, l0+"/2/attachments/"+strconv.Itoa(newID), nil)
	if _, d := fsDo(t, req); string(d) != "hello again" {
		t.Errorf("updated bytes %q", d)
	}
	del := fsPost(t, l0+"/2/deleteAttachments", url.Values{"attachmentIds": {strconv.Itoa(newID) + ",999999"}})
	var dr []editResult
	_ = jsonRoundTrip(del["deleteAttachmentResults"], &dr)
	if len(dr) != 2 || !dr[0].Success || dr[1].Success {
		t.Errorf("deleteAttachments %+v", dr)
	}
	if n := len(fsGet(t, l0+"/2/attachments", nil)["attachmentInfos"].([]any)); n != 0 {
		t.Errorf("attachment left after delete: %d", n)
	}
	// A generated attachment can be deleted too; the Go API sees it.
	gid := infos[0].GlobalID
	if err := env.em.DeleteAttachment("Field_Survey", 0, gid); err != nil {
		t.Fatal(err)
	}
	if _, ok := env.em.AttachmentData("Field_Survey", 0, gid); ok {
		t.Errorf("deleted generated attachment still readable")
	}
	if n := len(fsGet(t, l0+"/1/attachments", nil)["attachmentInfos"].([]any)); n != 0 {
		t.Errorf("feature 1 still lists %d attachments", n)
	}
}
