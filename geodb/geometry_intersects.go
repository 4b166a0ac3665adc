package geodb

// Geometry predicates for exact intersects tests.

// Intersects reports whether a and b share at least one point (2D).
func Intersects(a, b *Geom) bool {
	if a.IsEmpty() || b.IsEmpty() {
		return false
	}
	ax0, ax1, ay0, ay1, _ := a.Bounds()
	bx0, bx1, by0, by1, _ := b.Bounds()
	if ax1 < bx0 || bx1 < ax0 || ay1 < by0 || by1 < ay0 {
		return false
	}
	sa, sb := segments(a), segments(b)
	for _, s := range sa {
		for _, t := range sb {
			if segsIntersect(s[0], s[1], t[0], t[1]) {
				return true
			}
		}
	}
	// Containment: any vertex of one inside (or on) the other.
	if anyVertexIn(a, b) || anyVertexIn(b, a) {
		return true
	}
	return false
}

func segments(g *Geom) [][2][]float64 {
	var out [][2][]float64
	add := func(ps [][]float64) {
		if len(ps) == 1 {
			out = append(out, [2][]float64{ps[0], ps[0]})
		}
		for i := 0; i+1 < len(ps); i++ {
			out = append(out, [2][]float64{ps[i], ps[i+1]})
		}
	}
	for _, p := range g.Points {
		add([][]float64{p})
	}
	for _, l := range g.Lines {
		add(l)
	}
	for _, poly := range g.Polys {
		for _, r := range poly {
			add(r)
		}
	}
	return out
}

// anyVertexIn reports whether some vertex of a lies in the area of polygonal b.
func anyVertexIn(a, b *Geom) bool {
	if len(b.Polys) == 0 {
		return false
	}
	test := func(p []float64) bool {
		for _, poly := range b.Polys {
			if len(poly) == 0 || !pointInRing(p[0], p[1], poly[0]) {
				continue
			}
			inHole := false
			for _, h := range poly[1:] {
				if pointInRing(p[0], p[1], h) {
					inHole = true
					break
				}
			}
			if !inHole {
				return true
			}
		}
		return false
	}
	for _, s := range segments(a) {
		if test(s[0]) {
			return true
		}
	}
	return false
}

func orient(a, b, c []float64) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func segsIntersect(p1, p2, q1, q2 []float64) bool {
	d1, d2 := orient(q1, q2, p1), orient(q1, q2, p2)
	d3, d4 := orient(p1, p2, q1), orient(p1, p2, q2)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && onSegment(p1[0], p1[1], q1, q2)) || (d2 == 0 && onSegment(p2[0], p2[1], q1, q2)) ||
		(d3 == 0 && onSegment(q1[0], q1[1], p1, p2)) || (d4 == 0 && onSegment(q2[0], q2[1], p1, p2))
}

// boxGeom returns the polygon of an envelope.
func boxGeom(minx, miny, maxx, maxy float64) *Geom {
	return &Geom{Type: GeomPolygon, Polys: [][][][]float64{{{{minx, miny}, {minx, maxy}, {maxx, maxy}, {maxx, miny}, {minx, miny}}}}}
}
