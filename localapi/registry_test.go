package localapi

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRegistryPicksUpCompletePackagesOnly(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "packages", "side", "package.json"), `{"id":"side","title":"Sideloaded"}`)
	os.MkdirAll(filepath.Join(root, "packages", "partial", "data"), 0o700) // an unfinished job's directory
	os.MkdirAll(filepath.Join(root, "packages", "..bad"), 0o700)
	reg, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	maps, err := reg.List(t.Context())
	if err != nil || len(maps) != 1 || maps[0].ID != "side" || maps[0].Title != "Sideloaded" || !maps[0].Complete {
		t.Fatalf("maps %+v %v", maps, err)
	}
	if err := reg.Register("../x"); err == nil {
		t.Fatal("bad id registered")
	}
	if err := reg.Register("partial"); err != nil {
		t.Fatal(err)
	}
	m, err := reg.Get(t.Context(), "partial")
	if err != nil || m.Complete {
		t.Fatalf("partial %+v %v", m, err)
	}
	// The registry survives a restart; a vanished directory is dropped.
	reg.Close()
	os.RemoveAll(filepath.Join(root, "packages", "side"))
	reg2, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	maps, _ = reg2.List(t.Context())
	if len(maps) != 1 || maps[0].ID != "partial" {
		t.Fatalf("after restart %+v", maps)
	}
	fi, _ := os.Stat(filepath.Join(root, RegistryFile))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("registry mode %v", fi.Mode())
	}
}
