package tiles

import (
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// rowCover is one tile row of an area cover: sorted, disjoint, inclusive
// column intervals.
type rowCover struct {
	row   int
	spans [][2]int
}

// maxCoverRows bounds the rows examined per level.
const maxCoverRows = 1 << 21

// coverLevel returns the tiles of level whose interior meets the area's
// interior, restricted to tiles overlapping clip (the data extent). A tile
// meets the area when a boundary edge passes through it or its centre is
// inside (even-odd over all rings), which is exact for polygons with holes
// and multiple parts.
func coverLevel(g *grid, level int, area exportArea, clip rect) []rowCover {
	b := area.bound()
	inter := rect{math.Max(b.xmin, clip.xmin), math.Max(b.ymin, clip.ymin), math.Min(b.xmax, clip.xmax), math.Min(b.ymax, clip.ymax)}
	r0, r1, c0, c1, ok := g.tileRange(level, inter)
	if !ok || r1-r0 >= maxCoverRows {
		return nil
	}
	s := g.span(level)
	ox, oy := g.info.Origin.X, g.info.Origin.Y
	rows := make([][][2]int, r1-r0+1)
	addSpan := func(row, a, z int) {
		a, z = max(a, c0), min(z, c1)
		if row < r0 || row > r1 || a > z {
			return
		}
		rows[row-r0] = append(rows[row-r0], [2]int{a, z})
	}
	const eps = 1e-9
	// open-interval column range of [xa, xb] (xa ≤ xb)
	cols := func(xa, xb float64) (int, int) {
		fa, fb := (xa-ox)/s, (xb-ox)/s
		if fa == fb {
			if math.Abs(fa-math.Round(fa)) < eps {
				return 1, 0 // on a column boundary: touches, no area
			}
			return int(math.Floor(fa)), int(math.Floor(fa))
		}
		return int(math.Floor(fa + eps)), int(math.Ceil(fb-eps)) - 1
	}
	// edges
	for _, ring := range area.rings {
		for i := 0; i+1 < len(ring); i++ {
			p, q := ring[i], ring[i+1]
			if p[1] < q[1] {
				p, q = q, p // p is the upper end
			}
			fa, fb := (oy-p[1])/s, (oy-q[1])/s // fractional rows, fa ≤ fb
			var ra, rb int
			if fa == fb {
				if math.Abs(fa-math.Round(fa)) < eps {
					continue // horizontal edge on a row boundary
				}
				ra, rb = int(math.Floor(fa)), int(math.Floor(fa))
			} else {
				ra, rb = int(math.Floor(fa+eps)), int(math.Ceil(fb-eps))-1
			}
			ra, rb = max(ra, r0), min(rb, r1)
			for row := ra; row <= rb; row++ {
				ytop, ybot := oy-float64(row)*s, oy-float64(row+1)*s
				x1, x2 := segXRange(p, q, ybot, ytop)
				a, z := cols(x1, x2)
				addSpan(row, a, z)
			}
		}
	}
	// interiors: tile centres inside the area
	var xs []float64
	for row := r0; row <= r1; row++ {
		yc := oy - (float64(row)+0.5)*s
		xs = xs[:0]
		for _, ring := range area.rings {
			for i := 0; i+1 < len(ring); i++ {
				p, q := ring[i], ring[i+1]
				if (p[1] > yc) != (q[1] > yc) {
					xs = append(xs, p[0]+(yc-p[1])*(q[0]-p[0])/(q[1]-p[1]))
				}
			}
		}
		sort.Float64s(xs)
		for i := 0; i+1 < len(xs); i += 2 {
			a := int(math.Ceil((xs[i]-ox)/s - 0.5))
			z := int(math.Floor((xs[i+1]-ox)/s - 0.5))
			addSpan(row, a, z)
		}
	}
	var out []rowCover
	for i, spans := range rows {
		if len(spans) == 0 {
			continue
		}
		out = append(out, rowCover{row: r0 + i, spans: mergeSpans(spans)})
	}
	return out
}

// segXRange returns the x extent of segment pq (p upper) within the band
// ybot ≤ y ≤ ytop.
func segXRange(p, q orb.Point, ybot, ytop float64) (float64, float64) {
	if p[1] == q[1] {
		return math.Min(p[0], q[0]), math.Max(p[0], q[0])
	}
	at := func(y float64) float64 { return p[0] + (y-p[1])*(q[0]-p[0])/(q[1]-p[1]) }
	yt, yb := math.Min(p[1], ytop), math.Max(q[1], ybot)
	xa, xb := at(yt), at(yb)
	if yt == p[1] {
		xa = p[0]
	}
	if yb == q[1] {
		xb = q[0]
	}
	return math.Min(xa, xb), math.Max(xa, xb)
}

func mergeSpans(spans [][2]int) [][2]int {
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	out := spans[:1]
	for _, sp := range spans[1:] {
		last := &out[len(out)-1]
		if sp[0] <= last[1]+1 {
			last[1] = max(last[1], sp[1])
		} else {
			out = append(out, sp)
		}
	}
	return out
}

// countCover returns the number of tiles in a cover for which keep is true
// (keep nil counts all).
func countCover(level int, cover []rowCover, keep func(tileKey) bool) int {
	n := 0
	for _, rc := range cover {
		for _, sp := range rc.spans {
			if keep == nil {
				n += sp[1] - sp[0] + 1
				continue
			}
			for c := sp[0]; c <= sp[1]; c++ {
				if keep(tileKey{level, rc.row, c}) {
					n++
				}
			}
		}
	}
	return n
}
