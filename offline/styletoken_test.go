package offline

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
)

// TestJobVectorStyleOnOtherHostGetsNoToken is the job-level regression
// test for the portal token sent to third-party hosts: a web map whose
// vector basemap styleUrl names another host. That host serves the style,
// root, tiles, sprites and glyphs (a proxy that adds its own credential
// towards the emulator) and must never receive the job's token; the
// portal's host still gets it.
func TestJobVectorStyleOnOtherHostGetsNoToken(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator end-to-end")
	}
	e := newJobEnv(t, emulator.Options{})
	em := e.em
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The proxy's own credential towards the emulator.
	resp, err := http.PostForm(em.PortalURL+"/generateToken", url.Values{"username": {emulator.DemoUser}, "password": {emulator.DemoPassword}, "f": {"json"}})
	if err != nil {
		t.Fatal(err)
	}
	var pt struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&pt)
	resp.Body.Close()
	target, _ := url.Parse(em.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var leaked []string
	requests := 0
	third := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		mu.Lock()
		requests++
		if q.Get("token") != "" || r.Header.Get("Authorization") != "" || r.Header.Get("X-Esri-Authorization") != "" {
			leaked = append(leaked, r.URL.Path)
		}
		mu.Unlock()
		q.Set("token", pt.Token)
		r.URL.RawQuery = q.Encode()
		rp.ServeHTTP(w, r)
	}))
	defer third.Close()

	var wm map[string]any
	if err := e.c.GetJSON(ctx, em.PortalURL+"/content/items/"+emulator.DemoWebMapVectorBasemapID+"/data", nil, &wm); err != nil {
		t.Fatal(err)
	}
	// The layer's service stays on the portal's host; its styleUrl moves
	// to the other host.
	bm, _ := wm["baseMap"].(map[string]any)
	layers, _ := bm["baseMapLayers"].([]any)
	if len(layers) != 1 {
		t.Fatalf("basemap layers %v", bm)
	}
	vl := layers[0].(map[string]any)
	vl["url"] = em.ServicesURL + "/Demo_Vector/VectorTileServer"
	vl["styleUrl"] = strings.Replace(vl["styleUrl"].(string), em.URL, third.URL, 1)
	b, _ := json.Marshal(wm)
	file := filepath.Join(t.TempDir(), "webmap.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	task, err := NewTask(ctx, Source{File: file}, nil, e.c)
	if err != nil {
		t.Fatal(err)
	}
	p := mustDefaults(ctx, t, task, demoArea(), testMinScale, testMaxScale)
	o := mustOverrides(ctx, t, task, p)
	res, err := task.NewJob(p, o, filepath.Join(t.TempDir(), "pkg"), JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != JobSucceeded {
		t.Fatalf("job %+v", res)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests < 5 {
		t.Fatalf("the other host saw %d requests: the vector layer did not use it", requests)
	}
	if len(leaked) > 0 {
		t.Fatalf("the other host received the job's token on %d of %d requests: %v", len(leaked), requests, leaked)
	}
}
