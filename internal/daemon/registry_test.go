package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
)

func TestRegistryPicksUpCompletePackagesOnly(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	// A sideloaded package, written by the offline job (as on another
	// device) and copied in.
	em := emulatortest.Start(t, emulator.Options{})
	side := offlinetest.BuildPackage(t, em, offlinetest.Options{Dir: filepath.Join(root, "packages", "side"), Timeout: buildTimeout})
	manifest, err := offline.ReadManifest(side.Dir)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "packages", "partial", "data"), 0o700) // an unfinished job's directory
	os.MkdirAll(filepath.Join(root, "packages", "..bad"), 0o700)
	reg, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	maps, err := reg.List(t.Context())
	if err != nil || len(maps) != 1 || maps[0].ID != "side" || maps[0].Title != manifest.Title || maps[0].Title == "" || !maps[0].Complete ||
		len(maps[0].Services) == 0 || maps[0].Broken {
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
