package tiles

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

// bruteIntersects reports whether the interiors of area (even-odd) and r
// meet: an edge passes through r's interior, or r's interior lies inside.
func bruteIntersects(area exportArea, r rect) bool {
	inside := func(p orb.Point) bool {
		in := false
		for _, ring := range area.rings {
			for i := 0; i+1 < len(ring); i++ {
				a, b := ring[i], ring[i+1]
				if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < a[0]+(p[1]-a[1])*(b[0]-a[0])/(b[1]-a[1]) {
					in = !in
				}
			}
		}
		return in
	}
	const n = 8
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			p := orb.Point{r.xmin + (float64(i)+0.5)*(r.xmax-r.xmin)/n, r.ymin + (float64(j)+0.5)*(r.ymax-r.ymin)/n}
			if inside(p) {
				return true
			}
		}
	}
	for _, ring := range area.rings {
		for i := 0; i+1 < len(ring); i++ {
			a, b := ring[i], ring[i+1]
			t0, t1 := 0.0, 1.0
			dx, dy := b[0]-a[0], b[1]-a[1]
			ok := true
			for _, c := range [][2]float64{{-dx, a[0] - r.xmin}, {dx, r.xmax - a[0]}, {-dy, a[1] - r.ymin}, {dy, r.ymax - a[1]}} {
				p, q := c[0], c[1]
				if p == 0 {
					if q < 0 {
						ok = false
					}
					continue
				}
				t := q / p
				if p < 0 {
					t0 = math.Max(t0, t)
				} else {
					t1 = math.Min(t1, t)
				}
			}
			if !ok || t0 > t1 {
				continue
			}
			m := (t0 + t1) / 2
			x, y := a[0]+m*dx, a[1]+m*dy
			if x > r.xmin && x < r.xmax && y > r.ymin && y < r.ymax {
				return true
			}
		}
	}
	return false
}

// TestCoverMatchesBruteForce checks coverLevel against bruteIntersects on
// random polygons (with holes and several parts) and tile-aligned boxes.
func TestCoverMatchesBruteForce(t *testing.T) {
	g := newGrid(WebMercatorTileInfo(256, 19, "PNG"))
	geo := newGrid(GeographicTileInfo(12, "PNG"))
	rng := rand.New(rand.NewPCG(7, 9))
	randomRing := func(cx, cy, rad float64, n int) []orb.Point {
		var ring []orb.Point
		for i := 0; i < n; i++ {
			a := 2 * math.Pi * float64(i) / float64(n)
			rr := rad * (0.3 + 0.7*rng.Float64())
			ring = append(ring, orb.Point{cx + rr*math.Cos(a), cy + rr*math.Sin(a)})
		}
		return append(ring, ring[0])
	}
	cases := 0
	for iter := 0; iter < 60; iter++ {
		gr := g
		if iter%3 == 0 {
			gr = geo
		}
		level := 6 + rng.IntN(5) // ≥ 64 tiles a side: the areas stay inside the world
		s := gr.span(level)
		cx, cy := gr.info.Origin.X+s*(20+10*rng.Float64()), gr.info.Origin.Y-s*(10+10*rng.Float64())
		area := exportArea{rings: [][]orb.Point{randomRing(cx, cy, s*(1+5*rng.Float64()), 3+rng.IntN(12))}}
		switch iter % 4 {
		case 1: // a hole
			area.rings = append(area.rings, randomRing(cx, cy, s*0.8, 5))
		case 2: // a second part
			area.rings = append(area.rings, randomRing(cx+9*s, cy-3*s, s*2, 6))
		case 3: // a box on tile boundaries
			area = rectArea(rect{gr.info.Origin.X + 20*s, gr.info.Origin.Y - 14*s, gr.info.Origin.X + 23*s, gr.info.Origin.Y - 11*s})
		}
		clip := rect{-1e18, -1e18, 1e18, 1e18}
		got := map[tileKey]bool{}
		cover := coverLevel(gr, level, area, clip)
		for _, rc := range cover {
			for _, sp := range rc.spans {
				for c := sp[0]; c <= sp[1]; c++ {
					got[tileKey{level, rc.row, c}] = true
				}
			}
		}
		r0, r1, c0, c1, _ := gr.tileRange(level, area.bound())
		want := 0
		for r := r0 - 1; r <= r1+1; r++ {
			for c := c0 - 1; c <= c1+1; c++ {
				b := bruteIntersects(area, gr.tileRect(level, r, c))
				if b {
					want++
				}
				if b != got[tileKey{level, r, c}] {
					t.Errorf("iter %d level %d tile %d/%d: cover %v, brute force %v", iter, level, r, c, got[tileKey{level, r, c}], b)
				}
			}
		}
		if countCover(level, cover, nil) != want {
			t.Errorf("iter %d: count %d, brute force %d", iter, countCover(level, cover, nil), want)
		}
		if iter%4 == 3 && want != 9 {
			t.Errorf("tile-aligned 3×3 box covers %d tiles", want)
		}
		cases++
	}
	t.Logf("%d random areas", cases)
}

func TestWriteBundleLayout(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "b.bundle"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tiles := []tileKey{{5, 130, 129}, {5, 128, 128}, {5, 255, 255}}
	content := func(k tileKey) ([]byte, error) { return []byte(strings.Repeat(fmt.Sprint(k), k.row-127)), nil }
	if err := writeBundle(context.Background(), f, tiles, content); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	got := tlBundleTiles(t, "b.bundle", b)
	if len(got) != 3 {
		t.Fatalf("%d tiles", len(got))
	}
	for _, k := range tiles {
		want, _ := content(k)
		if !bytes.Equal(got[[2]int{k.row % 128, k.col % 128}], want) {
			t.Errorf("tile %v", k)
		}
	}
	// the first tile sits right after the fixed part (131136 + 4)
	if off := int(uint64FromLE(b[64+8*(128*(130%128)+129%128):]) & (1<<40 - 1)); off != 131140 {
		t.Errorf("first tile at %d", off)
	}
	if bundleName(bundleKey{3, 0, 128}) != "L03/R0000C0080.bundle" || bundleName(bundleKey{19, 90112, 65536}) != "L19/R16000C10000.bundle" {
		t.Errorf("names %s %s", bundleName(bundleKey{3, 0, 128}), bundleName(bundleKey{19, 90112, 65536}))
	}
}

func uint64FromLE(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// tlCheckGDALCompactCache lays the package's bundles out as a Compact
// Cache V2 folder (GDAL 3.6's ESRIC driver does not read .tpkx; formats.md
// §4.2) and checks that GDAL opens it and reads a pixel of a tile at level
// maxLevel that equals the served PNG's pixel.
func tlCheckGDALCompactCache(t *testing.T, entries map[string][]byte, ms *mapService, maxLevel int) {
	t.Helper()
	if _, err := exec.LookPath("gdalinfo"); err != nil {
		t.Log("gdalinfo not installed; skipping the GDAL check")
		return
	}
	if _, err := exec.LookPath("gdallocationinfo"); err != nil {
		t.Log("gdallocationinfo not installed; skipping the GDAL check")
		return
	}
	dir := t.TempDir()
	var sample tileKey
	found := false
	for name, b := range entries {
		rest, ok := strings.CutPrefix(name, "tile/")
		if !ok {
			continue
		}
		p := filepath.Join(dir, "_alllayers", rest)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var level, r0, c0 int
		fmt.Sscanf(rest, "L%02d/R%04xC%04x.bundle", &level, &r0, &c0)
		if level == maxLevel && !found {
			for rc := range tlBundleTiles(t, name, b) {
				sample, found = tileKey{level, r0 + rc[0], c0 + rc[1]}, true
				break
			}
		}
	}
	if !found {
		t.Fatalf("no tile at level %d", maxLevel)
	}
	var lods strings.Builder
	for _, l := range ms.grid.info.LODs {
		if l.Level <= maxLevel {
			fmt.Fprintf(&lods, "<LODInfo xsi:type=\"typens:LODInfo\"><LevelID>%d</LevelID><Scale>%.17g</Scale><Resolution>%.17g</Resolution></LODInfo>\n", l.Level, l.Scale, l.Resolution)
		}
	}
	conf := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8" ?>
<CacheInfo xsi:type="typens:CacheInfo" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:typens="http://www.esri.com/schemas/ArcGIS/10.0">
<TileCacheInfo xsi:type="typens:TileCacheInfo">
<SpatialReference xsi:type="typens:ProjectedCoordinateSystem"><WKID>%d</WKID><LatestWKID>%d</LatestWKID></SpatialReference>
<TileOrigin xsi:type="typens:PointN"><X>%.17g</X><Y>%.17g</Y></TileOrigin>
<TileCols>%d</TileCols><TileRows>%d</TileRows><DPI>96</DPI>
<LODInfos xsi:type="typens:ArrayOfLODInfo">
%s</LODInfos>
</TileCacheInfo>
<TileImageInfo xsi:type="typens:TileImageInfo"><CacheTileFormat>PNG</CacheTileFormat><CompressionQuality>0</CompressionQuality><Antialiasing>false</Antialiasing></TileImageInfo>
<CacheStorageInfo xsi:type="typens:CacheStorageInfo"><StorageFormat>esriMapCacheStorageModeCompactV2</StorageFormat><PacketSize>128</PacketSize></CacheStorageInfo>
</CacheInfo>
`, ms.grid.info.SpatialReference.EPSG(), ms.grid.info.SpatialReference.EPSG(), ms.grid.info.Origin.X, ms.grid.info.Origin.Y, ms.grid.info.Cols, ms.grid.info.Rows, lods.String())
	confPath := filepath.Join(dir, "conf.xml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("gdalinfo", confPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Driver: ESRIC") {
		t.Fatalf("gdalinfo: %v\n%s", err, out)
	}
	px, py := 0, 101 // on the tile border (palette index 1)
	x, y := sample.col*ms.grid.info.Cols+px, sample.row*ms.grid.info.Rows+py
	out, err = exec.Command("gdallocationinfo", "-valonly", confPath, strconv.Itoa(x), strconv.Itoa(y)).CombinedOutput()
	if err != nil {
		t.Fatalf("gdallocationinfo: %v\n%s", err, out)
	}
	vals := strings.Fields(string(out))
	served, _ := ms.render.tile(sample)
	img, err := png.Decode(bytes.NewReader(served))
	if err != nil {
		t.Fatal(err)
	}
	r, g, b, _ := img.At(px, py).RGBA()
	want := []string{strconv.Itoa(int(r >> 8)), strconv.Itoa(int(g >> 8)), strconv.Itoa(int(b >> 8))}
	// GDAL 3.6's ESRIC driver returns the palette index in bands 1-3 for
	// paletted (PNG8) tiles instead of expanding the palette.
	idx := "-"
	if p, ok := img.(*image.Paletted); ok {
		idx = strconv.Itoa(int(p.ColorIndexAt(px, py)))
	}
	switch {
	case len(vals) >= 3 && vals[0] == want[0] && vals[1] == want[1] && vals[2] == want[2]:
		t.Logf("GDAL ESRIC read tile %v pixel = %v (RGB)", sample, vals)
	case len(vals) >= 3 && idx != "0" && vals[0] == idx && vals[1] == idx && vals[2] == idx:
		t.Logf("GDAL ESRIC read tile %v pixel = %v (palette index %s)", sample, vals, idx)
	default:
		t.Errorf("GDAL reads %v at tile %v pixel (%d,%d), served PNG has RGB %v / index %s", vals, sample, px, py, want, idx)
	}
}
