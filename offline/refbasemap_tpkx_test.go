package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/tiles"
)

// TestReferenceBasemapTPKXImported: a .tpkx reference basemap elsewhere on
// the device has the tiles covering the area of interest imported into the
// package's tiles/referenceBasemap.mbtiles, so the local API serves it like
// a downloaded layer; tiles outside the area are left behind (issue 14
// item 5).
func TestReferenceBasemapTPKXImported(t *testing.T) {
	e := newJobEnv(t, emulator.Options{})
	ms, err := e.c.MapService(context.Background(), e.em.ServicesURL+"/Demo_Basemap/MapServer")
	if err != nil || ms.TileInfo == nil {
		t.Fatalf("basemap tile info: %v", err)
	}
	scheme, err := tiles.NewScheme(*ms.TileInfo)
	if err != nil {
		t.Fatal(err)
	}
	// The package holds levels 11-12 over an area twice as wide as the
	// job's, so some of its tiles lie outside the area of interest.
	wide, err := tiles.AOIFromGeometry(env(-117.40, 33.90, -116.95, 34.20, 4326))
	if err != nil {
		t.Fatal(err)
	}
	covers, err := tiles.Cover(scheme, wide, []int{11, 12}, tiles.CoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pkgTiles := map[tiles.TileKey][]byte{}
	for _, c := range covers {
		c.Each(func(row, col int) bool {
			pkgTiles[tiles.TileKey{Level: c.Level, Row: row, Col: col}] = []byte(fmt.Sprintf("\x89PNG tile %d/%d/%d", c.Level, row, col))
			return true
		})
	}
	total := len(pkgTiles)
	dev := t.TempDir()
	path := filepath.Join(dev, "city.tpkx")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := json.Marshal(map[string]any{"name": "City", "tileInfo": ms.TileInfo, "fullExtent": ms.FullExtent,
		"tileImageInfo": map[string]any{"format": "PNG"}})
	if err := tiles.WritePackage(f, "", root, pkgTiles, nil); err != nil {
		t.Fatal(err)
	}
	f.Close()

	p := e.params(t)
	p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = dev, "city.tpkx"
	o := e.overrides(t, p)
	o.GenerateGeodatabase = map[Key]*GenerateGeodatabaseParameters{}
	for k, g := range e.overrides(t, e.params(t)).GenerateGeodatabase {
		o.GenerateGeodatabase[k] = g // features keep the package from being empty
		break
	}
	dir := filepath.Join(t.TempDir(), "pkg")
	res, err := e.run(t, p, o, dir)
	if err != nil {
		t.Fatal(err)
	}
	ml := manifestLayerOfKind(res.Manifest, KindReferenceBasemap)
	if ml == nil || ml.Store != "tiles/referenceBasemap.mbtiles" || ml.ReferenceFile != path {
		t.Fatalf("reference basemap entry %+v", ml)
	}
	st, err := tiles.OpenStore(context.Background(), filepath.Join(dir, "tiles", "referenceBasemap.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	aoi, _ := tiles.AOIFromGeometry(p.AreaOfInterest)
	want, _ := tiles.Cover(scheme, aoi, []int{11, 12}, tiles.CoverOptions{})
	var inArea int64
	for _, c := range want {
		inArea += c.Count()
		c.Each(func(row, col int) bool {
			b, err := st.TileByKey(context.Background(), tiles.TileKey{Level: c.Level, Row: row, Col: col})
			if err != nil || !bytes.Equal(b, []byte(fmt.Sprintf("\x89PNG tile %d/%d/%d", c.Level, row, col))) {
				t.Errorf("tile %d/%d/%d not imported: %v", c.Level, row, col, err)
				return false
			}
			return true
		})
	}
	n, _, err := st.Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != inArea || n >= int64(total) {
		t.Errorf("imported %d tiles, want the %d covering the area (of %d in the file)", n, inArea, total)
	}
}
