package ogc

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/offlined/offlined/internal/arcgis"
)

// EsriGeometry converts a GeoJSON geometry (CRS84 longitude/latitude) into
// an Esri JSON geometry in WGS84 (wkid 4326) and returns its family.
// Polygon rings are oriented as Esri wants them (exteriors clockwise,
// holes counter-clockwise); hasZ keeps (or pads) a third coordinate.
func EsriGeometry(raw json.RawMessage, hasZ bool) (*arcgis.Geometry, int, error) {
	var g struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	}
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, famNone, fmt.Errorf("%w: geometry: %v", ErrFeatures, err)
	}
	fam := family(g.Type)
	out := &arcgis.Geometry{HasZ: hasZ, SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
	var err error
	switch g.Type {
	case "Point":
		var c []float64
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			var p []float64
			if p, err = pos(c, hasZ); err == nil {
				out.X, out.Y = &p[0], &p[1]
				if hasZ {
					out.Z = &p[2]
				}
			}
		}
	case "MultiPoint":
		var c [][]float64
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			out.Points, err = line(c, hasZ, 1)
		}
	case "LineString":
		var c [][]float64
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			var l [][]float64
			if l, err = line(c, hasZ, 2); err == nil {
				out.Paths = [][][]float64{l}
			}
		}
	case "MultiLineString":
		var c [][][]float64
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			for _, ls := range c {
				var l [][]float64
				if l, err = line(ls, hasZ, 2); err != nil {
					break
				}
				out.Paths = append(out.Paths, l)
			}
		}
	case "Polygon":
		var c [][][]float64
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			out.Rings, err = rings(c, hasZ)
		}
	case "MultiPolygon":
		var c [][][][]float64
		if err = json.Unmarshal(g.Coordinates, &c); err == nil {
			for _, p := range c {
				var r [][][]float64
				if r, err = rings(p, hasZ); err != nil {
					break
				}
				out.Rings = append(out.Rings, r...)
			}
		}
	default:
		return nil, famNone, fmt.Errorf("%w: geometry type %q is not supported", ErrFeatures, g.Type)
	}
	if err != nil {
		return nil, fam, fmt.Errorf("%w: %s coordinates: %v", ErrFeatures, g.Type, err)
	}
	return out, fam, nil
}

func pos(c []float64, hasZ bool) ([]float64, error) {
	if len(c) < 2 || len(c) > 4 {
		return nil, fmt.Errorf("a position needs 2 or 3 numbers, not %d", len(c))
	}
	if c[0] < -180 || c[0] > 180 || c[1] < -90 || c[1] > 90 || math.IsNaN(c[0]) || math.IsNaN(c[1]) {
		return nil, fmt.Errorf("position %v is outside longitude -180..180, latitude -90..90", c[:2])
	}
	p := []float64{c[0], c[1]}
	if hasZ {
		z := 0.0
		if len(c) >= 3 {
			z = c[2]
		}
		p = append(p, z)
	}
	return p, nil
}

func line(c [][]float64, hasZ bool, minLen int) ([][]float64, error) {
	if len(c) < minLen {
		return nil, fmt.Errorf("needs at least %d positions", minLen)
	}
	out := make([][]float64, len(c))
	for i, p := range c {
		var err error
		if out[i], err = pos(p, hasZ); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func rings(c [][][]float64, hasZ bool) ([][][]float64, error) {
	if len(c) == 0 {
		return nil, fmt.Errorf("polygon without rings")
	}
	out := make([][][]float64, len(c))
	for i, r := range c {
		l, err := line(r, hasZ, 4)
		if err != nil {
			return nil, err
		}
		// Negative area is clockwise (x east, y north).
		if (i == 0) != (arcgis.RingArea(l) < 0) {
			for x, y := 0, len(l)-1; x < y; x, y = x+1, y-1 {
				l[x], l[y] = l[y], l[x]
			}
		}
		out[i] = l
	}
	return out, nil
}

// BBox returns the lon/lat bounding box (minx, miny, maxx, maxy) of a
// feature's geometry; ok is false for a null or unreadable geometry.
func (f *Feature) BBox() (b [4]float64, ok bool) {
	var g struct {
		Coordinates json.RawMessage `json:"coordinates"`
	}
	if len(f.Geometry) == 0 || json.Unmarshal(f.Geometry, &g) != nil || len(g.Coordinates) == 0 {
		return b, false
	}
	var c any
	if json.Unmarshal(g.Coordinates, &c) != nil {
		return b, false
	}
	b = [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	var walk func(v any)
	walk = func(v any) {
		a, isArr := v.([]any)
		if !isArr {
			return
		}
		if len(a) >= 2 {
			x, ok1 := a[0].(float64)
			y, ok2 := a[1].(float64)
			if ok1 && ok2 {
				b = [4]float64{math.Min(b[0], x), math.Min(b[1], y), math.Max(b[2], x), math.Max(b[3], y)}
				ok = true
				return
			}
		}
		for _, e := range a {
			walk(e)
		}
	}
	walk(c)
	return b, ok
}
