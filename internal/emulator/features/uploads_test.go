package features

import (
	"bytes"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestUploads(t *testing.T) {
	svc := DemoFeatureService()
	svc.MaxUploadBytes = 1000
	env := fsStart(t, []FeatureServiceOptions{svc, ReferenceDataService()})
	base := env.svc("Field_Survey") + "/uploads"
	fx := fsFixture(t, "upload-response.docs-example.json")
	up := fsMultipart(t, base+"/upload", map[string]string{"f": "json", "description": "Lake Tahoe"}, "file", "lake.tif", []byte("TIFFDATA"))
	if !slices.Equal(fsKeys(up), fsKeys(fx)) || !slices.Equal(fsKeys(up["item"].(map[string]any)), fsKeys(fx["item"].(map[string]any))) {
		t.Errorf("upload response keys %v / %v, fixture %v / %v", fsKeys(up), fsKeys(up["item"].(map[string]any)), fsKeys(fx), fsKeys(fx["item"].(map[string]any)))
	}
	item := up["item"].(map[string]any)
	id := item["itemID"].(string)
	if up["success"] != true || item["itemName"] != "lake.tif" || item["description"] != "Lake Tahoe" || item["committed"] != true || !strings.HasPrefix(id, "i") {
		t.Errorf("upload item %v", item)
	}
	info := fsGet(t, base+"/"+id, nil)
	if info["item"].(map[string]any)["size"] != 8.0 {
		t.Errorf("item info %v", info)
	}
	// Multi-part: register, two parts out of order, commit in the given order.
	reg := fsPost(t, base+"/register", url.Values{"itemName": {"big.bin"}, "description": {"parts"}})
	rid := reg["item"].(map[string]any)["itemID"].(string)
	if reg["item"].(map[string]any)["committed"] != false {
		t.Errorf("registered item committed: %v", reg)
	}
	p2 := fsMultipart(t, base+"/"+rid+"/uploadPart", map[string]string{"f": "json", "partId": "2"}, "file", "blob", []byte("WORLD"))
	p1 := fsMultipart(t, base+"/"+rid+"/uploadPart", map[string]string{"f": "json", "partId": "1"}, "file", "blob", []byte("HELLO "))
	if p1["success"] != true || p2["success"] != true {
		t.Fatalf("parts %v %v", p1, p2)
	}
	fs, _ := env.em.service("Field_Survey")
	if _, err := fs.uploads.data(rid); err == nil {
		t.Errorf("uncommitted upload readable")
	}
	if c := fsPost(t, base+"/"+rid+"/commit", url.Values{"parts": {"1,3"}}); fsErrCode(c) != 400 {
		t.Errorf("commit with a missing part: %v", c)
	}
	c := fsPost(t, base+"/"+rid+"/commit", url.Values{"parts": {"1,2"}})
	if c["success"] != true || c["item"].(map[string]any)["committed"] != true {
		t.Fatalf("commit %v", c)
	}
	if d, err := fs.uploads.data(rid); err != nil || !bytes.Equal(d, []byte("HELLO WORLD")) {
		t.Errorf("committed data %q %v", d, err)
	}
	// Byte budget.
	big := fsMultipart(t, base+"/upload", map[string]string{"f": "json"}, "file", "huge", bytes.Repeat([]byte("x"), 2000))
	if fsErrCode(big) == 0 {
		t.Errorf("upload above MaxUploadBytes accepted")
	}
	// Delete frees the item.
	if d := fsPost(t, base+"/"+id+"/delete", url.Values{}); d["success"] != true {
		t.Errorf("delete %v", d)
	}
	if g := fsGet(t, base+"/"+id, nil); fsErrCode(g) != 404 {
		t.Errorf("deleted item still there: %v", g)
	}
	// Every item route answers "does not exist" for an unknown item.
	for _, op := range []string{"commit", "delete"} {
		if g := fsPost(t, base+"/"+id+"/"+op, url.Values{}); fsErrCode(g) != 404 {
			t.Errorf("%s of a deleted item: %v", op, g)
		}
	}
	if g := fsMultipart(t, base+"/"+id+"/uploadPart", map[string]string{"f": "json", "partId": "1"}, "file", "blob", []byte("x")); fsErrCode(g) != 404 {
		t.Errorf("uploadPart to a deleted item: %v", g)
	}
	if i := fsGet(t, base+"/info", nil); i["maxUploadFileSize"] == nil {
		t.Errorf("uploads/info %v", i)
	}
	if r := fsMultipart(t, env.svc("Reference_Data")+"/uploads/upload", map[string]string{"f": "json"}, "file", "a", []byte("a")); fsErrCode(r) != 400 {
		t.Errorf("upload to a read-only service: %v", r)
	}
	if r := fsMultipart(t, base+"/upload", map[string]string{"f": "json"}, "notfile", "a", []byte("a")); fsErrCode(r) != 400 {
		t.Errorf("upload without a file field: %v", r)
	}
}
