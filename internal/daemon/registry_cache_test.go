package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/localapi"
)

// watchedRegistry opens a registry on a root holding map "m" (with
// data/A.gpkg and tiles/base.mbtiles) and runs a packages watcher on it
// until the test ends. changed receives the map id of every change the
// watcher saw; stop stops the watcher.
func watchedRegistry(t *testing.T) (reg *Registry, root string, changed chan string, stop func()) {
	t.Helper()
	root = t.TempDir()
	pkg := filepath.Join(root, "packages", "m")
	for _, d := range []string{"data", "tiles"} {
		if err := os.MkdirAll(filepath.Join(pkg, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeStore(t, root, filepath.Join(pkg, "data", "A.gpkg"), "Alpha")
	moveInto(t, root, filepath.Join(pkg, "tiles", "base.mbtiles"), []byte("not opened by Get"))
	moveInto(t, root, filepath.Join(pkg, "package.json"), []byte(`{"id":"m","title":"First"}`))
	reg, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	changed = make(chan string, 1024)
	scanned := make(chan struct{}, 64)
	w := &packagesWatcher{reg: reg, delay: 10 * time.Millisecond, log: slog.New(slog.DiscardHandler),
		rescanned: func(_, _ []string) { scanned <- struct{}{} },
		changed:   func(id string) { changed <- id }}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Serve(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	select {
	case <-scanned: // watching
	case <-time.After(testutil.Timeout):
		t.Fatal("the watcher did not start")
	}
	return reg, root, changed, stop
}

// writeStore writes a GeoPackage with one point layer named layer at p
// (built beside the data root, then renamed into place).
func writeStore(t *testing.T, root, p, layer string) {
	t.Helper()
	tmp := filepath.Join(root, "store.tmp")
	os.Remove(tmp)
	db, err := geodb.Open(t.Context(), tmp, geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	no := false
	l := &arcgis.Layer{ID: 0, Name: layer, Type: "Feature Layer", GeometryType: arcgis.GeometryPoint, ObjectIDField: "OBJECTID",
		SpatialReference: &arcgis.SpatialReference{WKID: 4326},
		Fields:           []arcgis.Field{{Name: "OBJECTID", Type: arcgis.FieldOID, Nullable: &no, Editable: &no}}}
	if _, err := db.CreateLayer(t.Context(), l, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// moveInto writes b beside the data root and renames it to p (one event).
func moveInto(t *testing.T, root, p string, b []byte) {
	t.Helper()
	tmp := filepath.Join(root, "file.tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// awaitInfo waits until map m's info satisfies ok, getting it again after
// each change the watcher reports.
func awaitInfo(t *testing.T, reg *Registry, changed chan string, what string, ok func(localapi.MapInfo) bool) localapi.MapInfo {
	t.Helper()
	deadline := time.After(testutil.Timeout)
	for {
		mi, err := reg.Get(t.Context(), "m")
		if err != nil {
			t.Fatal(err)
		}
		if ok(mi) {
			return mi
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%s: not seen, info %+v", what, mi)
		}
	}
}

func layerNames(mi localapi.MapInfo) []string {
	var out []string
	for _, l := range mi.Layers {
		out = append(out, l.Name)
	}
	return out
}

// While the watcher runs, Get builds a map's info once (no package.json
// read, no folder listing per request); once it stops, every Get builds
// it again.
func TestRegistryInfoCachedWhileWatched(t *testing.T) {
	t.Parallel()
	reg, _, _, stop := watchedRegistry(t)
	before := reg.infos.builds.Load()
	for range 3 {
		mi, err := reg.Get(t.Context(), "m")
		if err != nil || !slices.Equal(mi.Services, []string{"A"}) || !slices.Equal(mi.TileLayers, []string{"base"}) {
			t.Fatalf("info %+v: %v", mi, err)
		}
		mi.Services[0] = "changed by a caller"
	}
	if n := reg.infos.builds.Load() - before; n != 1 {
		t.Fatalf("3 Gets built the info %d times, want 1", n)
	}
	if maps, err := reg.List(t.Context()); err != nil || len(maps) != 1 || maps[0].Services[0] != "A" {
		t.Fatalf("List %+v: %v (a caller's change leaked into the cache)", maps, err)
	}
	stop()
	before = reg.infos.builds.Load()
	reg.Get(t.Context(), "m")
	reg.Get(t.Context(), "m")
	if n := reg.infos.builds.Load() - before; n != 2 {
		t.Fatalf("without the watcher 2 Gets built the info %d times, want 2", n)
	}
}

// A cached info follows the package on disk: package.json rewritten, a
// store added, a broken store and its repair, stores and tile layers
// removed, a store folder removed and made anew.
func TestRegistryInfoCacheFollowsDisk(t *testing.T) {
	t.Parallel()
	reg, root, changed, _ := watchedRegistry(t)
	pkg := filepath.Join(root, "packages", "m")
	mi := awaitInfo(t, reg, changed, "the first info", func(mi localapi.MapInfo) bool { return mi.Title == "First" })
	if !slices.Equal(layerNames(mi), []string{"Alpha"}) || mi.Broken {
		t.Fatalf("first info %+v", mi)
	}

	// Replace: package.json and a second store.
	moveInto(t, root, filepath.Join(pkg, "package.json"), []byte(`{"id":"m","title":"Second"}`))
	awaitInfo(t, reg, changed, "the new title", func(mi localapi.MapInfo) bool { return mi.Title == "Second" })
	writeStore(t, root, filepath.Join(pkg, "data", "B.gpkg"), "Beta")
	awaitInfo(t, reg, changed, "store B", func(mi localapi.MapInfo) bool {
		return slices.Equal(mi.Services, []string{"A", "B"}) && slices.Equal(layerNames(mi), []string{"Alpha", "Beta"})
	})

	// Repair: a broken store marks the map broken until a good file
	// replaces it.
	moveInto(t, root, filepath.Join(pkg, "data", "C.gpkg"), []byte("truncated, not a GeoPackage"))
	awaitInfo(t, reg, changed, "broken store C", func(mi localapi.MapInfo) bool {
		return mi.Broken && len(mi.Problems) == 1 && !slices.Contains(mi.Services, "C")
	})
	writeStore(t, root, filepath.Join(pkg, "data", "C.gpkg"), "Gamma")
	awaitInfo(t, reg, changed, "repaired store C", func(mi localapi.MapInfo) bool {
		return !mi.Broken && slices.Equal(mi.Services, []string{"A", "B", "C"}) && slices.Contains(layerNames(mi), "Gamma")
	})

	// Delete: a store, a tile layer, then the whole data folder, which
	// comes back with a store (watched anew).
	if err := os.Remove(filepath.Join(pkg, "data", "B.gpkg")); err != nil {
		t.Fatal(err)
	}
	awaitInfo(t, reg, changed, "store B removed", func(mi localapi.MapInfo) bool { return slices.Equal(mi.Services, []string{"A", "C"}) })
	if err := os.Remove(filepath.Join(pkg, "tiles", "base.mbtiles")); err != nil {
		t.Fatal(err)
	}
	awaitInfo(t, reg, changed, "tile layer removed", func(mi localapi.MapInfo) bool { return len(mi.TileLayers) == 0 })
	if err := os.RemoveAll(filepath.Join(pkg, "data")); err != nil {
		t.Fatal(err)
	}
	awaitInfo(t, reg, changed, "data folder removed", func(mi localapi.MapInfo) bool { return len(mi.Services) == 0 })
	if err := os.Mkdir(filepath.Join(pkg, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeStore(t, root, filepath.Join(pkg, "data", "D.gpkg"), "Delta")
	awaitInfo(t, reg, changed, "store D in the new data folder", func(mi localapi.MapInfo) bool {
		return slices.Equal(mi.Services, []string{"D"}) && slices.Equal(layerNames(mi), []string{"Delta"})
	})
	// The new folder is watched: a later change is seen too.
	writeStore(t, root, filepath.Join(pkg, "data", "E.gpkg"), "Epsilon")
	awaitInfo(t, reg, changed, "store E", func(mi localapi.MapInfo) bool { return slices.Equal(mi.Services, []string{"D", "E"}) })
}

// An info built from a registry entry read before the entry changed (a
// Get racing a Delete and Register of the same id) is not cached: the
// next Get sees the new entry.
func TestRegistryInfoCacheDropsInfoOfChangedEntry(t *testing.T) {
	t.Parallel()
	reg, _, _, _ := watchedRegistry(t)
	gen := reg.infos.generation()
	reg.mu.Lock()
	i := slices.IndexFunc(reg.doc.Maps, func(m regEntry) bool { return m.ID == "m" })
	old := reg.doc.Maps[i]
	// What Delete then Register do to the entry, between the Get's read
	// of it and its build.
	reg.doc.Maps[i].Registered = old.Registered.Add(time.Hour)
	want := reg.doc.Maps[i].Registered
	reg.mu.Unlock()
	reg.infos.invalidate("m")
	if _, err := reg.cachedInfo(t.Context(), old, gen); err != nil {
		t.Fatal(err)
	}
	mi, err := reg.Get(t.Context(), "m")
	if err != nil || !mi.Registered.Equal(want) {
		t.Fatalf("Get after the entry changed: registered %v, want %v (%v)", mi.Registered, want, err)
	}
}
