package arcgis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"
)

func TestPortalSearchPaging(t *testing.T) {
	f := newFakeServer(t)
	const total = 25
	f.handle("/sharing/rest/search", func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("start"))
		num, _ := strconv.Atoi(r.URL.Query().Get("num"))
		if r.URL.Query().Get("q") != `type:"Web Map"` || start < 1 {
			writeJSONBody(w, 200, arcErr(400, "bad search "+r.URL.RawQuery))
			return
		}
		var items []map[string]any
		for i := start; i < start+num && i <= total; i++ {
			items = append(items, map[string]any{"id": fmt.Sprintf("item%02d", i), "title": "Map", "type": "Web Map", "owner": "demo"})
		}
		next := start + num
		if next > total {
			next = -1
		}
		writeJSONBody(w, 200, map[string]any{"query": r.URL.Query().Get("q"), "total": total, "start": start, "num": num, "nextStart": next, "results": items})
	})
	c := newTestClient(t, f.URL)
	var ids []string
	for it, err := range c.SearchItems(context.Background(), SearchParams{Q: `type:"Web Map"`, Num: 10}) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, it.ID)
	}
	if len(ids) != total || ids[0] != "item01" || ids[24] != "item25" || f.count("/sharing/rest/search") != 3 {
		t.Fatalf("got %d items in %d requests", len(ids), f.count("/sharing/rest/search"))
	}
	// stopping early stops paging
	n := 0
	for range c.SearchItems(context.Background(), SearchParams{Q: `type:"Web Map"`, Num: 10}) {
		n++
		if n == 3 {
			break
		}
	}
	if f.count("/sharing/rest/search") != 4 {
		t.Errorf("early break made %d requests, want 1 more", f.count("/sharing/rest/search")-3)
	}
}

func TestPortalItemDataThumbnail(t *testing.T) {
	f := newFakeServer(t)
	f.fixture(t, "/sharing/rest/content/items/abc", "portal-item-webmap.arcrestgo.json")
	f.handle("/sharing/rest/content/items/missing", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"error": map[string]any{"code": 400, "messageCode": "CONT_0001", "message": "Item does not exist or is inaccessible.", "details": []string{}}})
	})
	f.fixture(t, "/sharing/rest/content/items/abc/data", "webmap-data-basic.arcrestgo.json")
	f.handle("/sharing/rest/content/items/abc/info/thumbnail/ago_downloaded.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\nthumb"))
	})
	f.fixture(t, "/sharing/rest/portals/self", "portals-self.arcgis-rest-js.json")
	f.fixture(t, "/sharing/rest/info", "sharing-rest-info.arcgis-rest-js.json")
	c := newTestClient(t, f.URL+"/sharing")
	ctx := context.Background()
	if c.PortalURL() != f.URL+"/sharing/rest" {
		t.Errorf("PortalURL = %q", c.PortalURL())
	}
	it, err := c.Item(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if it.Type != "Web Map" || !it.HasTypeKeyword("offline") {
		t.Errorf("item = %+v", it)
	}
	_, err = c.Item(ctx, "missing")
	var ae *Error
	if !IsNotFound(err) || !errors.As(err, &ae) || ae.MessageCode != "CONT_0001" {
		t.Errorf("missing item: err = %v, want not-found", err)
	}
	var wm struct {
		OperationalLayers []any `json:"operationalLayers"`
		Version           string
	}
	if err := c.ItemDataInto(ctx, "abc", &wm); err != nil || wm.Version == "" {
		t.Errorf("ItemDataInto = %+v, %v", wm, err)
	}
	rc, ct, err := c.Thumbnail(ctx, "abc", it.Thumbnail)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if ct != "image/png" || string(b[1:4]) != "PNG" {
		t.Errorf("thumbnail %q %q", ct, b)
	}
	self, err := c.PortalSelf(ctx)
	if err != nil || self.URLKey != "dc" || self.ID == "" {
		t.Errorf("PortalSelf = %+v, %v", self, err)
	}
	info, err := c.PortalInfo(ctx)
	if err != nil || info.AuthInfo.TokenServicesURL != "https://www.arcgis.com/sharing/rest/generateToken" {
		t.Errorf("PortalInfo = %+v, %v", info, err)
	}
}
