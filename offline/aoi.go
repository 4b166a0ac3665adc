package offline

import (
	"fmt"
	"math"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// AOI is a validated area of interest ready for requests.
type AOI struct {
	// Geometry is an Esri polygon in SR with closed rings. An area that
	// crosses the antimeridian is split there into rings on each side, all
	// inside the world's x range, so servers that do not understand
	// crossing geometries get valid input.
	Geometry *arcgis.Geometry
	// SR is the area's spatial reference.
	SR *arcgis.SpatialReference
	// CrossesAntimeridian is true when the area was split.
	CrossesAntimeridian bool
}

// Envelope returns the bounding box of the area's rings (for an area split
// at the antimeridian, of all parts: use Parts for tile covers).
func (a *AOI) Envelope() arcgis.Envelope {
	b := ringsBound(a.Geometry.Rings)
	sr := *a.SR
	return arcgis.Envelope{XMin: b.Min[0], YMin: b.Min[1], XMax: b.Max[0], YMax: b.Max[1], SpatialReference: &sr}
}

// WGS84 returns the area as lon/lat polygons (one per ring that is an outer
// ring, holes attached), for tile covers. Only WGS84 and Web Mercator areas
// convert; other references return an error.
func (a *AOI) WGS84() (orb.MultiPolygon, error) {
	var conv func(x, y float64) orb.Point
	switch {
	case a.SR.IsWGS84():
		conv = func(x, y float64) orb.Point { return orb.Point{x, y} }
	case a.SR.IsWebMercator():
		conv = MercatorToLonLat
	default:
		return nil, &ValidationError{Code: ErrAOISpatialReference, Message: fmt.Sprintf("area of interest: spatial reference %s cannot be converted to WGS84", srText(a.SR))}
	}
	var mp orb.MultiPolygon
	for _, r := range a.Geometry.Rings {
		ring := make(orb.Ring, len(r))
		for i, p := range r {
			ring[i] = conv(p[0], p[1])
		}
		// Esri outer rings are clockwise (negative signed area in a y-up
		// plane); holes counter-clockwise.
		if arcgis.RingArea(r) <= 0 || len(mp) == 0 {
			mp = append(mp, orb.Polygon{ring})
		} else {
			mp[len(mp)-1] = append(mp[len(mp)-1], ring)
		}
	}
	return mp, nil
}

// MercatorToLonLat converts Web Mercator metres to WGS84 degrees
// (tiles.ToWGS84).
func MercatorToLonLat(x, y float64) orb.Point {
	lon, lat := tiles.ToWGS84(x, y)
	return orb.Point{lon, lat}
}

// LonLatToMercator converts WGS84 degrees to Web Mercator metres (latitude
// clamped to ±85.05112878°; tiles.ToMercator).
func LonLatToMercator(lon, lat float64) (x, y float64) {
	return tiles.ToMercator(lon, lat)
}

func srText(sr *arcgis.SpatialReference) string {
	if sr == nil {
		return "(none)"
	}
	if sr.EPSG() != 0 {
		return fmt.Sprintf("wkid %d", sr.EPSG())
	}
	return "WKT"
}

// sameSR reports whether two references are the same.
func sameSR(a, b *arcgis.SpatialReference) bool {
	if a == nil || b == nil {
		return false
	}
	if a.EPSG() != 0 || b.EPSG() != 0 {
		return a.EPSG() == b.EPSG()
	}
	return a.WKT != "" && a.WKT == b.WKT
}

// PrepareAOI validates an area of interest and returns it as a polygon.
// The area is a polygon or an envelope in WGS84, Web Mercator or mapSR (the
// geometry's own spatialReference, else mapSR). It must have an area, finite
// coordinates (latitudes within ±90 in WGS84) and rings that do not
// intersect themselves or each other.
//
// Crossing the antimeridian: an envelope with xmin > xmax, coordinates past
// ±180° (±20037508 m), or a ring edge longer than half the world are read as
// crossing; such areas are split at the antimeridian.
func PrepareAOI(g *arcgis.Geometry, mapSR *arcgis.SpatialReference) (*AOI, error) {
	if g == nil {
		return nil, &ValidationError{Code: ErrAOIEmpty, Message: "area of interest: missing"}
	}
	sr := g.SpatialReference
	if sr == nil {
		sr = mapSR
	}
	if sr == nil {
		return nil, &ValidationError{Code: ErrAOISpatialReference, Message: "area of interest: no spatial reference, and the web map has none"}
	}
	if !sr.IsWGS84() && !sr.IsWebMercator() && !sameSR(sr, mapSR) {
		return nil, &ValidationError{Code: ErrAOISpatialReference, Message: fmt.Sprintf("area of interest: spatial reference %s is neither WGS84, Web Mercator nor the map's (%s)", srText(sr), srText(mapSR))}
	}
	world := 0.0
	switch {
	case sr.IsWGS84():
		world = 360
	case sr.IsWebMercator():
		world = 2 * tiles.MercatorHalfWorld
	}

	var rings [][][2]float64
	switch g.Type() {
	case arcgis.GeometryEnvelope:
		xmin, ymin, xmax, ymax := *g.XMin, *g.YMin, *g.XMax, *g.YMax
		for _, v := range []float64{xmin, ymin, xmax, ymax} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &ValidationError{Code: ErrAOIInvalid, Message: "area of interest: envelope has a non-finite coordinate"}
			}
		}
		if world > 0 && xmin > xmax {
			xmax += world // crosses the antimeridian
		}
		if xmin >= xmax || ymin >= ymax {
			return nil, &ValidationError{Code: ErrAOIEmpty, Message: fmt.Sprintf("area of interest: envelope [%g %g, %g %g] has no area", xmin, ymin, xmax, ymax)}
		}
		// Clockwise, as Esri outer rings are.
		rings = [][][2]float64{{{xmin, ymin}, {xmin, ymax}, {xmax, ymax}, {xmax, ymin}, {xmin, ymin}}}
	case arcgis.GeometryPolygon:
		if len(g.Rings) == 0 {
			return nil, &ValidationError{Code: ErrAOIEmpty, Message: "area of interest: polygon has no rings"}
		}
		for i, r := range g.Rings {
			var ring [][2]float64
			for j, p := range r {
				if len(p) < 2 || math.IsNaN(p[0]) || math.IsNaN(p[1]) || math.IsInf(p[0], 0) || math.IsInf(p[1], 0) {
					return nil, &ValidationError{Code: ErrAOIInvalid, Message: fmt.Sprintf("area of interest: ring %d point %d is not a finite x,y pair", i, j)}
				}
				pt := [2]float64{p[0], p[1]}
				if len(ring) > 0 && ring[len(ring)-1] == pt {
					continue // repeated vertex
				}
				ring = append(ring, pt)
			}
			if len(ring) > 1 && ring[0] == ring[len(ring)-1] {
				ring = ring[:len(ring)-1]
			}
			if len(ring) < 3 {
				return nil, &ValidationError{Code: ErrAOIInvalid, Message: fmt.Sprintf("area of interest: ring %d has %d distinct points, want at least 3", i, len(ring))}
			}
			if world > 0 {
				unwrapRing(ring, world)
			}
			ring = append(ring, ring[0])
			rings = append(rings, ring)
		}
	case "":
		return nil, &ValidationError{Code: ErrAOIEmpty, Message: "area of interest: geometry has no coordinates"}
	default:
		return nil, &ValidationError{Code: ErrAOIInvalid, Message: fmt.Sprintf("area of interest: %s is not a polygon or envelope", g.Type())}
	}

	// Bring the whole area so that its west edge lies in the world.
	if world > 0 {
		b := ringsBound2(rings)
		if b.Max[0]-b.Min[0] > world {
			return nil, &ValidationError{Code: ErrAOIInvalid, Message: "area of interest: wider than the world"}
		}
		shift := -math.Floor((b.Min[0]+world/2)/world) * world
		if shift != 0 {
			for _, r := range rings {
				for i := range r {
					r[i][0] += shift
				}
			}
		}
	}
	if sr.IsWGS84() {
		for i, r := range rings {
			for _, p := range r {
				if p[1] < -90 || p[1] > 90 {
					return nil, &ValidationError{Code: ErrAOIInvalid, Message: fmt.Sprintf("area of interest: ring %d latitude %g outside ±90", i, p[1])}
				}
			}
		}
	}
	for i, r := range rings {
		if allCollinear(r) {
			return nil, &ValidationError{Code: ErrAOIEmpty, Message: fmt.Sprintf("area of interest: ring %d has no area (its points are on one line)", i)}
		}
	}
	if err := checkSelfIntersection(rings); err != nil {
		return nil, err
	}
	for i, r := range rings {
		if arcgis.RingArea(r) == 0 {
			return nil, &ValidationError{Code: ErrAOIEmpty, Message: fmt.Sprintf("area of interest: ring %d has no area", i)}
		}
	}

	out := &AOI{SR: sr}
	var parts [][][2]float64
	if world > 0 && ringsBound2(rings).Max[0] > world/2 {
		out.CrossesAntimeridian = true
		for _, r := range rings {
			west := clipX(r, world/2, true)
			east := clipX(r, world/2, false)
			for i := range east {
				east[i][0] -= world
			}
			for _, part := range [][][2]float64{west, east} {
				if len(part) >= 4 && arcgis.RingArea(part) != 0 {
					parts = append(parts, part)
				}
			}
		}
	} else {
		parts = rings
	}
	geom := &arcgis.Geometry{SpatialReference: sr}
	for _, r := range parts {
		if world > 0 {
			r = densifyX(r, world/2)
		}
		ring := make([][]float64, len(r))
		for i, p := range r {
			ring[i] = []float64{p[0], p[1]}
		}
		geom.Rings = append(geom.Rings, ring)
	}
	out.Geometry = geom
	return out, nil
}

// unwrapRing shifts vertices after an edge longer than half the world by
// the world's width so the ring is continuous across the antimeridian. An
// edge spanning the whole world or more (the -180 → 180 side of a
// whole-world box) never crosses: unwrapping it would collapse it.
func unwrapRing(r [][2]float64, world float64) {
	offset := 0.0
	prev := r[0][0]
	for i := 1; i < len(r); i++ {
		raw := r[i][0]
		dx := raw - prev
		prev = raw
		if math.Abs(dx) < world {
			offset += tiles.WrapShift(dx, world)
		}
		r[i][0] = raw + offset
	}
}

// densifyX inserts vertices so that no edge of r is longer than max in x.
// A prepared area wider than half the world (up to the whole world) then
// reads the same when it is prepared again: an edge longer than half the
// world would otherwise be taken for an antimeridian crossing.
func densifyX(r [][2]float64, max float64) [][2]float64 {
	long := false
	for i := 1; i < len(r); i++ {
		if math.Abs(r[i][0]-r[i-1][0]) >= max {
			long = true
			break
		}
	}
	if !long {
		return r
	}
	out := make([][2]float64, 0, len(r)+4)
	for i := 0; i < len(r); i++ {
		if i > 0 {
			a, b := r[i-1], r[i]
			n := int(math.Floor(math.Abs(b[0]-a[0])/max)) + 1
			for k := 1; k < n; k++ {
				t := float64(k) / float64(n)
				out = append(out, [2]float64{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])})
			}
		}
		out = append(out, r[i])
	}
	return out
}

// clipX clips a closed ring to x <= c (west) or x >= c (east) with
// Sutherland–Hodgman; the result is closed, or nil when nothing is left.
func clipX(r [][2]float64, c float64, west bool) [][2]float64 {
	inside := func(p [2]float64) bool {
		if west {
			return p[0] <= c
		}
		return p[0] >= c
	}
	var out [][2]float64
	n := len(r) - 1 // r is closed
	for i := 0; i < n; i++ {
		a, b := r[i], r[i+1]
		ain, bin := inside(a), inside(b)
		if ain {
			out = append(out, a)
		}
		if ain != bin {
			t := (c - a[0]) / (b[0] - a[0])
			out = append(out, [2]float64{c, a[1] + t*(b[1]-a[1])})
		}
	}
	if len(out) < 3 {
		return nil
	}
	return append(out, out[0])
}

// allCollinear reports a ring whose points all lie on one line.
func allCollinear(r [][2]float64) bool {
	for i := 2; i < len(r); i++ {
		if orient(r[0], r[1], r[i]) != 0 {
			return false
		}
	}
	return true
}

func ringsBound(rings [][][]float64) orb.Bound {
	b := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for _, r := range rings {
		for _, p := range r {
			b = b.Extend(orb.Point{p[0], p[1]})
		}
	}
	return b
}

func ringsBound2(rings [][][2]float64) orb.Bound {
	b := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for _, r := range rings {
		for _, p := range r {
			b = b.Extend(orb.Point(p))
		}
	}
	return b
}

// segment is one ring edge.
type segment struct {
	a, b       [2]float64
	ring, idx  int
	ringLength int
}

// checkSelfIntersection reports rings whose edges cross or touch, other
// than consecutive edges meeting at their shared vertex. Closed rings
// without repeated vertices are expected.
func checkSelfIntersection(rings [][][2]float64) error {
	var segs []segment
	for ri, r := range rings {
		n := len(r) - 1
		for i := 0; i < n; i++ {
			segs = append(segs, segment{a: r[i], b: r[i+1], ring: ri, idx: i, ringLength: n})
		}
	}
	for i := 0; i < len(segs); i++ {
		s := segs[i]
		sminx, smaxx := math.Min(s.a[0], s.b[0]), math.Max(s.a[0], s.b[0])
		sminy, smaxy := math.Min(s.a[1], s.b[1]), math.Max(s.a[1], s.b[1])
		for j := i + 1; j < len(segs); j++ {
			u := segs[j]
			if math.Max(u.a[0], u.b[0]) < sminx || math.Min(u.a[0], u.b[0]) > smaxx ||
				math.Max(u.a[1], u.b[1]) < sminy || math.Min(u.a[1], u.b[1]) > smaxy {
				continue
			}
			adjacent := s.ring == u.ring && (u.idx == s.idx+1 || (s.idx == 0 && u.idx == s.ringLength-1))
			if adjacent {
				if overlapsBack(s, u) {
					return selfIntersection(s, u)
				}
				continue
			}
			if segmentsIntersect(s.a, s.b, u.a, u.b) {
				return selfIntersection(s, u)
			}
		}
	}
	return nil
}

func selfIntersection(s, u segment) error {
	return &ValidationError{Code: ErrAOISelfIntersects, Message: fmt.Sprintf(
		"area of interest: ring %d edge %d (%g,%g)-(%g,%g) intersects ring %d edge %d (%g,%g)-(%g,%g)",
		s.ring, s.idx, s.a[0], s.a[1], s.b[0], s.b[1], u.ring, u.idx, u.a[0], u.a[1], u.b[0], u.b[1])}
}

// overlapsBack reports consecutive edges that fold back over each other (a
// spike): collinear and pointing in opposite directions.
func overlapsBack(s, u segment) bool {
	d1 := [2]float64{s.b[0] - s.a[0], s.b[1] - s.a[1]}
	d2 := [2]float64{u.b[0] - u.a[0], u.b[1] - u.a[1]}
	cross := d1[0]*d2[1] - d1[1]*d2[0]
	dot := d1[0]*d2[0] + d1[1]*d2[1]
	return cross == 0 && dot < 0
}

func orient(a, b, c [2]float64) int {
	v := (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func onSegment(a, b, p [2]float64) bool {
	return math.Min(a[0], b[0]) <= p[0] && p[0] <= math.Max(a[0], b[0]) &&
		math.Min(a[1], b[1]) <= p[1] && p[1] <= math.Max(a[1], b[1])
}

// segmentsIntersect reports whether segments ab and cd share any point.
func segmentsIntersect(a, b, c, d [2]float64) bool {
	o1, o2, o3, o4 := orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
	if o1 != o2 && o3 != o4 {
		return true
	}
	return (o1 == 0 && onSegment(a, b, c)) || (o2 == 0 && onSegment(a, b, d)) ||
		(o3 == 0 && onSegment(c, d, a)) || (o4 == 0 && onSegment(c, d, b))
}
