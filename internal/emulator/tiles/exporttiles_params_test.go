package tiles

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestParseLevelList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []float64
		err  bool
	}{
		{"1,2,3", []float64{1, 2, 3}, false},
		{"1-4,7", []float64{1, 2, 3, 4, 7}, false},
		{" 3 - 5 , 5,0", []float64{3, 4, 5, 0}, false},
		{"[1,2,9]", []float64{1, 2, 9}, false},
		{"2256.994353", []float64{2256.994353}, false},
		{"", nil, true},
		{"5-2", nil, true},
		{"a", nil, true},
		{"-1", nil, true},
		{"[]", nil, true},
		{"0-1000", nil, true},
	} {
		got, err := parseLevelList(tc.in)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseLevelList(%q) = %v, %v; want %v (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestResolveLevels(t *testing.T) {
	g := newGrid(WebMercatorTileInfo(256, 19, "PNG"))
	for _, tc := range []struct {
		by   string
		in   []float64
		want []int
		err  bool
	}{
		{"LevelID", []float64{3, 1}, []int{1, 3}, false},
		{"", []float64{19}, []int{19}, false},
		{"Scale", []float64{2256.994353, 591657527.591555}, []int{0, 18}, false},
		{"Resolution", []float64{0.597}, []int{18}, false},
		{"LevelID", []float64{20}, nil, true},
		{"LevelID", []float64{1.5}, nil, true},
		{"Scale", []float64{1000}, nil, true},
		{"Meters", []float64{1}, nil, true},
	} {
		got, err := resolveLevels(g, tc.by, tc.in)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("resolveLevels(%s, %v) = %v, %v; want %v", tc.by, tc.in, got, err, tc.want)
		}
	}
}

func TestParseExportArea(t *testing.T) {
	g := newGrid(WebMercatorTileInfo(256, 19, "PNG"))
	full := rect{-1, -2, 3, 4}
	fx := tlFixture(t, "mapserver-tiled.arcrestgo.json")
	env, _ := json.Marshal(fx["fullExtent"])
	for _, tc := range []struct {
		name, polygon, aoi, extent string
		want                       rect
		err                        bool
	}{
		{"default", "", "", "DEFAULT", full, false},
		{"empty means default", "", "", "", full, false},
		{"csv", "", "", "10,20,30,40", rect{10, 20, 30, 40}, false},
		{"fixture envelope", "", "", string(env), rect{-12354045.957299948, 4236426.790400028, -12252189.262500048, 4346760.841700077}, false},
		{"wgs84 envelope", "", "", `{"xmin":0,"ymin":0,"xmax":1,"ymax":1,"spatialReference":{"wkid":4326}}`, rect{0, 0, 111319.49079327357, 111325.14286638486}, false},
		{"polygon wins", `{"rings":[[[0,0],[0,5],[5,5],[0,0]]]}`, "", "1,2,3,4", rect{0, 0, 5, 5}, false},
		{"aoi", "", `{"features":[{"geometry":{"rings":[[[1,1],[1,2],[2,2],[1,1]]],"spatialReference":{"wkid":102100}}}]}`, "", rect{1, 1, 2, 2}, false},
		{"aoi no features", "", `{"features":[]}`, "", rect{}, true},
		{"polyline", `{"paths":[[[0,0],[1,1]]]}`, "", "", rect{}, true},
		{"unknown sr", `{"rings":[[[0,0],[0,5],[5,5],[0,0]]],"spatialReference":{"wkid":27700}}`, "", "", rect{}, true},
		{"empty csv", "", "", "5,5,5,5", rect{}, true},
		{"nan", "", "", "NaN,0,1,1", rect{}, true},
		{"garbage", "{", "", "", rect{}, true},
	} {
		a, err := parseExportArea(g, tc.polygon, tc.aoi, tc.extent, full)
		if (err != nil) != tc.err {
			t.Errorf("%s: error %v", tc.name, err)
			continue
		}
		if tc.err {
			continue
		}
		b := a.bound()
		if math.Abs(b.xmin-tc.want.xmin) > 1e-6 || math.Abs(b.ymin-tc.want.ymin) > 1e-6 || math.Abs(b.xmax-tc.want.xmax) > 1e-6 || math.Abs(b.ymax-tc.want.ymax) > 1e-6 {
			t.Errorf("%s: bound %+v, want %+v", tc.name, b, tc.want)
		}
	}
}

func FuzzParseLevelList(f *testing.F) {
	for _, s := range []string{"1,2,3", "1-4,7-9", "[0,1,2]", "0-19", "2256.994353", "", "5-", "-", "[1,", "1e308"} {
		f.Add(s)
	}
	g := newGrid(WebMercatorTileInfo(256, 19, "PNG"))
	f.Fuzz(func(t *testing.T, s string) {
		vals, err := parseLevelList(s)
		if err != nil {
			return
		}
		if len(vals) == 0 || len(vals) > 1100 {
			t.Fatalf("%q: %d values", s, len(vals))
		}
		seen := map[float64]bool{}
		for _, v := range vals {
			if v < 0 || math.IsNaN(v) || seen[v] {
				t.Fatalf("%q: bad or repeated value %v", s, v)
			}
			seen[v] = true
		}
		for _, by := range []string{"LevelID", "Scale", "Resolution"} {
			levels, err := resolveLevels(g, by, vals)
			if err == nil {
				for _, l := range levels {
					if l < 0 || l > 19 {
						t.Fatalf("%q: level %d", s, l)
					}
				}
			}
		}
	})
}

func FuzzParseExportArea(f *testing.F) {
	fx := map[string]any{}
	if b, err := readFixtureBytes("mapserver-tiled.arcrestgo.json"); err == nil {
		_ = json.Unmarshal(b, &fx)
	}
	env, _ := json.Marshal(fx["fullExtent"])
	f.Add("", "", string(env))
	f.Add(`{"rings":[[[-117.2,34],[-117.1,34],[-117.1,34.1],[-117.2,34]]],"spatialReference":{"wkid":4326}}`, "", "")
	f.Add("", `{"features":[{"geometry":{"rings":[[[1,1],[1,2],[2,2],[1,1]]]}}]}`, "")
	f.Add("", "", "DEFAULT")
	f.Add("", "", "-13052210,4026116,-13035512,4042237")
	g := newGrid(WebMercatorTileInfo(256, 19, "PNG"))
	data := g.wgs84Rect(DemoBounds())
	f.Fuzz(func(t *testing.T, polygon, aoi, extent string) {
		a, err := parseExportArea(g, polygon, aoi, extent, data)
		if err != nil {
			return
		}
		for _, ring := range a.rings {
			if len(ring) < 3 || ring[0] != ring[len(ring)-1] {
				t.Fatalf("ring not closed: %v", ring)
			}
		}
		// covering any parsed area is bounded by the data extent
		for _, level := range []int{0, 5, 12} {
			cover := coverLevel(g, level, a, data)
			r0, r1, c0, c1, ok := g.tileRange(level, data)
			if n := countCover(level, cover, nil); ok && n > (r1-r0+1)*(c1-c0+1) {
				t.Fatalf("level %d: %d tiles, data extent has %d", level, n, (r1-r0+1)*(c1-c0+1))
			}
		}
	})
}

func FuzzParseGlyphRange(f *testing.F) {
	for _, s := range []string{"0-255", "256-511", "65280-65535", "1-256", "0-", "-255", "65536-65791"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, b, ok := parseGlyphRange(s)
		if ok && (a%256 != 0 || b != a+255 || b > 65535 || a < 0) {
			t.Fatalf("%q accepted as %d-%d", s, a, b)
		}
		if ok {
			if pb := glyphPBF("Arial Regular", a, b); len(pb) == 0 {
				t.Fatal("empty glyph PBF")
			}
		}
	})
}
