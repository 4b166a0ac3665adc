package arcgis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// uploadServer accepts multipart uploads and parts, checking the token.
type uploadServer struct {
	*fakeServer
	mu    sync.Mutex
	files map[string][]byte // item id → content (single uploads)
	parts map[string]map[string][]byte
	tok   string
}

func newUploadServer(t *testing.T) *uploadServer {
	u := &uploadServer{fakeServer: newFakeServer(t), files: map[string][]byte{}, parts: map[string]map[string][]byte{}, tok: "k"}
	readPart := func(r *http.Request) (map[string]string, []byte, error) {
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, nil, err
		}
		fields := map[string]string{}
		var data []byte
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return fields, data, nil
			}
			if err != nil {
				return nil, nil, err
			}
			b, _ := io.ReadAll(p)
			if p.FormName() == "file" {
				data = b
				fields["filename"] = p.FileName()
			} else {
				fields[p.FormName()] = string(b)
			}
		}
	}
	u.handle("/svc/FeatureServer/uploads/upload", func(w http.ResponseWriter, r *http.Request) {
		fields, data, err := readPart(r)
		if err != nil || fields["token"] != u.tok || fields["f"] != "json" {
			writeJSONBody(w, 200, arcErr(499, fmt.Sprintf("bad upload %v %v", fields, err)))
			return
		}
		u.mu.Lock()
		id := fmt.Sprintf("i%d", len(u.files)+1)
		u.files[id] = data
		u.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"success": true, "item": map[string]any{"itemID": id, "itemName": fields["filename"], "description": fields["description"], "committed": true}})
	})
	u.handle("/svc/FeatureServer/uploads/register", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		u.mu.Lock()
		u.parts["big1"] = map[string][]byte{}
		u.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"success": true, "item": map[string]any{"itemID": "big1", "itemName": r.PostForm.Get("itemName"), "committed": false}})
	})
	u.handle("/svc/FeatureServer/uploads/big1/uploadPart", func(w http.ResponseWriter, r *http.Request) {
		fields, data, err := readPart(r)
		if err != nil {
			writeJSONBody(w, 200, arcErr(400, err.Error()))
			return
		}
		u.mu.Lock()
		u.parts["big1"][fields["partId"]] = data
		u.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"success": true, "part": map[string]any{"partNumber": fields["partId"]}})
	})
	u.handle("/svc/FeatureServer/uploads/big1/commit", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		u.mu.Lock()
		var all []byte
		for _, p := range strings.Split(r.PostForm.Get("parts"), ",") {
			all = append(all, u.parts["big1"][p]...)
		}
		u.files["big1"] = all
		u.mu.Unlock()
		writeJSONBody(w, 200, map[string]any{"success": true, "item": map[string]any{"itemID": "big1", "committed": true}})
	})
	u.handle("/svc/FeatureServer/uploads/i1/delete", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"success": true})
	})
	return u
}

// onlyReader hides any Seek method so the upload cannot be buffered or replayed.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestUploadStreaming(t *testing.T) {
	u := newUploadServer(t)
	c := newTestClient(t, "", WithCredential(APIKey("k")))
	ctx := context.Background()
	content := bytes.Repeat([]byte("delta-geodatabase "), 5000)
	item, err := c.Upload(ctx, u.URL+"/svc/FeatureServer", "delta.geodatabase", onlyReader{bytes.NewReader(content)}, "edits")
	if err != nil {
		t.Fatal(err)
	}
	if item.ItemID != "i1" || item.ItemName != "delta.geodatabase" || item.Description != "edits" || !bytes.Equal(u.files["i1"], content) {
		t.Fatalf("item = %+v, stored %d bytes", item, len(u.files["i1"]))
	}
	if err := c.DeleteUpload(ctx, u.URL+"/svc/FeatureServer", "i1"); err != nil {
		t.Fatal(err)
	}
	big := []byte(strings.Repeat("0123456789", 3) + "abcde") // 35 bytes
	item, err = c.UploadLarge(ctx, u.URL+"/svc/FeatureServer", "big.bin", onlyReader{bytes.NewReader(big)}, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if item.ItemID != "big1" || !item.Committed || len(u.parts["big1"]) != 4 || !bytes.Equal(u.files["big1"], big) {
		t.Fatalf("large upload: item=%+v parts=%d assembled=%q", item, len(u.parts["big1"]), u.files["big1"])
	}
}

func TestUploadNotRetried(t *testing.T) {
	u := newUploadServer(t)
	u.tok = "other" // every upload is rejected with 499
	c := newTestClient(t, "", WithCredential(APIKey("k")))
	_, err := c.Upload(context.Background(), u.URL+"/svc/FeatureServer", "a.bin", onlyReader{strings.NewReader("abc")}, "")
	if !IsAuth(err) || u.count("/svc/FeatureServer/uploads/upload") != 1 {
		t.Fatalf("err = %v after %d requests, want one auth failure", err, u.count("/svc/FeatureServer/uploads/upload"))
	}
}

func TestApplyEditsAndAttachments(t *testing.T) {
	f := newFakeServer(t)
	var edits, atts string
	f.handle("/svc/FeatureServer/0/applyEdits", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		edits, atts = r.PostForm.Get("adds")+"|"+r.PostForm.Get("deletes")+"|"+r.PostForm.Get("useGlobalIds"), r.PostForm.Get("attachments")
		_, _ = io.WriteString(w, `{"addResults":[{"objectId":10,"globalId":"{G1}","success":true}],"updateResults":[],
		"deleteResults":[{"objectId":0,"globalId":"{G5}","success":false,"error":{"code":1000,"description":"exists"}}],
		"attachments":{"addResults":[{"globalId":"{55E85F98-FBDD-4129-9F0B-848DD40BD911}","success":true}],"updateResults":[],"deleteResults":[]}}`)
	})
	f.handle("/svc/FeatureServer/applyEdits", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `[{"id":0,"addResults":[{"objectId":1,"success":true}],"updateResults":[],"deleteResults":[]},{"id":3,"addResults":[],"updateResults":[{"objectId":4,"success":true}],"deleteResults":[]}]`)
	})
	f.handle("/svc/FeatureServer/0/queryAttachments", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"attachmentGroups":[{"parentObjectId":100,"parentGlobalId":"{P}","attachmentInfos":[{"id":1,"globalId":"{A}","name":"photo.jpg","contentType":"image/jpeg","size":5,"keywords":"k"}]}]}`)
	})
	f.handle("/svc/FeatureServer/0/100/attachments", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"attachmentInfos":[{"id":1,"name":"photo.jpg","contentType":"image/jpeg","size":5}]}`)
	})
	f.handle("/svc/FeatureServer/0/100/attachments/1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/jpeg")
		_, _ = w.Write([]byte{0xff, 0xd8, 0xff, 0xe0, 0x00})
	})
	var att ApplyAttachmentEdits
	if err := json.Unmarshal(readFixture(t, "applyedits-attachments-param.docs-example.json"), &att); err != nil {
		t.Fatal(err)
	}
	c := newTestClient(t, "")
	ctx := context.Background()
	res, err := c.ApplyEdits(ctx, f.URL+"/svc/FeatureServer/0", ApplyEditsParams{
		Adds: []Feature{{Attributes: map[string]any{"GlobalID": "{G1}"}}}, DeleteGlobalIDs: []string{"{G5}"}, UseGlobalIDs: true, Attachments: &att})
	if err != nil {
		t.Fatal(err)
	}
	if edits != `[{"attributes":{"GlobalID":"{G1}"}}]|["{G5}"]|true` || !strings.Contains(atts, `"uploadId":"{DD1D0A30-CD6E-4ad7-A516-C2468FD95E5E}"`) || !strings.Contains(atts, `"deletes":["{95059311`) {
		t.Errorf("sent adds|deletes|useGlobalIds = %s; attachments = %s", edits, atts)
	}
	if res.AddResults[0].ObjectID != 10 || len(res.Failed()) != 1 || res.Attachments == nil || len(res.Attachments.AddResults) != 1 {
		t.Errorf("result = %+v", res)
	}
	layers, err := c.ApplyServiceEdits(ctx, f.URL+"/svc/FeatureServer", []LayerEdits{{ID: 0, Adds: []Feature{{Attributes: map[string]any{"a": 1}}}}}, false, Bool(true))
	if err != nil || len(layers) != 2 || layers[1].ID != 3 || layers[1].UpdateResults[0].ObjectID != 4 {
		t.Errorf("service applyEdits = %+v, %v", layers, err)
	}
	groups, err := c.QueryAttachments(ctx, f.URL+"/svc/FeatureServer/0", QueryAttachmentsParams{ObjectIDs: []int64{100}})
	if err != nil || len(groups) != 1 || groups[0].ParentObjectID != 100 || groups[0].AttachmentInfos[0].Name != "photo.jpg" {
		t.Errorf("QueryAttachments = %+v, %v", groups, err)
	}
	infos, err := c.Attachments(ctx, f.URL+"/svc/FeatureServer/0", 100)
	if err != nil || len(infos) != 1 || infos[0].Size != 5 {
		t.Errorf("Attachments = %+v, %v", infos, err)
	}
	rc, ct, err := c.AttachmentData(ctx, f.URL+"/svc/FeatureServer/0", 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if ct != "image/jpeg" || len(b) != 5 || b[0] != 0xff {
		t.Errorf("attachment data %q %x", ct, b)
	}
}
