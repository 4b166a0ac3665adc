package features

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
)

// srParam parses an inSR/outSR/replicaSR parameter (wkid or SR JSON) into
// an EPSG code; empty gives def. Only 4326 and 3857 are supported.
func srParam(v string, def int) (int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	var epsg int
	if strings.HasPrefix(v, "{") {
		var sr arcgis.SpatialReference
		if err := json.Unmarshal([]byte(v), &sr); err != nil {
			return 0, fmt.Errorf("spatial reference: %w", err)
		}
		epsg = sr.EPSG()
	} else {
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("spatial reference %q: %w", v, err)
		}
		epsg = (&arcgis.SpatialReference{WKID: n}).EPSG()
	}
	if epsg != 4326 && epsg != 3857 {
		return 0, fmt.Errorf("spatial reference %s not supported (use 4326 or 3857/102100)", v)
	}
	return epsg, nil
}

// srJSON returns the wire spatial reference of an EPSG code.
func srJSON(epsg int) *arcgis.SpatialReference {
	if epsg == 4326 {
		return &arcgis.SpatialReference{WKID: 4326, LatestWKID: 4326}
	}
	return &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857}
}

// mapCoords returns a deep copy of g with every x/y passed through fn.
func mapCoords(g *arcgis.Geometry, fn func(x, y float64) (float64, float64)) *arcgis.Geometry {
	if g == nil {
		return nil
	}
	out := &arcgis.Geometry{HasZ: g.HasZ, HasM: g.HasM, Z: g.Z, M: g.M}
	pt := func(p []float64) []float64 {
		q := append([]float64(nil), p...)
		if len(q) >= 2 {
			q[0], q[1] = fn(p[0], p[1])
		}
		return q
	}
	if g.X != nil && g.Y != nil {
		x, y := fn(*g.X, *g.Y)
		out.X, out.Y = &x, &y
	}
	if g.XMin != nil && g.YMin != nil && g.XMax != nil && g.YMax != nil {
		x0, y0 := fn(*g.XMin, *g.YMin)
		x1, y1 := fn(*g.XMax, *g.YMax)
		out.XMin, out.YMin, out.XMax, out.YMax = &x0, &y0, &x1, &y1
	}
	if g.Points != nil {
		out.Points = make([][]float64, len(g.Points))
		for i, p := range g.Points {
			out.Points[i] = pt(p)
		}
	}
	out.Paths, out.Rings = mapParts(g.Paths, pt), mapParts(g.Rings, pt)
	return out
}

// mapParts returns a copy of paths or rings with every point passed
// through pt (nil stays nil).
func mapParts(parts [][][]float64, pt func([]float64) []float64) [][][]float64 {
	if parts == nil {
		return nil
	}
	out := make([][][]float64, len(parts))
	for i, part := range parts {
		out[i] = make([][]float64, len(part))
		for j, p := range part {
			out[i][j] = pt(p)
		}
	}
	return out
}

// toEPSG reprojects a geometry between 4326 and 3857.
func toEPSG(g *arcgis.Geometry, from, to int) *arcgis.Geometry {
	if g == nil || from == to {
		return g
	}
	if to == 4326 {
		return mapCoords(g, func(x, y float64) (float64, float64) {
			lon, lat := mercToWGS(x, y)
			return round6(lon*100) / 100, round6(lat*100) / 100 // 1e-8 degrees
		})
	}
	return mapCoords(g, wgsToMerc)
}

// geomSR returns the EPSG code of the geometry's own spatialReference, or def.
func geomSR(g *arcgis.Geometry, def int) int {
	if g != nil && g.SpatialReference != nil {
		if e := g.SpatialReference.EPSG(); e == 4326 || e == 3857 {
			return e
		}
	}
	return def
}

// spatialFilter is a query/replica geometry in Web Mercator: a set of
// rings (an envelope becomes one ring) or a single point.
type spatialFilter struct {
	bound orb.Bound
	rings []orb.Ring
	point *orb.Point
}

// parseGeometryParam reads the geometry parameter (JSON or
// "xmin,ymin,xmax,ymax" or "x,y") with its geometryType and SR.
func parseGeometryParam(v, geomType string, inSR int) (*spatialFilter, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var g arcgis.Geometry
	if strings.HasPrefix(v, "{") {
		if err := json.Unmarshal([]byte(v), &g); err != nil {
			return nil, fmt.Errorf("geometry: %w", err)
		}
		inSR = geomSR(&g, inSR)
	} else {
		parts := strings.Split(v, ",")
		var nums []float64
		for _, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil {
				return nil, fmt.Errorf("geometry %q: %w", v, err)
			}
			nums = append(nums, f)
		}
		switch len(nums) {
		case 4:
			g.XMin, g.YMin, g.XMax, g.YMax = &nums[0], &nums[1], &nums[2], &nums[3]
		case 2:
			g.X, g.Y = &nums[0], &nums[1]
		default:
			return nil, fmt.Errorf("geometry %q: want xmin,ymin,xmax,ymax", v)
		}
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	_ = geomType // the geometry's members say what it is
	m := toEPSG(&g, inSR, 3857)
	return filterFromGeometry(m)
}

// filterFromGeometry builds a filter from a Web Mercator geometry.
func filterFromGeometry(g *arcgis.Geometry) (*spatialFilter, error) {
	f := &spatialFilter{}
	switch g.Type() {
	case arcgis.GeometryEnvelope:
		b := orb.Bound{Min: orb.Point{*g.XMin, *g.YMin}, Max: orb.Point{*g.XMax, *g.YMax}}
		f.bound = b
		f.rings = []orb.Ring{b.ToRing()}
	case arcgis.GeometryPolygon:
		first := true
		for _, r := range g.Rings {
			ring := toRing(r)
			f.rings = append(f.rings, ring)
			if first {
				f.bound, first = ring.Bound(), false
			} else {
				f.bound = f.bound.Union(ring.Bound())
			}
		}
	case arcgis.GeometryPoint:
		p := orb.Point{*g.X, *g.Y}
		f.point, f.bound = &p, orb.Bound{Min: p, Max: p}
	default:
		return nil, fmt.Errorf("geometry type %s not supported as a filter", g.Type())
	}
	return f, nil
}

func toRing(r [][]float64) orb.Ring {
	ring := make(orb.Ring, 0, len(r))
	for _, p := range r {
		ring = append(ring, orb.Point{p[0], p[1]})
	}
	return ring
}

func toLine(r [][]float64) orb.LineString {
	return orb.LineString(toRing(r))
}

// geomBound returns the bound of an Esri geometry.
func geomBound(g *arcgis.Geometry) (orb.Bound, bool) {
	if g == nil {
		return orb.Bound{}, false
	}
	var b orb.Bound
	first := true
	add := func(x, y float64) {
		p := orb.Point{x, y}
		if first {
			b, first = orb.Bound{Min: p, Max: p}, false
		} else {
			b = b.Extend(p)
		}
	}
	if g.X != nil && g.Y != nil {
		add(*g.X, *g.Y)
	}
	for _, p := range g.Points {
		add(p[0], p[1])
	}
	for _, path := range g.Paths {
		for _, p := range path {
			add(p[0], p[1])
		}
	}
	for _, ring := range g.Rings {
		for _, p := range ring {
			add(p[0], p[1])
		}
	}
	return b, !first
}

// inRings reports whether p lies inside the even-odd union of rings.
func inRings(p orb.Point, rings []orb.Ring) bool {
	in := false
	for _, r := range rings {
		n := len(r)
		for i, j := 0, n-1; i < n; j, i = i, i+1 {
			a, b := r[i], r[j]
			if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0]-a[0])*(p[1]-a[1])/(b[1]-a[1])+a[0] {
				in = !in
			}
		}
	}
	return in
}

func segCross(p1, p2, q1, q2 orb.Point) bool {
	d := func(a, b, c orb.Point) float64 { return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0]) }
	d1, d2, d3, d4 := d(q1, q2, p1), d(q1, q2, p2), d(p1, p2, q1), d(p1, p2, q2)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	on := func(a, b, c orb.Point) bool {
		return min(a[0], b[0]) <= c[0] && c[0] <= max(a[0], b[0]) && min(a[1], b[1]) <= c[1] && c[1] <= max(a[1], b[1])
	}
	return d1 == 0 && on(q1, q2, p1) || d2 == 0 && on(q1, q2, p2) || d3 == 0 && on(p1, p2, q1) || d4 == 0 && on(p1, p2, q2)
}

// intersects tests a Web Mercator feature geometry against the filter
// exactly (esriSpatialRelIntersects): vertex containment both ways and
// edge crossings.
func (f *spatialFilter) intersects(g *arcgis.Geometry) bool {
	if f == nil {
		return true
	}
	gb, ok := geomBound(g)
	if !ok || !gb.Intersects(f.bound) {
		return false
	}
	if f.point != nil {
		switch {
		case g.Rings != nil:
			var rings []orb.Ring
			for _, r := range g.Rings {
				rings = append(rings, toRing(r))
			}
			return inRings(*f.point, rings)
		case g.X != nil:
			return *g.X == f.point[0] && *g.Y == f.point[1]
		}
		return true // lines: bound test only
	}
	var pts []orb.Point
	var lines []orb.LineString
	if g.X != nil && g.Y != nil {
		pts = append(pts, orb.Point{*g.X, *g.Y})
	}
	for _, p := range g.Points {
		pts = append(pts, orb.Point{p[0], p[1]})
	}
	for _, path := range g.Paths {
		lines = append(lines, toLine(path))
	}
	var rings []orb.Ring
	for _, r := range g.Rings {
		ring := toRing(r)
		rings = append(rings, ring)
		lines = append(lines, orb.LineString(ring))
	}
	for _, p := range pts {
		if inRings(p, f.rings) {
			return true
		}
	}
	for _, l := range lines {
		if len(l) > 0 && inRings(l[0], f.rings) {
			return true
		}
	}
	if len(rings) > 0 {
		for _, fr := range f.rings {
			if len(fr) > 0 && inRings(fr[0], rings) {
				return true
			}
		}
	}
	for _, l := range lines {
		for i := 1; i < len(l); i++ {
			for _, fr := range f.rings {
				for j := 1; j < len(fr); j++ {
					if segCross(l[i-1], l[i], fr[j-1], fr[j]) {
						return true
					}
				}
			}
		}
	}
	return false
}

// ringArea2 is twice the signed area (positive = counter-clockwise).
func ringArea2(r [][]float64) float64 { return 2 * arcgis.RingArea(r) }

// esriToOrb converts an Esri geometry to orb (polygons: clockwise rings
// are outers, counter-clockwise rings holes of the outer containing them).
func esriToOrb(g *arcgis.Geometry) orb.Geometry {
	switch g.Type() {
	case arcgis.GeometryPoint:
		return orb.Point{*g.X, *g.Y}
	case arcgis.GeometryMultipoint:
		mp := orb.MultiPoint{}
		for _, p := range g.Points {
			mp = append(mp, orb.Point{p[0], p[1]})
		}
		return mp
	case arcgis.GeometryPolyline:
		if len(g.Paths) == 1 {
			return toLine(g.Paths[0])
		}
		ml := orb.MultiLineString{}
		for _, p := range g.Paths {
			ml = append(ml, toLine(p))
		}
		return ml
	case arcgis.GeometryPolygon:
		var mp orb.MultiPolygon
		var holes []orb.Ring
		for _, r := range g.Rings {
			ring := toRing(r)
			if ringArea2(r) <= 0 { // clockwise: outer (GeoJSON wants CCW outers)
				ring.Reverse()
				mp = append(mp, orb.Polygon{ring})
			} else {
				ring.Reverse()
				holes = append(holes, ring)
			}
		}
		for _, h := range holes {
			for i := range mp {
				if len(h) > 0 && inRings(h[0], []orb.Ring{mp[i][0]}) {
					mp[i] = append(mp[i], h)
					break
				}
			}
		}
		if len(mp) == 1 {
			return mp[0]
		}
		return mp
	case arcgis.GeometryEnvelope:
		return orb.Bound{Min: orb.Point{*g.XMin, *g.YMin}, Max: orb.Point{*g.XMax, *g.YMax}}.ToPolygon()
	}
	return nil
}
