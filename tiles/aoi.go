package tiles

import (
	"errors"
	"fmt"
	"math"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
)

// AOI is an area of interest: polygons (each an outer ring plus holes, read
// with the even-odd rule) in the spatial reference EPSG. Parts may overlap; the
// cover is their union. In EPSG:4326 and EPSG:3857, rings may cross the
// antimeridian either with continuous coordinates (170 … 190) or with a jump
// (170 … −170); both are understood.
type AOI struct {
	Polygons orb.MultiPolygon
	EPSG     int
}

// EnvelopeAOI returns a rectangular AOI. In EPSG:4326 an envelope with
// xmin > xmax crosses the antimeridian.
func EnvelopeAOI(epsg int, xmin, ymin, xmax, ymax float64) AOI {
	if xmin > xmax && (epsg == 4326 || epsg == 3857) {
		xmax += period(epsg)
	}
	return AOI{EPSG: epsg, Polygons: orb.MultiPolygon{{{{xmin, ymin}, {xmax, ymin}, {xmax, ymax}, {xmin, ymax}, {xmin, ymin}}}}}
}

// AOIFromGeometry converts an Esri JSON polygon or envelope to an AOI. All rings
// of a polygon form one even-odd set (Esri outer rings and holes).
func AOIFromGeometry(g *arcgis.Geometry) (AOI, error) {
	if g == nil {
		return AOI{}, errors.New("area of interest: no geometry")
	}
	epsg := 4326
	if g.SpatialReference != nil {
		epsg = g.SpatialReference.EPSG()
		if epsg == 0 {
			return AOI{}, errors.New("area of interest: spatial reference has no EPSG code (WKT only)")
		}
	}
	switch g.Type() {
	case "esriGeometryEnvelope":
		return EnvelopeAOI(epsg, *g.XMin, *g.YMin, *g.XMax, *g.YMax), nil
	case "esriGeometryPolygon":
		var poly orb.Polygon
		for i, r := range g.Rings {
			if len(r) < 3 {
				return AOI{}, fmt.Errorf("area of interest: ring %d has %d points", i, len(r))
			}
			ring := make(orb.Ring, 0, len(r))
			for _, p := range r {
				if len(p) < 2 || math.IsNaN(p[0]) || math.IsNaN(p[1]) {
					return AOI{}, fmt.Errorf("area of interest: ring %d has a bad coordinate", i)
				}
				ring = append(ring, orb.Point{p[0], p[1]})
			}
			poly = append(poly, ring)
		}
		if len(poly) == 0 {
			return AOI{}, errors.New("area of interest: polygon has no rings")
		}
		return AOI{EPSG: epsg, Polygons: orb.MultiPolygon{poly}}, nil
	default:
		return AOI{}, fmt.Errorf("area of interest: geometry type %q is not a polygon or envelope", g.Type())
	}
}

// Bounds returns the AOI's bounding box in its own spatial reference.
func (a AOI) Bounds() orb.Bound { return a.Polygons.Bound() }

func period(epsg int) float64 {
	if epsg == 3857 {
		return 2 * MercatorHalfWorld
	}
	return 360
}

// WrapShift is the multiple of the period per that brings the step d
// between two longitudes (or x) within ±per/2: added to the second one, it
// makes the pair continuous across the antimeridian.
func WrapShift(d, per float64) float64 {
	shift := 0.0
	for d > per/2 {
		shift -= per
		d -= per
	}
	for d < -per/2 {
		shift += per
		d += per
	}
	return shift
}

// unwrapRing makes ring longitudes continuous (no jump larger than half the period).
func unwrapRing(r orb.Ring, per float64) orb.Ring {
	out := make(orb.Ring, len(r))
	off := 0.0
	for i, p := range r {
		if i > 0 {
			off += WrapShift(p[0]+off-out[i-1][0], per)
		}
		out[i] = orb.Point{p[0] + off, p[1]}
	}
	return out
}

// SplitAntimeridian returns the AOI's polygons unwrapped and cut at the
// antimeridian, each piece shifted into the world range (−180…180 in EPSG:4326,
// ±20037508 m in EPSG:3857). ArcGIS exportTiles refuses crossing polygons; the
// pieces are what it accepts. Other spatial references are returned unchanged.
func SplitAntimeridian(a AOI) orb.MultiPolygon {
	if a.EPSG != 4326 && a.EPSG != 3857 {
		return a.Polygons
	}
	per := period(a.EPSG)
	half := per / 2
	var out orb.MultiPolygon
	for _, poly := range a.Polygons {
		if len(poly) == 0 {
			continue
		}
		up := make(orb.Polygon, 0, len(poly))
		ref := 0.0
		for i, r := range poly {
			u := unwrapRing(r, per)
			b := u.Bound()
			c := (b.Min[0] + b.Max[0]) / 2
			if i == 0 {
				ref = c
			} else if k := math.Round((ref - c) / per); k != 0 {
				for j := range u {
					u[j][0] += k * per
				}
			}
			up = append(up, u)
		}
		b := up.Bound()
		k0 := int(math.Floor((b.Min[0] + half) / per))
		k1 := int(math.Floor((b.Max[0] + half) / per))
		if k0 == k1 && k0 == 0 {
			out = append(out, up)
			continue
		}
		for k := k0; k <= k1; k++ {
			lo, hi := -half+float64(k)*per, half+float64(k)*per
			var piece orb.Polygon
			for _, r := range up {
				c := clipRingX(r, lo, hi)
				if len(c) < 4 {
					continue
				}
				for j := range c {
					c[j][0] -= float64(k) * per
				}
				piece = append(piece, c)
			}
			if len(piece) > 0 {
				out = append(out, piece)
			}
		}
	}
	return out
}

// clipRingX clips a ring to lo <= x <= hi (Sutherland–Hodgman on two
// half-planes) and returns a closed ring, or nil when nothing is left.
func clipRingX(r orb.Ring, lo, hi float64) orb.Ring {
	pts := []orb.Point(r)
	if len(pts) > 1 && pts[0] == pts[len(pts)-1] {
		pts = pts[:len(pts)-1]
	}
	pts = clipHalf(pts, func(p orb.Point) bool { return p[0] >= lo }, lo)
	pts = clipHalf(pts, func(p orb.Point) bool { return p[0] <= hi }, hi)
	if len(pts) < 3 {
		return nil
	}
	return append(orb.Ring(pts), pts[0])
}

func clipHalf(pts []orb.Point, in func(orb.Point) bool, x float64) []orb.Point {
	if len(pts) == 0 {
		return nil
	}
	var out []orb.Point
	prev := pts[len(pts)-1]
	for _, cur := range pts {
		ci, pi := in(cur), in(prev)
		if ci != pi {
			t := (x - prev[0]) / (cur[0] - prev[0])
			out = append(out, orb.Point{x, prev[1] + t*(cur[1]-prev[1])})
		}
		if ci {
			out = append(out, cur)
		}
		prev = cur
	}
	return out
}

// projectTo returns the AOI's split polygons in the spatial reference epsg.
func (a AOI) projectTo(epsg int) (orb.MultiPolygon, error) {
	mp := SplitAntimeridian(a)
	if a.EPSG == epsg {
		return mp, nil
	}
	var f func(orb.Point) orb.Point
	switch {
	case a.EPSG == 4326 && epsg == 3857:
		f = func(p orb.Point) orb.Point { x, y := ToMercator(p[0], p[1]); return orb.Point{x, y} }
	case a.EPSG == 3857 && epsg == 4326:
		f = func(p orb.Point) orb.Point { x, y := ToWGS84(p[0], p[1]); return orb.Point{x, y} }
	default:
		return nil, fmt.Errorf("area of interest in EPSG:%d cannot be projected to the tiling scheme's EPSG:%d (only WGS84 ↔ Web Mercator); give the area in EPSG:%d", a.EPSG, epsg, epsg)
	}
	out := make(orb.MultiPolygon, len(mp))
	for i, poly := range mp {
		np := make(orb.Polygon, len(poly))
		for j, r := range poly {
			nr := make(orb.Ring, len(r))
			for k, p := range r {
				nr[k] = f(p)
			}
			np[j] = nr
		}
		out[i] = np
	}
	return out, nil
}

// WGS84Bounds returns the AOI's bounding box in lon/lat, after antimeridian
// splitting (so a crossing AOI spans −180…180 in longitude).
func (a AOI) WGS84Bounds() (orb.Bound, error) {
	mp, err := a.projectTo(4326)
	if err != nil {
		return orb.Bound{}, err
	}
	return mp.Bound(), nil
}
