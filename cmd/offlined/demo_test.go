package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/offline"
)

func TestDemoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo")
	}
	dir := filepath.Join(t.TempDir(), "pkg")
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	if err := run(ctx, []string{"demo", "--dir", dir, "--no-progress"}, &out, &errOut); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errOut.String())
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("demo took %s, want under a minute", d)
	}
	pkg, err := offline.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := pkg.Manifest
	// Only the left-out dynamic map service and WMS are errors.
	if !m.HasErrors || len(m.LayerErrors) != 2 || len(m.Layers) == 0 {
		t.Fatalf("manifest hasErrors=%v errors=%v layers=%d", m.HasErrors, m.LayerErrors, len(m.Layers))
	}
	for _, le := range m.LayerErrors {
		if le.Call != "capabilities" {
			t.Errorf("layer error %+v", le)
		}
	}
	kinds := map[string]int{}
	for _, l := range pkg.All() {
		kinds[l.Kind]++
		if (l.Kind == offline.KindReplica || l.Kind == offline.KindSnapshot) && l.Features == 0 && !strings.Contains(l.Title, "Notes") {
			t.Errorf("layer %s has no features", l.Title)
		}
	}
	for _, k := range []string{offline.KindReplica, offline.KindSnapshot, offline.KindRasterTiles, offline.KindVectorTiles} {
		if kinds[k] == 0 {
			t.Errorf("no %s layer in the demo package: %v", k, kinds)
		}
	}
	text := out.String()
	for _, want := range []string{"Signed in", "Capabilities", "Inspections", "replica", "rasterTiles", "Synced:", "the server now has Notes"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	t.Log(text)
}

// lineWriter passes output on and reports the first line containing want.
type lineWriter struct {
	buf  bytes.Buffer
	want string
	hit  chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	for _, line := range strings.Split(w.buf.String(), "\n") {
		if strings.Contains(line, w.want) && w.hit != nil {
			w.hit <- line
			w.hit = nil
		}
	}
	return len(p), nil
}

func TestDemoServe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := &lineWriter{want: "Serving the package on", hit: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--dir", filepath.Join(t.TempDir(), "pkg"), "--no-progress", "--no-sync", "--serve", "--addr", "127.0.0.1:0"}, w, io.Discard)
	}()
	var line string
	select {
	case line = <-w.hit:
	case err := <-done:
		t.Fatalf("demo ended before serving: %v", err)
	}
	var url, token string
	fields := strings.Fields(line)
	for i, f := range fields {
		if strings.HasPrefix(f, "http://") {
			url = f
		}
		if f == "Bearer" && i+1 < len(fields) {
			token = strings.TrimSuffix(fields[i+1], ");")
		}
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "demo") {
		t.Errorf("GET %s: %d %s", url, resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo --serve: %v", err)
	}
}
