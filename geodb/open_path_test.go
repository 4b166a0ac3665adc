package geodb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestOpenOddPaths opens GeoPackages whose paths hold characters that have a
// meaning in file: URIs; each must land at exactly the given path.
func TestOpenOddPaths(t *testing.T) {
	for _, name := range []string{"100% done.gpkg", "a?b.gpkg", "c#d.gpkg", "e%20f.gpkg", "späce é.gpkg"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), name)
			db, err := Open(context.Background(), path, Options{})
			if err != nil {
				t.Fatalf("open %q: %v", path, err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("file not created at %q: %v", path, err)
			}
			db, err = Open(context.Background(), path, Options{})
			if err != nil {
				t.Fatalf("reopen %q: %v", path, err)
			}
			db.Close()
		})
	}
}
