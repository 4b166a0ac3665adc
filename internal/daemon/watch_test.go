package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/testutil"
)

// The packages watcher adopts a package directory once its package.json
// appears (written last, inside the directory) and drops a map whose
// directory is removed, without a restart.
func TestPackagesWatcherAdoptsAndDrops(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	reg, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	type scan struct{ added, removed []string }
	scans := make(chan scan, 16)
	w := &packagesWatcher{reg: reg, delay: 20 * time.Millisecond, log: slog.New(slog.DiscardHandler),
		rescanned: func(a, r []string) { scans <- scan{a, r} }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	next := func(what string, want func(scan) bool) {
		t.Helper()
		deadline := time.After(testutil.Timeout)
		for {
			select {
			case s := <-scans:
				if want(s) {
					return
				}
			case <-deadline:
				t.Fatalf("no rescan with %s", what)
			}
		}
	}
	next("the first scan", func(scan) bool { return true })
	// A job's directory: files first, package.json last.
	dir := filepath.Join(root, "packages", "crew7")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "map.json"), []byte(`{}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"id":"crew7","title":"Crew 7"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	next("crew7 added", func(s scan) bool { return slices.Contains(s.added, "crew7") })
	if mi, err := reg.Get(t.Context(), "crew7"); err != nil || mi.Title != "Crew 7" {
		t.Fatalf("adopted map %+v: %v", mi, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	next("crew7 removed", func(s scan) bool { return slices.Contains(s.removed, "crew7") })
	if _, err := reg.Get(t.Context(), "crew7"); err == nil {
		t.Fatal("the removed map is still listed")
	}
}
