package localapi

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
)

// TestReferenceBasemapServed: a package whose basemap is a reference
// basemap already on the device lists it as a tile layer and serves its
// TileJSON and tiles (it listed no tile layer and answered 404 before,
// issue 14 item 5).
func TestReferenceBasemapServed(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{})
	// A first package provides the device's basemap file.
	first := offlinetest.BuildPackage(t, em, offlinetest.Options{})
	var src string
	for _, ml := range first.Manifest.Layers {
		if ml.Kind == offline.KindRasterTiles {
			src = filepath.Join(first.Dir, filepath.FromSlash(ml.Store))
		}
	}
	if src == "" {
		t.Fatal("the demo package has no raster tile layer")
	}
	dev := t.TempDir()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "city.mbtiles"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	res := offlinetest.BuildPackage(t, em, offlinetest.Options{Dir: filepath.Join(t.TempDir(), "ref"), Parameters: func(p *offline.Parameters) {
		p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = dev, "city.mbtiles"
	}})
	e := newEnv(t, envOpts{noMap: true, packages: map[string]string{"ref": res.Dir}})
	info := e.jsonOf(e.do("GET", "/api/v1/maps/ref", nil), 200)
	layers, _ := info["tileLayers"].([]any)
	found := false
	for _, l := range layers {
		found = found || l == "referenceBasemap"
	}
	if !found {
		t.Fatalf("tile layers %v lack the reference basemap", layers)
	}
	tj := e.jsonOf(e.do("GET", "/api/v1/maps/ref/tiles/referenceBasemap/tilejson", nil), 200)
	if tl, _ := tj["tiles"].([]any); len(tl) == 0 {
		t.Fatalf("tilejson %v", tj)
	}
	minz, _ := tj["minzoom"].(float64)
	bounds, _ := tj["bounds"].([]any)
	if len(bounds) != 4 {
		t.Fatalf("tilejson bounds %v", tj["bounds"])
	}
	// The tile over the middle of the bounds at minzoom.
	z := int(minz)
	lon := (bounds[0].(float64) + bounds[2].(float64)) / 2
	lat := (bounds[1].(float64) + bounds[3].(float64)) / 2
	x, y := lonLatTile(lon, lat, z)
	resp := e.do("GET", fmt.Sprintf("/api/v1/maps/ref/tiles/referenceBasemap/%d/%d/%d", z, x, y), nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("tile %d/%d/%d: %d %s", z, x, y, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// lonLatTile is the XYZ tile holding lon, lat at zoom z.
func lonLatTile(lon, lat float64, z int) (int, int) {
	n := math.Exp2(float64(z))
	x := int((lon + 180) / 360 * n)
	r := lat * math.Pi / 180
	y := int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return x, y
}
