package arcgis

import "testing"

func TestRingArea(t *testing.T) {
	ccw := [][]float64{{0, 0}, {2, 0}, {2, 3}, {0, 3}, {0, 0}}
	cw := [][]float64{{0, 0}, {0, 3}, {2, 3}, {2, 0}, {0, 0}}
	for _, c := range []struct {
		name string
		r    [][]float64
		want float64
	}{
		{"counter-clockwise", ccw, 6},
		{"clockwise", cw, -6},
		{"with z", [][]float64{{0, 0, 5}, {2, 0, 5}, {2, 3, 5}, {0, 3, 5}, {0, 0, 5}}, 6},
		{"degenerate", [][]float64{{0, 0}, {1, 1}, {2, 2}, {0, 0}}, 0},
		{"empty", nil, 0},
	} {
		if got := RingArea(c.r); got != c.want {
			t.Errorf("%s: RingArea = %v, want %v", c.name, got, c.want)
		}
		if len(c.r) > 0 && len(c.r[0]) == 2 {
			pairs := make([][2]float64, len(c.r))
			for i, p := range c.r {
				pairs[i] = [2]float64{p[0], p[1]}
			}
			if got := RingArea(pairs); got != c.want {
				t.Errorf("%s as pairs: RingArea = %v, want %v", c.name, got, c.want)
			}
		}
	}
}
