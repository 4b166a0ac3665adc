package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 22 item 7: a corrupt package does not stop `maps` or `status`; it is
// listed as broken, without absolute paths.
func TestServeBrokenPackage(t *testing.T) {
	root := t.TempDir()
	for _, id := range []string{"bad", "good"} {
		dir := filepath.Join(root, "packages", id)
		os.MkdirAll(filepath.Join(dir, "data"), 0o700)
		os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"title":"`+id+`"}`), 0o600)
	}
	os.WriteFile(filepath.Join(root, "packages", "bad", "data", "Svc.gpkg"), []byte("SQLite format 3\x00 truncated"), 0o600)
	startDaemon(t, root)
	out := cli(t, "maps", "-data", root)
	if !strings.Contains(out, "good") || !strings.Contains(out, `broken: map "bad": data/Svc.gpkg cannot be used`) {
		t.Fatalf("maps with a broken package:\n%s", out)
	}
	if strings.Contains(out, root) {
		t.Fatalf("maps shows an absolute path:\n%s", out)
	}
	if st := cli(t, "status", "-data", root); !strings.Contains(st, "maps: 2") {
		t.Fatalf("status with a broken package:\n%s", st)
	}
}
