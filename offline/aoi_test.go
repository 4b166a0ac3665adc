package offline

import (
	"errors"
	"math"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

func env(xmin, ymin, xmax, ymax float64, wkid int) *arcgis.Geometry {
	return &arcgis.Geometry{XMin: &xmin, YMin: &ymin, XMax: &xmax, YMax: &ymax, SpatialReference: srOf(wkid)}
}

func poly(wkid int, rings ...[][]float64) *arcgis.Geometry {
	return &arcgis.Geometry{Rings: rings, SpatialReference: srOf(wkid)}
}

func srOf(wkid int) *arcgis.SpatialReference {
	if wkid == 0 {
		return nil
	}
	return &arcgis.SpatialReference{WKID: wkid}
}

func TestPrepareAOI(t *testing.T) {
	mapSR := &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857}
	stateplane := &arcgis.SpatialReference{WKID: 2230}
	for _, tc := range []struct {
		name   string
		g      *arcgis.Geometry
		mapSR  *arcgis.SpatialReference
		code   ErrCode // "" = valid
		parts  int
		cross  bool
		bounds [4]float64 // expected envelope when valid
	}{
		{"wgs84 envelope", env(-117.25, 33.98, -117.1, 34.1, 4326), mapSR, "", 1, false, [4]float64{-117.25, 33.98, -117.1, 34.1}},
		{"mercator envelope", env(-13052769, 4024252, -13036072, 4040394, 102100), mapSR, "", 1, false, [4]float64{-13052769, 4024252, -13036072, 4040394}},
		{"map SR (state plane) polygon", poly(2230, [][]float64{{0, 0}, {0, 10}, {10, 10}, {10, 0}, {0, 0}}), stateplane, "", 1, false, [4]float64{0, 0, 10, 10}},
		{"no SR uses the map's", poly(0, [][]float64{{0, 0}, {0, 1000}, {1000, 1000}, {1000, 0}}), mapSR, "", 1, false, [4]float64{0, 0, 1000, 1000}},
		{"open ring is closed", poly(4326, [][]float64{{1, 1}, {1, 2}, {2, 2}, {2, 1}}), mapSR, "", 1, false, [4]float64{1, 1, 2, 2}},
		{"polygon with hole", poly(4326, [][]float64{{0, 0}, {0, 10}, {10, 10}, {10, 0}, {0, 0}}, [][]float64{{2, 2}, {8, 2}, {8, 8}, {2, 8}, {2, 2}}), mapSR, "", 2, false, [4]float64{0, 0, 10, 10}},
		{"envelope crossing antimeridian (xmin > xmax)", env(170, -10, -170, 10, 4326), mapSR, "", 2, true, [4]float64{-180, -10, 180, 10}},
		{"envelope past 180", env(170, -10, 190, 10, 4326), mapSR, "", 2, true, [4]float64{-180, -10, 180, 10}},
		{"polygon crossing antimeridian", poly(4326, [][]float64{{175, 50}, {175, 55}, {-175, 55}, {-175, 50}, {175, 50}}), mapSR, "", 2, true, [4]float64{-180, 50, 180, 55}},
		{"mercator crossing", env(19000000, 0, -19000000, 100000, 3857), mapSR, "", 2, true, [4]float64{-tiles.MercatorHalfWorld, 0, tiles.MercatorHalfWorld, 100000}},
		{"whole area shifted by 360", env(190, 0, 200, 10, 4326), mapSR, "", 1, false, [4]float64{-170, 0, -160, 10}},
		{"nil", nil, mapSR, ErrAOIEmpty, 0, false, [4]float64{}},
		{"zero-width envelope", env(1, 1, 1, 2, 4326), mapSR, ErrAOIEmpty, 0, false, [4]float64{}},
		{"no rings", poly(4326), mapSR, ErrAOIEmpty, 0, false, [4]float64{}},
		{"collinear ring", poly(4326, [][]float64{{0, 0}, {1, 1}, {2, 2}, {0, 0}}), mapSR, ErrAOIEmpty, 0, false, [4]float64{}},
		{"two points", poly(4326, [][]float64{{0, 0}, {1, 1}, {0, 0}}), mapSR, ErrAOIInvalid, 0, false, [4]float64{}},
		{"NaN", poly(4326, [][]float64{{0, 0}, {0, math.NaN()}, {1, 1}}), mapSR, ErrAOIInvalid, 0, false, [4]float64{}},
		{"latitude out of range", env(0, 80, 10, 95, 4326), mapSR, ErrAOIInvalid, 0, false, [4]float64{}},
		{"point", &arcgis.Geometry{X: new(float64), Y: new(float64), SpatialReference: srOf(4326)}, mapSR, ErrAOIInvalid, 0, false, [4]float64{}},
		{"bow tie", poly(4326, [][]float64{{0, 0}, {10, 10}, {10, 0}, {0, 10}, {0, 0}}), mapSR, ErrAOISelfIntersects, 0, false, [4]float64{}},
		{"spike", poly(4326, [][]float64{{0, 0}, {0, 10}, {10, 10}, {10, 5}, {15, 5}, {10, 5}, {10, 0}, {0, 0}}), mapSR, ErrAOISelfIntersects, 0, false, [4]float64{}},
		{"ring touching itself", poly(4326, [][]float64{{0, 0}, {0, 10}, {5, 0}, {10, 10}, {10, 0}, {0, 0}}), mapSR, ErrAOISelfIntersects, 0, false, [4]float64{}},
		{"rings crossing each other", poly(4326, [][]float64{{0, 0}, {0, 10}, {10, 10}, {10, 0}, {0, 0}}, [][]float64{{5, 5}, {15, 5}, {15, 15}, {5, 15}, {5, 5}}), mapSR, ErrAOISelfIntersects, 0, false, [4]float64{}},
		{"foreign SR", env(0, 0, 1, 1, 2193), mapSR, ErrAOISpatialReference, 0, false, [4]float64{}},
		{"no SR anywhere", poly(0, [][]float64{{0, 0}, {0, 1}, {1, 1}}), nil, ErrAOISpatialReference, 0, false, [4]float64{}},
		{"wider than the world", env(-200, 0, 200, 10, 4326), mapSR, ErrAOIInvalid, 0, false, [4]float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := PrepareAOI(tc.g, tc.mapSR)
			if tc.code != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Code != tc.code {
					t.Fatalf("err = %v, want code %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Geometry.Rings) != tc.parts || a.CrossesAntimeridian != tc.cross {
				t.Fatalf("rings %d crosses %v, want %d %v: %v", len(a.Geometry.Rings), a.CrossesAntimeridian, tc.parts, tc.cross, a.Geometry.Rings)
			}
			for _, r := range a.Geometry.Rings {
				if r[0][0] != r[len(r)-1][0] || r[0][1] != r[len(r)-1][1] {
					t.Errorf("ring not closed: %v", r)
				}
			}
			e := a.Envelope()
			got := [4]float64{e.XMin, e.YMin, e.XMax, e.YMax}
			for i := range got {
				if math.Abs(got[i]-tc.bounds[i]) > 1e-6 {
					t.Fatalf("envelope %v, want %v", got, tc.bounds)
				}
			}
			if a.Geometry.Validate() != nil {
				t.Errorf("prepared geometry invalid: %v", a.Geometry.Validate())
			}
		})
	}
}

func TestAOIAntimeridianArea(t *testing.T) {
	// The two halves of a crossing polygon keep its area.
	a, err := PrepareAOI(poly(4326, [][]float64{{176, 50}, {176, 56}, {-178, 56}, {-178, 50}, {176, 50}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, r := range a.Geometry.Rings {
		total += math.Abs(arcgis.RingArea(r))
		for _, p := range r {
			if p[0] < -180 || p[0] > 180 {
				t.Errorf("part outside the world: %v", r)
			}
		}
	}
	if math.Abs(total-6*6) > 1e-9 {
		t.Errorf("area %v, want 36", total)
	}
}

func TestAOIWGS84(t *testing.T) {
	a, err := PrepareAOI(env(-13052769, 4024252, -13036072, 4040394, 102100), nil)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := a.WGS84()
	if err != nil {
		t.Fatal(err)
	}
	b := mp.Bound()
	if math.Abs(b.Min[0]-(-117.25502)) > 1e-4 || math.Abs(b.Max[1]-34.08629) > 1e-4 {
		t.Errorf("WGS84 bound %v", b)
	}
	x, y := LonLatToMercator(b.Min[0], b.Min[1])
	x2, y2 := LonLatToMercator(b.Max[0], b.Max[1])
	if math.Abs(x-(-13052769)) > 1e-3 || math.Abs(y-4024252) > 1e-3 || math.Abs(x2-(-13036072)) > 1e-3 || math.Abs(y2-4040394) > 1e-3 {
		t.Errorf("round trip %v %v %v %v", x, y, x2, y2)
	}
	// Hole attached to its outer ring.
	h, err := PrepareAOI(poly(4326, [][]float64{{0, 0}, {0, 10}, {10, 10}, {10, 0}, {0, 0}}, [][]float64{{2, 2}, {8, 2}, {8, 8}, {2, 8}, {2, 2}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	hp, _ := h.WGS84()
	if len(hp) != 1 || len(hp[0]) != 2 {
		t.Errorf("polygon with hole became %d polygons", len(hp))
	}
	sp, err := PrepareAOI(poly(2230, [][]float64{{0, 0}, {0, 10}, {10, 10}}), &arcgis.SpatialReference{WKID: 2230})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sp.WGS84(); err == nil {
		t.Errorf("state plane to WGS84 should be refused")
	}
}

func TestSegmentsIntersect(t *testing.T) {
	p := func(x, y float64) [2]float64 { return [2]float64{x, y} }
	for _, tc := range []struct {
		a, b, c, d [2]float64
		want       bool
	}{
		{p(0, 0), p(10, 10), p(0, 10), p(10, 0), true},   // cross
		{p(0, 0), p(10, 0), p(5, 0), p(5, 5), true},      // T touch
		{p(0, 0), p(10, 0), p(5, 0), p(15, 0), true},     // collinear overlap
		{p(0, 0), p(10, 0), p(11, 0), p(15, 0), false},   // collinear apart
		{p(0, 0), p(10, 0), p(0, 1), p(10, 1), false},    // parallel
		{p(0, 0), p(10, 10), p(11, 11), p(20, 0), false}, // beyond the end
		{p(0, 0), p(10, 0), p(10, 0), p(10, 5), true},    // shared end point
	} {
		if got := segmentsIntersect(tc.a, tc.b, tc.c, tc.d); got != tc.want {
			t.Errorf("segmentsIntersect(%v %v, %v %v) = %v", tc.a, tc.b, tc.c, tc.d, got)
		}
	}
}

// TestAOIWholeWorld: areas of any width up to the whole world are accepted,
// and a prepared area reads the same when it is prepared again (overrides
// re-validate the prepared extent; a side longer than half the world used
// to be taken for an antimeridian crossing and the area collapsed).
func TestAOIWholeWorld(t *testing.T) {
	mapSR := &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857}
	for _, tc := range []struct {
		name   string
		g      *arcgis.Geometry
		bounds [4]float64
		area   float64
	}{
		{"world envelope", env(-180, -90, 180, 90, 4326), [4]float64{-180, -90, 180, 90}, 360 * 180},
		{"world envelope within mercator range", env(-180, -85, 180, 85, 4326), [4]float64{-180, -85, 180, 85}, 360 * 170},
		{"200 degrees wide", env(-100, -10, 100, 10, 4326), [4]float64{-100, -10, 100, 10}, 200 * 20},
		{"world polygon", poly(4326, [][]float64{{-180, -90}, {-180, 90}, {180, 90}, {180, -90}, {-180, -90}}), [4]float64{-180, -90, 180, 90}, 360 * 180},
		{"mercator world", env(-tiles.MercatorHalfWorld, -tiles.MercatorHalfWorld, tiles.MercatorHalfWorld, tiles.MercatorHalfWorld, 3857), [4]float64{-tiles.MercatorHalfWorld, -tiles.MercatorHalfWorld, tiles.MercatorHalfWorld, tiles.MercatorHalfWorld}, 4 * tiles.MercatorHalfWorld * tiles.MercatorHalfWorld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := PrepareAOI(tc.g, mapSR)
			if err != nil {
				t.Fatal(err)
			}
			for pass := 1; pass <= 2; pass++ {
				if a.CrossesAntimeridian {
					t.Errorf("pass %d: read as crossing the antimeridian", pass)
				}
				e := a.Envelope()
				if got := [4]float64{e.XMin, e.YMin, e.XMax, e.YMax}; got != tc.bounds {
					t.Errorf("pass %d: bounds %v, want %v", pass, got, tc.bounds)
				}
				total := 0.0
				for _, r := range a.Geometry.Rings {
					total += math.Abs(arcgis.RingArea(r))
				}
				if math.Abs(total-tc.area) > 1e-6*tc.area {
					t.Errorf("pass %d: area %v, want %v", pass, total, tc.area)
				}
				// Prepare the prepared geometry again: same area.
				a, err = PrepareAOI(a.Geometry, mapSR)
				if err != nil {
					t.Fatalf("pass %d: prepared area refused when prepared again: %v", pass, err)
				}
			}
			if _, err := a.WGS84(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
