package tiles

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// writeTestPackage writes a .tpkx (prefix "") or .vtpk (prefix "p12/") the way
// formats.md §4 describes: stored zip entries, root.json, tile/Lnn/R…C….bundle.
func writeTestPackage(t testing.TB, p, prefix string, root map[string]any, tiles map[TileKey][]byte, extra map[string][]byte) {
	t.Helper()
	rj, _ := json.Marshal(root)
	var b bytes.Buffer
	if err := WritePackage(&b, prefix, rj, tiles, extra); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func demoRoot(s *Scheme, fmtName string) map[string]any {
	x0, y0 := ToMercator(-117.25, 33.98)
	x1, y1 := ToMercator(-117.10, 34.10)
	return map[string]any{
		"name": "Demo", "tileInfo": s.Info,
		"fullExtent":    map[string]any{"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "spatialReference": map[string]int{"wkid": 102100, "latestWkid": 3857}},
		"tileImageInfo": map[string]any{"format": fmtName},
	}
}

func demoTiles(t testing.TB, s *Scheme, lo, hi int) map[TileKey][]byte {
	out := map[TileKey][]byte{}
	for _, c := range testCovers(t, s, demoAOI, lo, hi) {
		c.Each(func(r, col int) bool {
			out[TileKey{c.Level, r, col}] = pngTile(c.Level, r, col)
			return true
		})
	}
	return out
}

func TestBundleRoundTripAndHeader(t *testing.T) {
	tiles := map[[2]int][]byte{{0, 0}: []byte("a"), {5, 127}: []byte("hello"), {127, 3}: bytes.Repeat([]byte{7}, 1000)}
	var buf bytes.Buffer
	if err := WriteBundle(&buf, tiles); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	le := binary.LittleEndian
	// Whitepaper values that GDAL 3.6 checks.
	if le.Uint32(b[4:]) != 16384 || le.Uint32(b[44:]) != 3 || le.Uint32(b[52:]) != 16384 || le.Uint64(b[24:]) != uint64(len(b)) {
		t.Fatalf("header %x", b[:64])
	}
	// First tile at 131,140 with a 4-byte size copy before it.
	if v := le.Uint64(b[64:]); v&bundleMaxOffset != 131140 || le.Uint32(b[131136:]) != 1 {
		t.Fatalf("first tile offset %d", v&bundleMaxOffset)
	}
	bd, err := OpenBundle(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if bd.Count() != 3 {
		t.Fatalf("count %d", bd.Count())
	}
	for k, want := range tiles {
		got, err := bd.Tile(k[0], k[1])
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tile %v: %q %v", k, got, err)
		}
	}
	if _, err := bd.Tile(1, 1); !errors.Is(err, ErrTileNotFound) {
		t.Fatalf("empty slot: %v", err)
	}
	// Corruptions are refused with reasons.
	for name, mut := range map[string]func([]byte){
		"version":    func(h []byte) { le.PutUint32(h[0:], 2) },
		"offset":     func(h []byte) { le.PutUint32(h[12:], 4) },
		"index size": func(h []byte) { le.PutUint32(h[60:], 5) },
		"tile range": func(h []byte) { le.PutUint64(h[64:], uint64(len(b))|5<<40) },
	} {
		c := append([]byte(nil), b...)
		mut(c)
		if _, err := OpenBundle(bytes.NewReader(c), int64(len(c))); err == nil {
			t.Errorf("%s corruption accepted", name)
		}
	}
	if r, c, err := ParseBundleName("R0080C0100.bundle"); err != nil || r != 128 || c != 256 {
		t.Fatalf("ParseBundleName: %d %d %v", r, c, err)
	}
	if _, _, err := ParseBundleName("R0081C0100.bundle"); err == nil {
		t.Fatal("unaligned bundle name accepted")
	}
}

func TestTPKXImportAndGDAL(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	tiles := demoTiles(t, s, 8, 15)
	dir := t.TempDir()
	p := filepath.Join(dir, "demo.tpkx")
	writeTestPackage(t, p, "", demoRoot(s, "PNG"), tiles, map[string][]byte{"iteminfo.json": []byte(`{"name":"demo"}`)})
	pk, err := OpenPackage(p)
	if err != nil {
		t.Fatal(err)
	}
	defer pk.Close()
	if pk.Kind != "tpkx" || len(pk.Levels()) != 8 || pk.Format() != "png" {
		t.Fatalf("kind %s levels %v format %s", pk.Kind, pk.Levels(), pk.Format())
	}
	for k, want := range tiles {
		got, err := pk.Tile(k)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tile %v: %v", k, err)
		}
	}
	st, err := OpenStore(context.Background(), filepath.Join(dir, "demo.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ImportPackage(context.Background(), pk, st, nil)
	if err != nil || n != int64(len(tiles)) {
		t.Fatalf("imported %d of %d: %v", n, len(tiles), err)
	}
	for k, want := range tiles {
		got, err := st.Tile(context.Background(), k.Level, k.Col, k.Row)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("mbtiles tile %v: %v", k, err)
		}
		break
	}
	md, _ := st.Metadata(context.Background())
	if md["format"] != "png" || md["minzoom"] != "8" || md["maxzoom"] != "15" || !strings.HasPrefix(md["bounds"], "-117.25") {
		t.Fatalf("metadata %v", md)
	}
	st.Close()
	gdalOpens(t, "gdalinfo", filepath.Join(dir, "demo.mbtiles"), "MBTiles")
}

// gdalOpens runs a GDAL tool on path and checks it names the driver.
func gdalOpens(t *testing.T, tool, path, driver string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("%s not installed", tool)
	}
	out, err := exec.Command(bin, path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), driver) {
		t.Fatalf("%s %s: %v\n%s", tool, path, err, out)
	}
	return string(out)
}

func TestRasterDownloadOpensInGDAL(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 10, 14)
	f := newFakeTiles(t)
	dir := t.TempDir()
	st := openTestStore(t, dir, "dl.mbtiles", s)
	if _, err := Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	b, _ := demoAOI.WGS84Bounds()
	if err := st.Finalize(context.Background(), "demo", &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out := gdalOpens(t, "gdalinfo", filepath.Join(dir, "dl.mbtiles"), "Driver: MBTiles")
	if !strings.Contains(out, "ZOOM_LEVEL=14") && !strings.Contains(out, "Overviews") {
		t.Fatalf("gdalinfo shows no zoom levels:\n%s", out)
	}
}

func TestNonXYZStoreKeepsTileInfo(t *testing.T) {
	s := mustScheme(t, arcgis.TileInfo{Rows: 256, Cols: 256, DPI: 96,
		Origin: arcgis.Point2D{X: -400, Y: 400}, SpatialReference: &arcgis.SpatialReference{WKID: 4326},
		LODs: []arcgis.LOD{{Level: 0, Resolution: 0.7}, {Level: 1, Resolution: 0.35}}})
	dir := t.TempDir()
	st := openTestStore(t, dir, "wgs.mbtiles", s)
	if err := st.Put(context.Background(), []TileRecord{{Key: TileKey{1, 5, 7}, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err := OpenStore(context.Background(), filepath.Join(dir, "wgs.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	md, _ := st.Metadata(context.Background())
	var ti arcgis.TileInfo
	if md[MetaGrid] != "tileinfo" || json.Unmarshal([]byte(md[MetaTileInfo]), &ti) != nil || ti.Origin.X != -400 {
		t.Fatalf("metadata %v", md)
	}
	// Stored as is: zoom_level = level, tile_row = row (no flip).
	if b, err := st.Tile(context.Background(), 1, 7, 5); err != nil || string(b) != "x" {
		t.Fatalf("tile: %q %v", b, err)
	}
	if b, err := st.TileByKey(context.Background(), TileKey{1, 5, 7}); err != nil || string(b) != "x" {
		t.Fatalf("tile by key: %q %v", b, err)
	}
}
