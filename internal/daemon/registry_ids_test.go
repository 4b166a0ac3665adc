package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// checkIDs fails unless the registry's id index names exactly the maps of
// its document (the tile route asks it on every tile).
func checkIDs(t *testing.T, r *Registry, want ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var doc, idx []string
	for _, m := range r.doc.Maps {
		doc = append(doc, m.ID)
	}
	for id := range r.ids {
		idx = append(idx, id)
	}
	slices.Sort(doc)
	slices.Sort(idx)
	slices.Sort(want)
	if !slices.Equal(doc, want) || !slices.Equal(idx, want) {
		t.Fatalf("maps %v, index %v; want %v", doc, idx, want)
	}
	for _, id := range want {
		if !r.has(id) {
			t.Fatalf("has(%q) = false", id)
		}
	}
}

// The id index follows every change of the map list: open (listed and
// sideloaded packages), Register, Delete, and Rescan's dropping of a
// directory removed by hand.
func TestRegistryIDIndexFollowsMaps(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mk := func(id string) {
		dir := filepath.Join(root, "packages", id)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"formatVersion":1,"id":"`+id+`"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mk("a")
	mk("b")
	reg, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkIDs(t, reg, "a", "b")
	mk("c")
	if err := reg.Register("c"); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, reg, "a", "b", "c")
	if err := reg.Delete(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, reg, "b", "c")
	if err := os.RemoveAll(filepath.Join(root, "packages", "b")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reg.Rescan(t.Context()); err != nil {
		t.Fatal(err)
	}
	checkIDs(t, reg, "c")
	reg.Close()
	mk("d") // sideloaded while the daemon was down
	reg2, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	checkIDs(t, reg2, "c", "d")
}
