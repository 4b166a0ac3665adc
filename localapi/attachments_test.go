package localapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/offlined/offlined/localapi/localapitest"
)

func TestAttachmentsUploadDownloadRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	gid, _ := e.firstFeature()
	base := "/api/v1/maps/demo/layers/0/features/" + url.PathEscape(gid) + "/attachments"
	photo := make([]byte, 300_000)
	for i := range photo {
		photo[i] = byte(i * 7)
	}
	sum := sha256.Sum256(photo)
	up := e.jsonOf(e.do("POST", base+"?name=photo.jpg&keywords=site", bytes.NewReader(photo), "Content-Type", "image/jpeg"), 201)
	if up["size"].(float64) != float64(len(photo)) || up["sha256"] != hex.EncodeToString(sum[:]) || up["contentType"] != "image/jpeg" {
		t.Fatalf("upload result %v", up)
	}
	aid := up["globalId"].(string)
	list := e.jsonOf(e.do("GET", base, nil), 200)
	found := false
	for _, a := range list["attachments"].([]any) {
		found = found || a.(map[string]any)["globalId"] == aid
	}
	if !found {
		t.Fatalf("uploaded attachment not listed: %v", list)
	}
	r := e.do("GET", base+"/"+url.PathEscape(aid), nil)
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !bytes.Equal(body, photo) || r.Header.Get("Content-Type") != "image/jpeg" || r.Header.Get("Content-Length") != strconv.Itoa(len(photo)) {
		t.Fatalf("download: %d %v (%d bytes)", r.StatusCode, r.Header, len(body))
	}
	for rg, want := range map[string][2]int{"bytes=0-99": {0, 99}, "bytes=1000-": {1000, len(photo) - 1}, "bytes=-500": {len(photo) - 500, len(photo) - 1}, "bytes=299990-400000": {299990, len(photo) - 1}} {
		r := e.do("GET", base+"/"+url.PathEscape(aid), nil, "Range", rg)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 206 || !bytes.Equal(b, photo[want[0]:want[1]+1]) || r.Header.Get("Content-Range") != "bytes "+strconv.Itoa(want[0])+"-"+strconv.Itoa(want[1])+"/"+strconv.Itoa(len(photo)) {
			t.Fatalf("range %s: %d %q (%d bytes)", rg, r.StatusCode, r.Header.Get("Content-Range"), len(b))
		}
	}
	e.wantError(e.do("GET", base+"/"+url.PathEscape(aid), nil, "Range", "bytes=400000-"), 416, "Range")
	// Multipart upload (the form ArcGIS clients use).
	mp, mpType := localapitest.Upload("note.txt", []byte("hello"))
	up2 := e.jsonOf(e.do("POST", base, mp, "Content-Type", mpType), 201)
	if up2["name"] != "note.txt" || up2["size"].(float64) != 5 {
		t.Fatalf("multipart upload %v", up2)
	}
	// Bad uploads change nothing.
	sumStore := e.storeChecksum()
	e.wantError(e.do("POST", base, strings.NewReader("x"), "Content-Type", "image/jpeg"), 400, "name")
	e.wantError(e.do("POST", base+"?name=a.jpg", strings.NewReader("x"), "Content-Type", ""), 400, "Content-Type")
	e.wantError(e.do("POST", base+"?name=../a.jpg", strings.NewReader("x"), "Content-Type", "image/jpeg"), 400, "name")
	e.wantError(e.do("POST", "/api/v1/maps/demo/layers/1/features/"+url.PathEscape(gid)+"/attachments?name=a", strings.NewReader("x"), "Content-Type", "image/jpeg"), 404, "feature")
	e.wantError(e.do("GET", base+"/{00000000-0000-0000-0000-000000000001}", nil), 404, "attachment")
	e.wantError(e.do("GET", base+"/zzz", nil), 404, "attachment")
	if e.storeChecksum() != sumStore {
		t.Fatal("a rejected upload changed the store")
	}
	e.jsonOf(e.do("DELETE", base+"/"+url.PathEscape(aid), nil), 200)
	e.wantError(e.do("GET", base+"/"+url.PathEscape(aid), nil), 404, "attachment")
	// Pipes (layer 1) has no attachments.
	db, _ := e.reg.FeatureStore(t.Context(), "demo", svcName)
	var pipe string
	fs, _ := db.Features(t.Context(), geodbQuery(1, 1))
	pipe = fs[0].Attributes["GlobalID"].(string)
	e.wantError(e.do("GET", "/api/v1/maps/demo/layers/1/features/"+url.PathEscape(pipe)+"/attachments", nil), 409, "layer")
}

func TestParseRange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		h    string
		size int64
		a, b int64
		ok   bool
	}{
		{"bytes=0-0", 10, 0, 0, true}, {"bytes=5-", 10, 5, 9, true}, {"bytes=-3", 10, 7, 9, true}, {"bytes=-30", 10, 0, 9, true},
		{"bytes=9-100", 10, 9, 9, true}, {"bytes=10-", 10, 0, 0, false}, {"bytes=3-2", 10, 0, 0, false}, {"bytes=0-1,3-4", 10, 0, 0, false},
		{"items=0-1", 10, 0, 0, false}, {"bytes=-0", 10, 0, 0, false}, {"bytes=x-1", 10, 0, 0, false}, {"bytes=", 10, 0, 0, false},
	} {
		a, b, ok := parseRange(c.h, c.size)
		if ok != c.ok || (ok && (a != c.a || b != c.b)) {
			t.Errorf("parseRange(%q,%d) = %d,%d,%v want %d,%d,%v", c.h, c.size, a, b, ok, c.a, c.b, c.ok)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-99", "bytes=-5", "bytes=7-", "bytes=1-2,3-4", "bytes=99999999999999999999-"} {
		f.Add(s, int64(1000))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size <= 0 {
			return
		}
		a, b, ok := parseRange(h, size)
		if ok && (a < 0 || b < a || b >= size) {
			t.Fatalf("parseRange(%q,%d) = %d,%d", h, size, a, b)
		}
	})
}
