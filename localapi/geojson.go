package localapi

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// GeoJSON coordinates are WGS84 longitude/latitude (RFC 7946). Layers stored
// in Web Mercator are converted both ways; layers in WGS84 pass through; any
// other spatial reference is served in its own coordinates (the collection
// then carries a "crs" member naming it).

type coordXform struct {
	toWGS, fromWGS func(x, y float64) (float64, float64)
	// lonLat: the API side of the conversion is WGS84 longitude/latitude,
	// so input is range-checked (checkLonLat).
	lonLat bool
}

// checkLonLat refuses a WGS84 position outside lon -180..180, lat -90..90
// (they used to be clamped silently).
func checkLonLat(lon, lat float64) error {
	switch {
	case math.IsNaN(lon) || math.IsInf(lon, 0) || math.IsNaN(lat) || math.IsInf(lat, 0):
		return fmt.Errorf("non-finite coordinate")
	case lon < -180 || lon > 180:
		return fmt.Errorf("longitude %g is outside -180..180", lon)
	case lat < -90 || lat > 90:
		return fmt.Errorf("latitude %g is outside -90..90", lat)
	}
	return nil
}

func identity(x, y float64) (float64, float64) { return x, y }

func mercToWGS(x, y float64) (float64, float64) { return tiles.ToWGS84(x, y) }

func wgsToMerc(lon, lat float64) (float64, float64) { return tiles.ToMercator(lon, lat) }

// xformFor returns the coordinate conversion of table t and whether its
// output is WGS84.
func xformFor(t *geodb.Table) (coordXform, bool) {
	sr := t.Layer.SpatialReference
	if sr == nil && t.Layer.Extent != nil {
		sr = t.Layer.Extent.SpatialReference
	}
	switch {
	case t.SRSID == 3857 || t.SRSID == 102100 || (sr != nil && sr.IsWebMercator()):
		return coordXform{toWGS: mercToWGS, fromWGS: wgsToMerc, lonLat: true}, true
	default:
		wgs := t.SRSID == 4326 || (sr != nil && sr.IsWGS84())
		return coordXform{toWGS: identity, fromWGS: identity, lonLat: wgs}, wgs
	}
}

// geoJSONGeometry converts a stored geometry into a GeoJSON geometry object.
func geoJSONGeometry(g *geodb.Geom, x coordXform) map[string]any {
	if g == nil || g.IsEmpty() {
		return nil
	}
	pt := func(c []float64) []float64 {
		out := make([]float64, len(c))
		copy(out, c)
		out[0], out[1] = x.toWGS(c[0], c[1])
		if g.HasM && !g.HasZ && len(out) > 2 {
			out = out[:2] // GeoJSON has no M
		} else if len(out) > 3 {
			out = out[:3]
		}
		return out
	}
	line := func(l [][]float64) [][]float64 {
		out := make([][]float64, len(l))
		for i, c := range l {
			out[i] = pt(c)
		}
		return out
	}
	poly := func(p [][][]float64) [][][]float64 {
		out := make([][][]float64, len(p))
		for i, r := range p {
			r2 := line(r)
			// RFC 7946: exterior counter-clockwise, holes clockwise.
			if (i == 0) != (ringArea(r2) > 0) {
				reverse(r2)
			}
			out[i] = r2
		}
		return out
	}
	switch g.Type {
	case geodb.GeomPoint:
		return map[string]any{"type": "Point", "coordinates": pt(g.Points[0])}
	case geodb.GeomMultiPoint:
		return map[string]any{"type": "MultiPoint", "coordinates": line(g.Points)}
	case geodb.GeomLineString:
		return map[string]any{"type": "LineString", "coordinates": line(g.Lines[0])}
	case geodb.GeomMultiLineString:
		ls := make([][][]float64, len(g.Lines))
		for i, l := range g.Lines {
			ls[i] = line(l)
		}
		return map[string]any{"type": "MultiLineString", "coordinates": ls}
	case geodb.GeomPolygon:
		return map[string]any{"type": "Polygon", "coordinates": poly(g.Polys[0])}
	case geodb.GeomMultiPolygon:
		ps := make([][][][]float64, len(g.Polys))
		for i, p := range g.Polys {
			ps[i] = poly(p)
		}
		return map[string]any{"type": "MultiPolygon", "coordinates": ps}
	}
	return nil
}

// ringArea is the signed area (positive: counter-clockwise).
func ringArea(r [][]float64) float64 { return arcgis.RingArea(r) }

func reverse(r [][]float64) {
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
}

// gjGeometry is a GeoJSON geometry as received.
type gjGeometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// esriFromGeoJSON converts a GeoJSON geometry (WGS84, or the layer's
// coordinates when the layer is neither WGS84 nor Web Mercator) into an Esri
// geometry in the layer's coordinates. field names the parameter for errors.
func esriFromGeoJSON(raw json.RawMessage, x coordXform, hasZ bool, field string) (*arcgis.Geometry, error) {
	var g gjGeometry
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, badRequest(field, "invalid GeoJSON geometry: %v", err)
	}
	bad := func(err error) error { return badRequest(field, "invalid %s coordinates: %v", g.Type, err) }
	conv := func(c []float64) ([]float64, error) {
		if len(c) < 2 || len(c) > 3 {
			return nil, fmt.Errorf("a position needs 2 or 3 numbers")
		}
		for _, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("non-finite coordinate")
			}
		}
		if x.lonLat {
			if err := checkLonLat(c[0], c[1]); err != nil {
				return nil, err
			}
		}
		out := []float64{0, 0}
		out[0], out[1] = x.fromWGS(c[0], c[1])
		if hasZ {
			z := 0.0
			if len(c) == 3 {
				z = c[2]
			}
			out = append(out, z)
		}
		return out, nil
	}
	convLine := func(l [][]float64, min int) ([][]float64, error) {
		if len(l) < min {
			return nil, fmt.Errorf("needs at least %d positions", min)
		}
		out := make([][]float64, len(l))
		for i, c := range l {
			var err error
			if out[i], err = conv(c); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	// Esri rings: exteriors clockwise, holes counter-clockwise.
	convPoly := func(p [][][]float64) ([][][]float64, error) {
		if len(p) == 0 {
			return nil, fmt.Errorf("polygon without rings")
		}
		out := make([][][]float64, len(p))
		for i, r := range p {
			rr, err := convLine(r, 4)
			if err != nil {
				return nil, err
			}
			if (i == 0) != (ringArea(rr) < 0) {
				reverse(rr)
			}
			out[i] = rr
		}
		return out, nil
	}
	eg := &arcgis.Geometry{HasZ: hasZ}
	switch g.Type {
	case "Point":
		var c []float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return nil, bad(err)
		}
		p, err := conv(c)
		if err != nil {
			return nil, bad(err)
		}
		eg.HasZ = false
		eg.X, eg.Y = &p[0], &p[1]
		if hasZ {
			eg.Z = &p[2]
		}
	case "MultiPoint":
		var c [][]float64
		if err := json.Unmarshal(g.Coordinates, &c); err != nil {
			return nil, bad(err)
		}
		p, err := convLine(c, 1)
		if err != nil {
			return nil, bad(err)
		}
		eg.Points = p
	case "LineString", "MultiLineString":
		var ls [][][]float64
		if g.Type == "LineString" {
			var l [][]float64
			if err := json.Unmarshal(g.Coordinates, &l); err != nil {
				return nil, bad(err)
			}
			ls = [][][]float64{l}
		} else if err := json.Unmarshal(g.Coordinates, &ls); err != nil {
			return nil, bad(err)
		}
		for _, l := range ls {
			p, err := convLine(l, 2)
			if err != nil {
				return nil, bad(err)
			}
			eg.Paths = append(eg.Paths, p)
		}
	case "Polygon", "MultiPolygon":
		var ps [][][][]float64
		if g.Type == "Polygon" {
			var p [][][]float64
			if err := json.Unmarshal(g.Coordinates, &p); err != nil {
				return nil, bad(err)
			}
			ps = [][][][]float64{p}
		} else if err := json.Unmarshal(g.Coordinates, &ps); err != nil {
			return nil, bad(err)
		}
		for _, p := range ps {
			rings, err := convPoly(p)
			if err != nil {
				return nil, bad(err)
			}
			eg.Rings = append(eg.Rings, rings...)
		}
	default:
		return nil, badRequest(field, "unsupported GeoJSON geometry type %q", g.Type)
	}
	return eg, nil
}

// checkAreaLonLat range-checks an Esri geometry given in WGS84 (an area of
// interest); geometries in other spatial references pass.
func checkAreaLonLat(g *arcgis.Geometry, field string) error {
	if g == nil || g.SpatialReference == nil || !g.SpatialReference.IsWGS84() {
		return nil
	}
	var pts [][2]float64
	if g.X != nil && g.Y != nil {
		pts = append(pts, [2]float64{*g.X, *g.Y})
	}
	if g.XMin != nil && g.YMin != nil && g.XMax != nil && g.YMax != nil {
		pts = append(pts, [2]float64{*g.XMin, *g.YMin}, [2]float64{*g.XMax, *g.YMax})
	}
	add := func(l [][]float64) {
		for _, c := range l {
			if len(c) >= 2 {
				pts = append(pts, [2]float64{c[0], c[1]})
			}
		}
	}
	add(g.Points)
	for _, l := range g.Paths {
		add(l)
	}
	for _, l := range g.Rings {
		add(l)
	}
	for _, p := range pts {
		if err := checkLonLat(p[0], p[1]); err != nil {
			return badRequest(field, "%v", err)
		}
	}
	return nil
}
