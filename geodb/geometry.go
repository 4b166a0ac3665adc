package geodb

import (
	"errors"
	"fmt"
	"math"
)

// GeomType is an OGC simple-feature geometry type as stored in GeoPackage
// blobs (ISO WKB type codes without the Z/M offsets).
type GeomType uint32

// The geometry types geodb reads and writes.
const (
	GeomPoint           GeomType = 1
	GeomLineString      GeomType = 2
	GeomPolygon         GeomType = 3
	GeomMultiPoint      GeomType = 4
	GeomMultiLineString GeomType = 5
	GeomMultiPolygon    GeomType = 6
)

// String returns the GeoPackage geometry_type_name.
func (t GeomType) String() string {
	switch t {
	case GeomPoint:
		return "POINT"
	case GeomLineString:
		return "LINESTRING"
	case GeomPolygon:
		return "POLYGON"
	case GeomMultiPoint:
		return "MULTIPOINT"
	case GeomMultiLineString:
		return "MULTILINESTRING"
	case GeomMultiPolygon:
		return "MULTIPOLYGON"
	}
	return fmt.Sprintf("GEOMTYPE(%d)", uint32(t))
}

// Geom is a decoded simple-feature geometry. Every coordinate is a slice of
// Dims() values ordered x, y, [z], [m] (the same order as Esri JSON arrays).
// Points and MultiPoints use Points; LineStrings (one part) and
// MultiLineStrings use Lines; Polygons (one part) and MultiPolygons use
// Polys, each polygon being its rings with the exterior first.
type Geom struct {
	Type   GeomType
	HasZ   bool
	HasM   bool
	Points [][]float64
	Lines  [][][]float64
	Polys  [][][][]float64
}

// ErrBadGeometry is wrapped by every geometry decoding or conversion error.
var ErrBadGeometry = errors.New("bad geometry")

func geomErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadGeometry, fmt.Sprintf(format, a...))
}

// Dims returns the number of values per coordinate.
func (g *Geom) Dims() int {
	d := 2
	if g.HasZ {
		d++
	}
	if g.HasM {
		d++
	}
	return d
}

// IsEmpty reports whether the geometry has no coordinates.
func (g *Geom) IsEmpty() bool {
	return g == nil || (len(g.Points) == 0 && len(g.Lines) == 0 && len(g.Polys) == 0)
}

// Bounds returns minx, maxx, miny, maxy; ok is false for an empty geometry.
func (g *Geom) Bounds() (minx, maxx, miny, maxy float64, ok bool) {
	minx, miny = math.Inf(1), math.Inf(1)
	maxx, maxy = math.Inf(-1), math.Inf(-1)
	add := func(p []float64) {
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) {
			return
		}
		ok = true
		minx, maxx = math.Min(minx, p[0]), math.Max(maxx, p[0])
		miny, maxy = math.Min(miny, p[1]), math.Max(maxy, p[1])
	}
	for _, p := range g.Points {
		add(p)
	}
	for _, l := range g.Lines {
		for _, p := range l {
			add(p)
		}
	}
	for _, poly := range g.Polys {
		if len(poly) > 0 {
			for _, p := range poly[0] {
				add(p)
			}
		}
	}
	return
}
