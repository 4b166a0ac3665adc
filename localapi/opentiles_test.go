package localapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/demo"
	"github.com/offlined/offlined/offline"
)

// The demo's open XYZ layer (a WebTiledLayer on the emulator's anonymous
// tile server, issue 12) is served by the local API like any raster tile
// layer: its TileJSON points at this API and every stored tile comes back
// with the bytes the package holds.
func TestOpenXYZLayerServed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo job")
	}
	e := newEnv(t, envOpts{noMap: true})
	dir := filepath.Join(e.root, "packages", "open")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := demo.Run(ctx, demo.Options{Dir: dir, NoSync: true, MinScale: 150000, MaxScale: 70000, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Register("open"); err != nil {
		t.Fatal(err)
	}
	pkg, err := offline.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var xyz *offline.ManifestLayer
	for _, ml := range pkg.All() {
		if ml.Title == "Open tiles (XYZ)" {
			xyz = ml
		}
	}
	if xyz == nil || xyz.Kind != offline.KindRasterTiles || xyz.Tiles == 0 {
		t.Fatalf("open XYZ layer in the package: %+v", xyz)
	}
	name := strings.TrimSuffix(filepath.Base(xyz.Store), ".mbtiles")
	base := "/api/v1/maps/open/tiles/" + name
	tj := e.jsonOf(e.do("GET", base+"/tilejson", nil), 200)
	if u, _ := tj["tiles"].([]any); len(u) == 0 || !strings.HasPrefix(u[0].(string), e.hs.URL+base+"/{z}/{x}/{y}") {
		t.Fatalf("tilejson %v", tj)
	}
	n := eachStoredTile(t, pkg.Path(xyz.Store), func(z, x, y int, data []byte) {
		r := e.do("GET", fmt.Sprintf("%s/%d/%d/%d.png", base, z, x, y), nil)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || !bytes.Equal(b, data) || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Fatalf("tile %d/%d/%d: %d, %d bytes (store %d)", z, x, y, r.StatusCode, len(b), len(data))
		}
	})
	if int64(n) != xyz.Tiles {
		t.Errorf("served %d tiles, the package says %d", n, xyz.Tiles)
	}
}
