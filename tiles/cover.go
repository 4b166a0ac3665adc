package tiles

import (
	"fmt"
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// Span is a run of tiles in one row: columns Col0..Col1 inclusive.
type Span struct {
	Row, Col0, Col1 int
}

// LevelCover is the set of tiles of one level that an AOI touches, as
// row-ordered, non-overlapping spans.
type LevelCover struct {
	Level int
	Spans []Span
}

// Count returns the number of tiles in the cover.
func (c LevelCover) Count() int64 {
	var n int64
	for _, s := range c.Spans {
		n += int64(s.Col1 - s.Col0 + 1)
	}
	return n
}

// Each calls fn for every tile in row-major order until fn returns false.
func (c LevelCover) Each(fn func(row, col int) bool) {
	for _, s := range c.Spans {
		for col := s.Col0; col <= s.Col1; col++ {
			if !fn(s.Row, col) {
				return
			}
		}
	}
}

// Contains reports whether tile (row, col) is in the cover.
func (c LevelCover) Contains(row, col int) bool {
	i := sort.Search(len(c.Spans), func(i int) bool {
		s := c.Spans[i]
		return s.Row > row || (s.Row == row && s.Col1 >= col)
	})
	return i < len(c.Spans) && c.Spans[i].Row == row && c.Spans[i].Col0 <= col
}

// CoverOptions tunes Cover.
type CoverOptions struct {
	// Buffer widens the area by this distance in metres (or in the scheme's
	// units when the scheme is neither Web Mercator nor WGS84) on every side.
	// The widening is square: a tile is kept when it lies within Buffer of the
	// area along both axes.
	Buffer float64
}

// Cover returns, for each requested level, the tiles of the scheme whose
// interior meets the AOI's polygons (holes excluded, parts unioned). Areas
// crossing the antimeridian are split first; columns are clamped to the grid.
func Cover(s *Scheme, a AOI, levels []int, opt CoverOptions) ([]LevelCover, error) {
	epsg := 0
	if s.Info.SpatialReference != nil {
		epsg = s.Info.SpatialReference.EPSG()
	}
	if epsg == 0 {
		epsg = a.EPSG
	}
	mp, err := a.projectTo(epsg)
	if err != nil {
		return nil, err
	}
	buf := opt.Buffer
	if buf > 0 && epsg == 3857 {
		// Web Mercator stretches by 1/cos(lat): scale metres at the AOI's centre latitude.
		b, _ := a.WGS84Bounds()
		lat := (b.Min[1] + b.Max[1]) / 2
		buf /= math.Cos(lat * math.Pi / 180)
	} else if buf > 0 && epsg == 4326 {
		buf /= 111320.0
	}
	out := make([]LevelCover, 0, len(levels))
	for _, lv := range levels {
		w, h, ok := s.TileSpan(lv)
		if !ok {
			return nil, fmt.Errorf("cover: level %d is not in the tiling scheme", lv)
		}
		ncols, nrows := s.GridSize(lv)
		rows := map[int][][2]int{}
		for _, poly := range mp {
			coverPolygon(poly, s.Info.Origin.X, s.Info.Origin.Y, w, h, buf/w, buf/h, ncols, nrows, rows)
		}
		out = append(out, LevelCover{Level: lv, Spans: mergeRows(rows)})
	}
	return out, nil
}

type edge struct{ u1, v1, u2, v2 float64 }

// coverPolygon adds to rows the column intervals of the tiles whose open
// rectangle, widened by du/dv grid units, meets the polygon (even-odd rings).
func coverPolygon(poly orb.Polygon, ox, oy, w, h, du, dv float64, ncols, nrows int, rows map[int][][2]int) {
	var edges []edge
	vmin, vmax := math.Inf(1), math.Inf(-1)
	for _, r := range poly {
		n := len(r)
		if n > 1 && r[0] == r[n-1] {
			n--
		}
		if n < 3 {
			continue
		}
		for i := 0; i < n; i++ {
			p, q := r[i], r[(i+1)%n]
			e := edge{(p[0] - ox) / w, (oy - p[1]) / h, (q[0] - ox) / w, (oy - q[1]) / h}
			edges = append(edges, e)
			vmin = math.Min(vmin, math.Min(e.v1, e.v2))
			vmax = math.Max(vmax, math.Max(e.v1, e.v2))
		}
	}
	if len(edges) == 0 {
		return
	}
	r0 := int(math.Floor(vmin - dv))
	r1 := int(math.Ceil(vmax+dv)) - 1
	if r0 < 0 {
		r0 = 0
	}
	if nrows > 0 && r1 > nrows-1 {
		r1 = nrows - 1
	}
	// Sort edges by their top so each row only scans edges that can reach it.
	sort.Slice(edges, func(i, j int) bool {
		return math.Min(edges[i].v1, edges[i].v2) < math.Min(edges[j].v1, edges[j].v2)
	})
	var ivs [][2]float64
	var xs []float64
	for row := r0; row <= r1; row++ {
		a, b := float64(row)-dv, float64(row+1)+dv // open strip (a, b)
		ivs = ivs[:0]
		for _, e := range edges {
			lo, hi := math.Min(e.v1, e.v2), math.Max(e.v1, e.v2)
			if lo >= b {
				break
			}
			if hi <= a {
				continue
			}
			// Portion of the edge inside the strip.
			if e.v1 == e.v2 {
				ivs = append(ivs, [2]float64{math.Min(e.u1, e.u2), math.Max(e.u1, e.u2)})
				continue
			}
			t0 := (math.Max(a, lo) - e.v1) / (e.v2 - e.v1)
			t1 := (math.Min(b, hi) - e.v1) / (e.v2 - e.v1)
			x0 := e.u1 + t0*(e.u2-e.u1)
			x1 := e.u1 + t1*(e.u2-e.u1)
			ivs = append(ivs, [2]float64{math.Min(x0, x1), math.Max(x0, x1)})
		}
		// Inside intervals just within each strip boundary.
		for _, y := range [2]float64{a, b} {
			xs = xs[:0]
			below := y == a
			for _, e := range edges {
				lo, hi := math.Min(e.v1, e.v2), math.Max(e.v1, e.v2)
				if lo > y {
					break
				}
				var hit bool
				if below {
					hit = lo <= y && y < hi
				} else {
					hit = lo < y && y <= hi
				}
				if hit {
					t := (y - e.v1) / (e.v2 - e.v1)
					xs = append(xs, e.u1+t*(e.u2-e.u1))
				}
			}
			sort.Float64s(xs)
			for i := 0; i+1 < len(xs); i += 2 {
				ivs = append(ivs, [2]float64{xs[i], xs[i+1]})
			}
		}
		for _, iv := range ivs {
			lo, hi := iv[0]-du, iv[1]+du
			if !(hi > lo) && du == 0 {
				continue
			}
			c0 := int(math.Floor(lo))
			c1 := int(math.Ceil(hi)) - 1
			if c1 < c0 {
				c1 = c0
			}
			if c0 < 0 {
				c0 = 0
			}
			if ncols > 0 && c1 > ncols-1 {
				c1 = ncols - 1
			}
			if c1 < c0 {
				continue
			}
			rows[row] = append(rows[row], [2]int{c0, c1})
		}
	}
}

func mergeRows(rows map[int][][2]int) []Span {
	keys := make([]int, 0, len(rows))
	for r := range rows {
		keys = append(keys, r)
	}
	sort.Ints(keys)
	var out []Span
	for _, r := range keys {
		iv := rows[r]
		sort.Slice(iv, func(i, j int) bool { return iv[i][0] < iv[j][0] })
		cur := iv[0]
		for _, x := range iv[1:] {
			if x[0] <= cur[1]+1 {
				cur[1] = max(cur[1], x[1])
				continue
			}
			out = append(out, Span{r, cur[0], cur[1]})
			cur = x
		}
		out = append(out, Span{r, cur[0], cur[1]})
	}
	return out
}
