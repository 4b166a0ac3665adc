package geodb

import (
	"fmt"
	"math"

	"github.com/offlined/offlined/internal/arcgis"
)

// Esri JSON ⇄ Geom

// FromEsri converts an Esri JSON geometry into a Geom with the given
// dimensions (the layer's hasZ/hasM): missing z and m values become 0. Polylines become MultiLineStrings; polygons become
// MultiPolygons with rings grouped into exteriors (clockwise, as Esri writes
// them) and holes by orientation and containment. An envelope becomes a
// one-ring polygon. A nil or empty geometry returns nil.
func FromEsri(eg *arcgis.Geometry, hasZ, hasM bool) (*Geom, error) {
	if eg == nil || eg.Type() == "" {
		return nil, nil
	}
	if eg.Type() != arcgis.GeometryPoint && eg.Type() != arcgis.GeometryEnvelope && eg.IsEmpty() {
		return nil, nil
	}
	if err := eg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadGeometry, err)
	}
	g := &Geom{HasZ: hasZ, HasM: hasM}
	// map reads an Esri coordinate array (x,y[,z][,m] per eg's flags) into g's dims.
	srcZ, srcM := eg.HasZ, eg.HasM
	conv := func(p []float64) ([]float64, error) {
		// Esri tolerates extra values when hasZ/hasM are absent: [x,y,z] means z.
		sz, sm := srcZ, srcM
		if !sz && !sm {
			switch len(p) {
			case 3:
				sz = true
			case 4:
				sz, sm = true, true
			}
		}
		out := make([]float64, g.Dims())
		out[0], out[1] = p[0], p[1]
		i, o := 2, 2
		var z, m = 0.0, 0.0
		if sz && i < len(p) {
			z = p[i]
			i++
		}
		if sm && i < len(p) {
			m = p[i]
		}
		if hasZ {
			out[o] = z
			o++
		}
		if hasM {
			out[o] = m
		}
		for _, v := range out[:2] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, geomErr("coordinate is not finite")
			}
		}
		return out, nil
	}
	convAll := func(ps [][]float64) ([][]float64, error) {
		out := make([][]float64, len(ps))
		for i, p := range ps {
			c, err := conv(p)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	switch eg.Type() {
	case arcgis.GeometryPoint:
		p := []float64{*eg.X, *eg.Y}
		srcZ, srcM = eg.Z != nil, eg.M != nil
		if eg.Z != nil {
			p = append(p, *eg.Z)
		}
		if eg.M != nil {
			p = append(p, *eg.M)
		}
		c, err := conv(p)
		if err != nil {
			return nil, err
		}
		g.Type, g.Points = GeomPoint, [][]float64{c}
	case arcgis.GeometryMultipoint:
		c, err := convAll(eg.Points)
		if err != nil {
			return nil, err
		}
		g.Type, g.Points = GeomMultiPoint, c
	case arcgis.GeometryPolyline:
		g.Type = GeomMultiLineString
		for _, path := range eg.Paths {
			c, err := convAll(path)
			if err != nil {
				return nil, err
			}
			g.Lines = append(g.Lines, c)
		}
	case arcgis.GeometryPolygon:
		g.Type = GeomMultiPolygon
		rings := make([][][]float64, 0, len(eg.Rings))
		for _, r := range eg.Rings {
			c, err := convAll(r)
			if err != nil {
				return nil, err
			}
			if !ringClosed(c) {
				c = append(c, append([]float64(nil), c[0]...))
			}
			rings = append(rings, c)
		}
		g.Polys = groupRings(rings)
	case arcgis.GeometryEnvelope:
		x0, y0, x1, y1 := *eg.XMin, *eg.YMin, *eg.XMax, *eg.YMax
		r, err := convAll([][]float64{{x0, y0}, {x0, y1}, {x1, y1}, {x1, y0}, {x0, y0}})
		if err != nil {
			return nil, err
		}
		g.Type, g.Polys = GeomMultiPolygon, [][][][]float64{{r}}
	}
	return g, nil
}

func ringClosed(r [][]float64) bool {
	a, b := r[0], r[len(r)-1]
	return a[0] == b[0] && a[1] == b[1]
}

// signedArea2 is twice the signed area: positive for counter-clockwise rings.
func signedArea2(r [][]float64) float64 { return 2 * arcgis.RingArea(r) }

// pointInRing is the even-odd test.
func pointInRing(x, y float64, r [][]float64) bool {
	in := false
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		xi, yi, xj, yj := r[i][0], r[i][1], r[j][0], r[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// groupRings splits Esri rings into polygons: clockwise rings are exteriors,
// counter-clockwise rings are holes of the smallest exterior containing them;
// a hole no exterior contains becomes an exterior itself. Ring order and
// orientation are kept, so the Esri JSON can be restored exactly.
func groupRings(rings [][][]float64) [][][][]float64 {
	type ext struct {
		idx  int
		area float64
	}
	var exts []ext
	isExt := make([]bool, len(rings))
	for i, r := range rings {
		if a := signedArea2(r); a <= 0 {
			isExt[i] = true
			exts = append(exts, ext{i, -a})
		}
	}
	holesOf := map[int][]int{}
	for i, r := range rings {
		if isExt[i] {
			continue
		}
		best := -1
		for _, e := range exts {
			if ringInside(r, rings[e.idx]) && (best < 0 || e.area < exts[best].area) {
				for k := range exts {
					if exts[k].idx == e.idx {
						best = k
					}
				}
			}
		}
		if best < 0 {
			isExt[i] = true
			continue
		}
		holesOf[exts[best].idx] = append(holesOf[exts[best].idx], i)
	}
	var out [][][][]float64
	for i, r := range rings {
		if !isExt[i] {
			continue
		}
		poly := [][][]float64{r}
		for _, h := range holesOf[i] {
			poly = append(poly, rings[h])
		}
		out = append(out, poly)
	}
	return out
}

// ringInside reports whether ring a lies inside ring b, judged by the first
// vertex of a that is not on b's boundary (vertices tested in order).
func ringInside(a, b [][]float64) bool {
	for _, p := range a {
		if !onBoundary(p[0], p[1], b) {
			return pointInRing(p[0], p[1], b)
		}
	}
	return false
}

func onBoundary(x, y float64, r [][]float64) bool {
	for i := 0; i+1 < len(r); i++ {
		if onSegment(x, y, r[i], r[i+1]) {
			return true
		}
	}
	return false
}

func onSegment(x, y float64, a, b []float64) bool {
	cross := (b[0]-a[0])*(y-a[1]) - (b[1]-a[1])*(x-a[0])
	if cross != 0 {
		return false
	}
	return math.Min(a[0], b[0]) <= x && x <= math.Max(a[0], b[0]) && math.Min(a[1], b[1]) <= y && y <= math.Max(a[1], b[1])
}

// ToEsri converts a Geom to Esri JSON. Polygon exteriors come out clockwise
// and holes counter-clockwise (reversed where needed, e.g. for rings QGIS
// wrote). A nil or empty geometry returns nil.
func ToEsri(g *Geom) *arcgis.Geometry {
	if g.IsEmpty() {
		return nil
	}
	eg := &arcgis.Geometry{HasZ: g.HasZ, HasM: g.HasM}
	cp := func(p []float64) []float64 {
		out := append([]float64(nil), p...)
		for i := 2; i < len(out); i++ {
			if math.IsNaN(out[i]) { // other writers use NaN for "no measure"; JSON cannot carry it
				out[i] = 0
			}
		}
		return out
	}
	all := func(ps [][]float64) [][]float64 {
		out := make([][]float64, len(ps))
		for i, p := range ps {
			out[i] = cp(p)
		}
		return out
	}
	switch g.Type {
	case GeomPoint:
		p := g.Points[0]
		x, y := p[0], p[1]
		eg.X, eg.Y = &x, &y
		i := 2
		if g.HasZ {
			z := p[i]
			eg.Z = &z
			i++
		}
		if g.HasM && !math.IsNaN(p[i]) {
			m := p[i]
			eg.M = &m
		}
		eg.HasZ, eg.HasM = false, false
	case GeomMultiPoint:
		eg.Points = all(g.Points)
	case GeomLineString, GeomMultiLineString:
		eg.Paths = make([][][]float64, 0, len(g.Lines))
		for _, l := range g.Lines {
			eg.Paths = append(eg.Paths, all(l))
		}
	case GeomPolygon, GeomMultiPolygon:
		eg.Rings = [][][]float64{}
		for _, poly := range g.Polys {
			for i, r := range poly {
				rr := all(r)
				a := signedArea2(rr)
				if (i == 0 && a > 0) || (i > 0 && a < 0) {
					for l, h := 0, len(rr)-1; l < h; l, h = l+1, h-1 {
						rr[l], rr[h] = rr[h], rr[l]
					}
				}
				eg.Rings = append(eg.Rings, rr)
			}
		}
	}
	return eg
}
