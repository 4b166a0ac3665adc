package tiles

import (
	"math"
	"math/rand"
	"testing"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
)

// bruteCover decides tile by tile whether the open tile rectangle meets the
// polygon set: a vertex inside, an edge crossing, or the centre inside.
func bruteCover(s *Scheme, mp orb.MultiPolygon, level int) map[[2]int]bool {
	out := map[[2]int]bool{}
	w, h, _ := s.TileSpan(level)
	b := mp.Bound()
	ncols, nrows := s.GridSize(level)
	c0 := int(math.Floor((b.Min[0]-s.Info.Origin.X)/w)) - 1
	c1 := int(math.Floor((b.Max[0]-s.Info.Origin.X)/w)) + 1
	r0 := int(math.Floor((s.Info.Origin.Y-b.Max[1])/h)) - 1
	r1 := int(math.Floor((s.Info.Origin.Y-b.Min[1])/h)) + 1
	for r := max(r0, 0); r <= r1; r++ {
		for c := max(c0, 0); c <= c1; c++ {
			if ncols > 0 && (c >= ncols || r >= nrows) {
				continue
			}
			xmin, ymin, xmax, ymax := s.TileBounds(level, r, c)
			if rectMeets(mp, xmin, ymin, xmax, ymax) {
				out[[2]int{r, c}] = true
			}
		}
	}
	return out
}

func rectMeets(mp orb.MultiPolygon, xmin, ymin, xmax, ymax float64) bool {
	for _, poly := range mp {
		for _, r := range poly {
			for i := 0; i+1 < len(r); i++ {
				p, q := r[i], r[i+1]
				if p[0] > xmin && p[0] < xmax && p[1] > ymin && p[1] < ymax {
					return true
				}
				if segmentCrossesRect(p, q, xmin, ymin, xmax, ymax) {
					return true
				}
			}
		}
		if evenOddInside(poly, (xmin+xmax)/2, (ymin+ymax)/2) {
			return true
		}
	}
	return false
}

// segmentCrossesRect: Liang–Barsky; true when a positive-length piece lies inside.
func segmentCrossesRect(p, q orb.Point, xmin, ymin, xmax, ymax float64) bool {
	t0, t1 := 0.0, 1.0
	dx, dy := q[0]-p[0], q[1]-p[1]
	for _, c := range [4][2]float64{{-dx, p[0] - xmin}, {dx, xmax - p[0]}, {-dy, p[1] - ymin}, {dy, ymax - p[1]}} {
		pp, qq := c[0], c[1]
		if pp == 0 {
			if qq <= 0 {
				return false
			}
			continue
		}
		t := qq / pp
		if pp < 0 {
			t0 = math.Max(t0, t)
		} else {
			t1 = math.Min(t1, t)
		}
	}
	return t1 > t0
}

func evenOddInside(poly orb.Polygon, x, y float64) bool {
	in := false
	for _, r := range poly {
		for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
			a, b := r[i], r[j]
			if (a[1] > y) != (b[1] > y) && x < (b[0]-a[0])*(y-a[1])/(b[1]-a[1])+a[0] {
				in = !in
			}
		}
	}
	return in
}

func randomStar(rng *rand.Rand, cx, cy, rad float64, n int) orb.Ring {
	var r orb.Ring
	for i := 0; i < n; i++ {
		a := 2 * math.Pi * float64(i) / float64(n)
		d := rad * (0.3 + 0.7*rng.Float64())
		r = append(r, orb.Point{cx + d*math.Cos(a), cy + d*math.Sin(a)})
	}
	return append(r, r[0])
}

func coverSet(c LevelCover) map[[2]int]bool {
	m := map[[2]int]bool{}
	c.Each(func(r, col int) bool { m[[2]int{r, col}] = true; return true })
	return m
}

func TestCoverMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewSource(42))
	grids := map[string]*Scheme{
		"webmercator256": WebMercatorScheme(256, 0, 12),
		"webmercator512": WebMercatorScheme(512, 0, 12),
		// A non-XYZ grid: state-plane-like origin, 512x256 tiles, arbitrary resolutions.
		"custom": mustScheme(t, arcgis.TileInfo{Rows: 256, Cols: 512, DPI: 96,
			Origin:           arcgis.Point2D{X: -5000000, Y: 10000000},
			SpatialReference: &arcgis.SpatialReference{WKID: 3857},
			LODs:             []arcgis.LOD{{Level: 0, Resolution: 4000}, {Level: 1, Resolution: 1500}, {Level: 2, Resolution: 333.3}}}),
	}
	for name, s := range grids {
		for iter := 0; iter < 40; iter++ {
			cx, cy := rng.Float64()*4e6-2e6, rng.Float64()*4e6-2e6
			rad := math.Exp(rng.Float64()*4) * 2e4
			poly := orb.Polygon{randomStar(rng, cx, cy, rad, 3+rng.Intn(30))}
			if rng.Intn(2) == 0 { // hole
				poly = append(poly, randomStar(rng, cx, cy, rad*0.25, 3+rng.Intn(8)))
			}
			mp := orb.MultiPolygon{poly}
			if rng.Intn(3) == 0 { // second, possibly overlapping part
				mp = append(mp, orb.Polygon{randomStar(rng, cx+rad, cy, rad*0.7, 5)})
			}
			a := AOI{Polygons: mp, EPSG: 3857}
			for _, lv := range s.Levels() {
				if w, _, _ := s.TileSpan(lv); rad/w > 300 {
					continue // brute force too slow
				}
				covers, err := Cover(s, a, []int{lv}, CoverOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got := coverSet(covers[0])
				want := bruteCover(s, mp, lv)
				if len(got) != len(want) || int64(len(got)) != covers[0].Count() {
					t.Fatalf("%s iter %d level %d: cover %d tiles (count %d), brute force %d", name, iter, lv, len(got), covers[0].Count(), len(want))
				}
				for k := range want {
					if !got[k] || !covers[0].Contains(k[0], k[1]) {
						t.Fatalf("%s iter %d level %d: tile %v missing", name, iter, lv, k)
					}
				}
			}
		}
	}
}

func mustScheme(t testing.TB, ti arcgis.TileInfo) *Scheme {
	t.Helper()
	s, err := NewScheme(ti)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCoverHoleExcludesTiles(t *testing.T) {
	s := WebMercatorScheme(256, 0, 10)
	w, _, _ := s.TileSpan(6)
	sq := func(x0, y0, x1, y1 float64) orb.Ring {
		return orb.Ring{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}
	}
	// 10x10 tiles with a 4x4 hole in the middle (offsets keep edges off tile lines).
	o := 0.01 * w
	poly := orb.Polygon{sq(o, o, 10*w-o, 10*w-o), sq(3*w+o, 3*w+o, 7*w-o, 7*w-o)}
	c, err := Cover(s, AOI{Polygons: orb.MultiPolygon{poly}, EPSG: 3857}, []int{6}, CoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c[0].Count(); got != 100-4*4+4*4-2*2 { // hole removes its inner 2x2 whole tiles
		t.Fatalf("count %d, want %d", got, 100-4)
	}
}

func TestCoverAntimeridian(t *testing.T) {
	s := WebMercatorScheme(256, 0, 8)
	cases := []struct {
		name string
		aoi  AOI
	}{
		{"envelope xmin>xmax", EnvelopeAOI(4326, 170, -10, -170, 10)},
		{"continuous 170..190", EnvelopeAOI(4326, 170, -10, 190, 10)},
		{"ring with jump", AOI{EPSG: 4326, Polygons: orb.MultiPolygon{{{{170, -10}, {-170, -10}, {-170, 10}, {170, 10}, {170, -10}}}}}},
		{"mercator beyond world", mercEnvelope(170, -10, 190, 10)},
	}
	west := EnvelopeAOI(4326, -180, -10, -170, 10)
	east := EnvelopeAOI(4326, 170, -10, 180, 10)
	for _, tc := range cases {
		for _, z := range []int{0, 3, 8} {
			got, err := Cover(s, tc.aoi, []int{z}, CoverOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w, _ := Cover(s, west, []int{z}, CoverOptions{})
			e, _ := Cover(s, east, []int{z}, CoverOptions{})
			want := coverSet(w[0])
			for k := range coverSet(e[0]) {
				want[k] = true
			}
			g := coverSet(got[0])
			if len(g) != len(want) {
				t.Fatalf("%s z%d: %d tiles, want %d", tc.name, z, len(g), len(want))
			}
			for k := range g {
				if !want[k] {
					t.Fatalf("%s z%d: unexpected tile %v", tc.name, z, k)
				}
				if k[1] < 0 || k[1] >= 1<<z {
					t.Fatalf("%s z%d: column %d out of range", tc.name, z, k[1])
				}
			}
		}
	}
	// Split pieces never cross ±180.
	for _, p := range SplitAntimeridian(cases[2].aoi) {
		b := p.Bound()
		if b.Min[0] < -180 || b.Max[0] > 180 {
			t.Fatalf("split piece %v crosses the antimeridian", b)
		}
	}
	if n := len(SplitAntimeridian(cases[2].aoi)); n != 2 {
		t.Fatalf("split into %d pieces, want 2", n)
	}
	// WrapShift: a jump either way, none, more than a world, half a world.
	for _, c := range [][3]float64{{-340, 360, 360}, {340, 360, -360}, {100, 360, 0}, {900, 360, -720}, {-180, 360, 0}} {
		if got := WrapShift(c[0], c[1]); got != c[2] {
			t.Errorf("WrapShift(%g, %g) = %g, want %g", c[0], c[1], got, c[2])
		}
	}
}

func TestCoverBuffer(t *testing.T) {
	s := WebMercatorScheme(256, 0, 16)
	a := EnvelopeAOI(4326, -117.2, 34.0, -117.19, 34.01)
	plain, _ := Cover(s, a, []int{16}, CoverOptions{})
	buf, _ := Cover(s, a, []int{16}, CoverOptions{Buffer: 1000})
	// 1 km ≈ 1000/cos(34°)/611.5 m per tile ≈ 2 tiles each side at z16.
	pb, bb := coverSet(plain[0]), coverSet(buf[0])
	for k := range pb {
		if !bb[k] {
			t.Fatalf("buffered cover lost tile %v", k)
		}
	}
	r0, r1, c0, c1 := spanBox(plain[0])
	br0, br1, bc0, bc1 := spanBox(buf[0])
	if r0-br0 != 2 || br1-r1 != 2 || c0-bc0 != 2 || bc1-c1 != 2 {
		t.Fatalf("buffer grew rows %d/%d cols %d/%d, want 2 each side", r0-br0, br1-r1, c0-bc0, bc1-c1)
	}
}

func spanBox(c LevelCover) (r0, r1, c0, c1 int) {
	r0, c0 = math.MaxInt, math.MaxInt
	r1, c1 = -1, -1
	for _, s := range c.Spans {
		r0, r1 = min(r0, s.Row), max(r1, s.Row)
		c0, c1 = min(c0, s.Col0), max(c1, s.Col1)
	}
	return
}

func TestCoverDemoAreaKnownTiles(t *testing.T) {
	// The emulator's demo area at z10 lies in tile x=178, y=408 (computed by hand
	// from the XYZ formulas: x = (lon+180)/360·2^z, y from the Mercator latitude).
	s := WebMercatorScheme(256, 0, 19)
	c, err := Cover(s, EnvelopeAOI(4326, -117.25, 33.98, -117.10, 34.10), []int{10}, CoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	xf := func(lon float64) int { return int((lon + 180) / 360 * 1024) }
	x0, x1 := xf(-117.25), xf(-117.10)
	y := func(lat float64) int {
		r := lat * math.Pi / 180
		return int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * 1024)
	}
	want := int64((x1 - x0 + 1) * (y(33.98) - y(34.10) + 1))
	if c[0].Count() != want {
		t.Fatalf("demo area z10: %d tiles, want %d", c[0].Count(), want)
	}
}

func mercEnvelope(lon0, lat0, lon1, lat1 float64) AOI {
	x0, y0 := ToMercator(lon0, lat0)
	x1, y1 := ToMercator(lon1, lat1)
	return EnvelopeAOI(3857, x0, y0, x1, y1)
}
