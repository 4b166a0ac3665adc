package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// WatchPackages is the daemon's watcher: once started has been called the
// registry builds a map's info once for many requests (without it, once
// per request), and it stops when ctx ends.
func TestWatchPackagesCachesInfo(t *testing.T) {
	root := t.TempDir()
	pkg := filepath.Join(root, "packages", "m")
	if err := os.MkdirAll(filepath.Join(pkg, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeStore(t, root, filepath.Join(pkg, "data", "A.gpkg"), "Alpha")
	moveInto(t, root, filepath.Join(pkg, "package.json"), []byte(`{"id":"m","title":"First"}`))
	reg, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	gets := func(n int) int64 {
		t.Helper()
		before := reg.infos.builds.Load()
		for range n {
			if mi, err := reg.Get(t.Context(), "m"); err != nil || mi.Title != "First" {
				t.Fatalf("Get: %+v, %v", mi, err)
			}
		}
		return reg.infos.builds.Load() - before
	}
	if n := gets(3); n != 3 {
		t.Fatalf("no watcher: %d infos built for 3 requests, want 3", n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	started, done := make(chan struct{}), make(chan error, 1)
	calls := 0
	go func() {
		done <- WatchPackages(ctx, reg, slog.New(slog.DiscardHandler), func() { calls++; close(started) })
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("WatchPackages returned %v before starting", err)
	}
	if n := gets(3); n != 1 {
		t.Fatalf("watched: %d infos built for 3 requests, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("started called %d times", calls)
	}
	if n := gets(2); n != 2 {
		t.Fatalf("after the watcher stopped: %d infos built for 2 requests, want 2", n)
	}
}
