package localapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/offlined/offlined/tiles"
)

// benchTileRoot writes a data root with map1 whose tile layer basemap holds
// every tile of z0..maxZoom (small distinct byte strings) and returns it
// with the tiles' z/x/y paths.
func benchTileRoot(tb testing.TB, maxZoom int) (string, []string) {
	tb.Helper()
	root := tb.TempDir()
	dir := filepath.Join(root, "packages", "map1")
	if err := os.MkdirAll(filepath.Join(dir, "tiles"), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"formatVersion":1,"id":"map1","title":"Bench"}`), 0o600); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	st, err := tiles.OpenStore(ctx, filepath.Join(dir, "tiles", "basemap.mbtiles"))
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Configure(ctx, tiles.WebMercatorScheme(256, 0, maxZoom), "png"); err != nil {
		tb.Fatal(err)
	}
	var batch []tiles.TileRecord
	var paths []string
	for z := 0; z <= maxZoom; z++ {
		for x := 0; x < 1<<z; x++ {
			for y := 0; y < 1<<z; y++ {
				data := fmt.Appendf(make([]byte, 0, 2048), "\x89PNG tile %d/%d/%d ", z, x, y)
				data = data[:cap(data)] // a PNG-sized body
				batch = append(batch, tiles.TileRecord{Key: tiles.TileKey{Level: z, Row: y, Col: x}, Data: data})
				paths = append(paths, fmt.Sprintf("/api/v1/maps/map1/tiles/basemap/%d/%d/%d.png", z, x, y))
			}
		}
	}
	if err := st.Put(ctx, batch); err != nil {
		tb.Fatal(err)
	}
	if err := st.Finalize(ctx, "bench", &[4]float64{-180, -85.0511, 180, 85.0511}); err != nil {
		tb.Fatal(err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	return root, paths
}

// tileRouteServer returns a Server over a test daemon whose maps hold
// the tiles of benchTileRoot(tb, maxZoom), the daemon, and those tiles'
// paths.
func tileRouteServer(tb testing.TB, maxZoom int) (*Server, *TestDaemon, []string) {
	tb.Helper()
	root, paths := benchTileRoot(tb, maxZoom)
	d := NewTestDaemon(tb, TestDaemonOptions{Root: root, Hub: NewHub(0)})
	srv, err := New(Options{Token: testToken, Maps: d.Maps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	return srv, d, paths
}

// tileRouteRequest is an authorised GET of path with ctx, as net/http
// hands it to the server.
func tileRouteRequest(ctx context.Context, path string) *http.Request {
	r := httptest.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:7878"+path, nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	return r
}

// discardWriter is a ResponseWriter that keeps the status and drops the
// body, reused between requests.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.n += len(b)
	return len(b), nil
}

// BenchmarkTileRoute measures the tile route's handler (middleware, fast
// path, registry lookup, admission, SQLite read, headers) without the HTTP
// server's parsing and socket work, with a cancellable request context as
// net/http gives one. CPU and allocations per tile.
func BenchmarkTileRoute(b *testing.B) {
	srv, _, paths := tileRouteServer(b, 4)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reqs := make([]*http.Request, len(paths))
	for i, p := range paths {
		reqs[i] = tileRouteRequest(ctx, p)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	n := 0
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		w.status = 0
		srv.ServeHTTP(w, reqs[i%len(reqs)])
		if w.status != 200 {
			b.Fatalf("%s: status %d", paths[i%len(paths)], w.status)
		}
		n++
	}
	// CPU time of the whole process (GC included): a loaded machine
	// stretches ns/op, not this.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(n), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// The tile route allocates little per tile: the tile is read into a
// pooled buffer straight from SQLite (database/sql's path made two copies
// of it and 24 allocations per tile in all), so a tile load drives few
// garbage collections, which stop the feature queries' goroutines too.
func TestTileRouteAllocs(t *testing.T) {
	srv, _, paths := tileRouteServer(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := tileRouteRequest(ctx, paths[len(paths)-1])
	w := &discardWriter{h: http.Header{}}
	n := testing.AllocsPerRun(200, func() {
		clear(w.h)
		w.status, w.n = 0, 0
		srv.ServeHTTP(w, r)
		if w.status != 200 || w.n != 2048 {
			t.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	})
	if n > 6 {
		t.Fatalf("%.1f allocations per tile, want at most 6", n)
	}
}

// A tile's Content-Type follows its store's format when the metadata
// changes (the server kept the first format it saw for a store pointer,
// for as long as it ran, in a map that only grew).
func TestTileContentTypeFollowsFormat(t *testing.T) {
	srv, d, paths := tileRouteServer(t, 0)
	get := func() string {
		r := tileRouteRequest(context.Background(), paths[0])
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return w.Header().Get("Content-Type")
	}
	if ct := get(); ct != "image/png" {
		t.Fatalf("Content-Type %q, want image/png", ct)
	}
	st, err := d.Maps.TileStore(context.Background(), "map1", "basemap")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetMetadata(context.Background(), map[string]string{"format": "jpg"}); err != nil {
		t.Fatal(err)
	}
	if ct := get(); ct != "image/jpeg" {
		t.Fatalf("Content-Type %q after the format became jpg, want image/jpeg", ct)
	}
}
