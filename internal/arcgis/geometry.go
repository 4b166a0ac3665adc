package arcgis

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// SpatialReference is an ArcGIS spatial reference: a well-known id, or WKT.
type SpatialReference struct {
	WKID       int    `json:"wkid,omitempty"`
	LatestWKID int    `json:"latestWkid,omitempty"`
	VCSWKID    int    `json:"vcsWkid,omitempty"`
	WKT        string `json:"wkt,omitempty"`
}

// EPSG returns the EPSG code of the reference: latestWkid when present,
// otherwise wkid with Esri's 102100/102113 mapped to 3857. It returns 0 for a
// WKT-only reference.
func (sr *SpatialReference) EPSG() int {
	if sr == nil {
		return 0
	}
	if sr.LatestWKID != 0 {
		return sr.LatestWKID
	}
	switch sr.WKID {
	case 102100, 102113, 900913:
		return 3857
	}
	return sr.WKID
}

// IsWebMercator reports whether the reference is Web Mercator (EPSG:3857).
func (sr *SpatialReference) IsWebMercator() bool { return sr.EPSG() == 3857 }

// IsWGS84 reports whether the reference is geographic WGS84 (EPSG:4326).
func (sr *SpatialReference) IsWGS84() bool { return sr.EPSG() == 4326 }

// Geometry type names used in service, layer and query JSON.
const (
	GeometryPoint      = "esriGeometryPoint"
	GeometryMultipoint = "esriGeometryMultipoint"
	GeometryPolyline   = "esriGeometryPolyline"
	GeometryPolygon    = "esriGeometryPolygon"
	GeometryEnvelope   = "esriGeometryEnvelope"
)

// Geometry is an Esri JSON geometry exactly as on the wire. Which members are
// set depends on the kind: X/Y(/Z/M) for points, Points for multipoints,
// Paths for polylines, Rings for polygons, XMin… for envelopes. Coordinates
// in Points, Paths and Rings are [x, y] or [x, y, z] / [x, y, m] /
// [x, y, z, m] as HasZ and HasM say.
type Geometry struct {
	X *float64 `json:"x,omitempty"`
	Y *float64 `json:"y,omitempty"`
	Z *float64 `json:"z,omitempty"`
	M *float64 `json:"m,omitempty"`

	Points [][]float64   `json:"points,omitempty"`
	Paths  [][][]float64 `json:"paths,omitempty"`
	Rings  [][][]float64 `json:"rings,omitempty"`

	XMin *float64 `json:"xmin,omitempty"`
	YMin *float64 `json:"ymin,omitempty"`
	XMax *float64 `json:"xmax,omitempty"`
	YMax *float64 `json:"ymax,omitempty"`

	HasZ bool `json:"hasZ,omitempty"`
	HasM bool `json:"hasM,omitempty"`

	SpatialReference *SpatialReference `json:"spatialReference,omitempty"`
}

// Type returns the esriGeometry* name of the geometry's kind, or "" when the
// geometry has no recognisable members.
func (g *Geometry) Type() string {
	switch {
	case g == nil:
		return ""
	case g.X != nil && g.Y != nil:
		return GeometryPoint
	case g.Points != nil:
		return GeometryMultipoint
	case g.Paths != nil:
		return GeometryPolyline
	case g.Rings != nil:
		return GeometryPolygon
	case g.XMin != nil && g.YMin != nil && g.XMax != nil && g.YMax != nil:
		return GeometryEnvelope
	}
	return ""
}

// IsEmpty reports whether the geometry holds no coordinates (Esri writes
// empty points as {"x":null} or {"x":"NaN"}).
func (g *Geometry) IsEmpty() bool {
	switch g.Type() {
	case GeometryPoint, GeometryEnvelope:
		return false
	case GeometryMultipoint:
		return len(g.Points) == 0
	case GeometryPolyline:
		return len(g.Paths) == 0
	case GeometryPolygon:
		return len(g.Rings) == 0
	}
	return true
}

// Validate checks that the geometry is well formed: one kind of member,
// coordinate arrays of 2 to 4 finite numbers matching HasZ/HasM, paths of
// at least two points and rings of at least three.
func (g *Geometry) Validate() error {
	if g == nil {
		return fmt.Errorf("geometry: missing")
	}
	kinds := 0
	if g.X != nil || g.Y != nil {
		kinds++
		if g.X == nil || g.Y == nil {
			return fmt.Errorf("geometry: point needs both x and y")
		}
	}
	for _, set := range []bool{g.Points != nil, g.Paths != nil, g.Rings != nil, g.XMin != nil || g.XMax != nil || g.YMin != nil || g.YMax != nil} {
		if set {
			kinds++
		}
	}
	if kinds > 1 {
		return fmt.Errorf("geometry: mixes members of several geometry kinds")
	}
	dims := 2
	if g.HasZ {
		dims++
	}
	if g.HasM {
		dims++
	}
	checkPt := func(where string, p []float64) error {
		if len(p) < 2 || len(p) > 4 {
			return fmt.Errorf("geometry: %s: coordinate has %d values, want 2 to 4", where, len(p))
		}
		if len(p) < dims {
			return fmt.Errorf("geometry: %s: coordinate has %d values, hasZ/hasM want %d", where, len(p), dims)
		}
		for _, v := range p {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("geometry: %s: coordinate is not finite", where)
			}
		}
		return nil
	}
	for _, kv := range []struct {
		name string
		v    *float64
	}{{"x", g.X}, {"y", g.Y}, {"z", g.Z}, {"m", g.M}, {"xmin", g.XMin}, {"ymin", g.YMin}, {"xmax", g.XMax}, {"ymax", g.YMax}} {
		if kv.v != nil && (math.IsNaN(*kv.v) || math.IsInf(*kv.v, 0)) {
			return fmt.Errorf("geometry: %s is not finite", kv.name)
		}
	}
	switch g.Type() {
	case GeometryEnvelope:
		if *g.XMin > *g.XMax || *g.YMin > *g.YMax {
			return fmt.Errorf("geometry: envelope min greater than max")
		}
	case GeometryMultipoint:
		for i, p := range g.Points {
			if err := checkPt(fmt.Sprintf("points[%d]", i), p); err != nil {
				return err
			}
		}
	case GeometryPolyline:
		return checkParts("paths", g.Paths, 2, checkPt)
	case GeometryPolygon:
		return checkParts("rings", g.Rings, 3, checkPt)
	case GeometryPoint:
	default:
		if kinds == 0 {
			return fmt.Errorf("geometry: no coordinates")
		}
		return fmt.Errorf("geometry: incomplete envelope")
	}
	return nil
}

// checkParts checks the paths or rings of a geometry (name is the JSON
// key): each has at least minPoints points, each point passes checkPt.
func checkParts(name string, parts [][][]float64, minPoints int, checkPt func(where string, p []float64) error) error {
	for i, part := range parts {
		if len(part) < minPoints {
			return fmt.Errorf("geometry: %s[%d] has %d points, want at least %d", name, i, len(part), minPoints)
		}
		for j, p := range part {
			if err := checkPt(fmt.Sprintf("%s[%d][%d]", name, i, j), p); err != nil {
				return err
			}
		}
	}
	return nil
}

// UnmarshalJSON accepts the variants servers emit: "NaN", a quoted number or
// null for point and envelope coordinates.
func (g *Geometry) UnmarshalJSON(b []byte) error {
	var w struct {
		X    json.RawMessage `json:"x"`
		Y    json.RawMessage `json:"y"`
		Z    json.RawMessage `json:"z"`
		M    json.RawMessage `json:"m"`
		XMin json.RawMessage `json:"xmin"`
		YMin json.RawMessage `json:"ymin"`
		XMax json.RawMessage `json:"xmax"`
		YMax json.RawMessage `json:"ymax"`

		Points [][]float64   `json:"points"`
		Paths  [][][]float64 `json:"paths"`
		Rings  [][][]float64 `json:"rings"`
		HasZ   bool          `json:"hasZ"`
		HasM   bool          `json:"hasM"`

		SpatialReference *SpatialReference `json:"spatialReference"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("geometry: %w", err)
	}
	out := Geometry{Points: w.Points, Paths: w.Paths, Rings: w.Rings, HasZ: w.HasZ, HasM: w.HasM, SpatialReference: w.SpatialReference}
	for _, kv := range []struct {
		key string
		raw json.RawMessage
		dst **float64
	}{{"x", w.X, &out.X}, {"y", w.Y, &out.Y}, {"z", w.Z, &out.Z}, {"m", w.M, &out.M},
		{"xmin", w.XMin, &out.XMin}, {"ymin", w.YMin, &out.YMin}, {"xmax", w.XMax, &out.XMax}, {"ymax", w.YMax, &out.YMax}} {
		f, err := parseCoord(kv.raw)
		if err != nil {
			return fmt.Errorf("geometry: %s: %w", kv.key, err)
		}
		*kv.dst = f
	}
	if (out.X == nil) != (out.Y == nil) {
		return fmt.Errorf("geometry: point needs both x and y")
	}
	*g = out
	return nil
}

// parseCoord reads a JSON number, a quoted number, or null/"NaN" (nil).
func parseCoord(raw json.RawMessage) (*float64, error) {
	s := strings.TrimSpace(string(raw))
	switch s {
	case "", "null", `"NaN"`, `"nan"`, `"NAN"`:
		return nil, nil
	}
	s = strings.Trim(s, `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, err
	}
	if math.IsNaN(f) {
		return nil, nil
	}
	if math.IsInf(f, 0) {
		return nil, fmt.Errorf("coordinate %s is not finite", s)
	}
	return &f, nil
}

// Envelope is an extent with its spatial reference, as in fullExtent.
type Envelope struct {
	XMin             float64           `json:"xmin"`
	YMin             float64           `json:"ymin"`
	XMax             float64           `json:"xmax"`
	YMax             float64           `json:"ymax"`
	SpatialReference *SpatialReference `json:"spatialReference,omitempty"`
}
