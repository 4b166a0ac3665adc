package tiles

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReferenceBasemap(t *testing.T) {
	dir := t.TempDir()
	s := WebMercatorScheme(256, 0, 19)
	// An MBTiles with bounds metadata covering the demo area.
	st := openTestStore(t, dir, "city.mbtiles", s)
	st.Put(context.Background(), []TileRecord{{Key: TileKey{10, 408, 178}, Data: pngTile(10, 408, 178)}})
	st.Finalize(context.Background(), "city", &[4]float64{-117.3, 33.9, -117.0, 34.2})
	st.Close()
	// An MBTiles without bounds: derived from its tiles (one z10 tile).
	st = openTestStore(t, dir, "nobounds.mbtiles", s)
	st.Put(context.Background(), []TileRecord{{Key: TileKey{10, 408, 178}, Data: pngTile(10, 408, 178)}, {Key: TileKey{10, 409, 178}, Data: pngTile(10, 409, 178)}})
	st.Close()
	// A tpkx whose extent is the demo area.
	writeTestPackage(t, filepath.Join(dir, "demo.tpkx"), "", demoRoot(s, "PNG"), demoTiles(t, s, 10, 11), nil)
	// A vtpk.
	writeTestPackage(t, filepath.Join(dir, "demo.vtpk"), "p12/", demoRoot(WebMercatorScheme(512, 0, 16), "pbf"), nil, nil)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644)

	inner := EnvelopeAOI(4326, -117.2, 34.0, -117.15, 34.05)
	for _, name := range []string{"city.mbtiles", "nobounds.mbtiles", "demo.tpkx", "demo.vtpk"} {
		rb, err := CheckReferenceBasemap(context.Background(), dir, name, inner)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rb.Kind != strings.TrimPrefix(filepath.Ext(name), ".") {
			t.Fatalf("%s: kind %s", name, rb.Kind)
		}
	}
	cases := []struct {
		name, file string
		aoi        AOI
		want       string
	}{
		{"missing", "absent.mbtiles", inner, "file not found"},
		{"not covering", "demo.tpkx", EnvelopeAOI(4326, -118, 34.0, -117.15, 34.05), "does not cover the area"},
		{"not covering mbtiles", "city.mbtiles", EnvelopeAOI(4326, 10, 10, 11, 11), "does not cover the area"},
		{"wrong type", "notes.txt", inner, "unsupported type"},
		{"path traversal", "../etc/passwd", inner, "plain file name"},
	}
	for _, tc := range cases {
		_, err := CheckReferenceBasemap(context.Background(), dir, tc.file, tc.aoi)
		var re *RefBasemapError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := CheckReferenceBasemap(context.Background(), dir, "absent.mbtiles", inner); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file error does not wrap os.ErrNotExist: %v", err)
	}
}
