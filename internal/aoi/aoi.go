// Package aoi reads areas of interest as people write them: a WGS84
// "xmin,ymin,xmax,ymax" box, or GeoJSON (Polygon, MultiPolygon, Feature,
// FeatureCollection) or Esri JSON geometry, into the Esri geometry that
// offline.PrepareAOI validates. The CLI's --bbox and --aoi use it.
package aoi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// ParseBBox reads "xmin,ymin,xmax,ymax" in WGS84 degrees (xmin > xmax
// crosses the antimeridian). A box that would cross it while spanning more
// than half the world is refused as xmin and xmax swapped.
func ParseBBox(s string) (*arcgis.Geometry, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("want xmin,ymin,xmax,ymax, got %q", s)
	}
	v := make([]float64, 4)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		v[i] = f
	}
	if v[1] >= v[3] {
		return nil, fmt.Errorf("ymin %g must be below ymax %g", v[1], v[3])
	}
	for i, name := range []string{"xmin", "ymin", "xmax", "ymax"} {
		lim := 180.0
		if i%2 == 1 {
			lim = 90
		}
		if math.IsNaN(v[i]) || v[i] < -lim || v[i] > lim {
			return nil, fmt.Errorf("%s %g is outside ±%g (lon/lat in degrees, WGS84)", name, v[i], lim)
		}
	}
	if v[0] > v[2] && 360-(v[0]-v[2]) > 180 {
		// xmin > xmax means crossing the antimeridian; a box that wide is
		// almost always xmin and xmax swapped.
		return nil, fmt.Errorf("xmin %g > xmax %g reads as a box crossing the antimeridian, %g° wide; if you meant %g..%g, swap them (an antimeridian box is written like 170,-10,-170,10)",
			v[0], v[2], 360-(v[0]-v[2]), v[2], v[0])
	}
	return &arcgis.Geometry{XMin: &v[0], YMin: &v[1], XMax: &v[2], YMax: &v[3], SpatialReference: wgs84()}, nil
}

// ReadFile reads an area file (see Parse).
func ReadFile(path string) (*arcgis.Geometry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse reads an area: an Esri JSON polygon or envelope (WGS84 when it
// names no spatial reference), or a GeoJSON Polygon or MultiPolygon in
// WGS84, bare, as a Feature, or as the first feature of a
// FeatureCollection. GeoJSON rings (outer counter-clockwise) are reversed
// into Esri's order (outer clockwise).
func Parse(b []byte) (*arcgis.Geometry, error) {
	var probe struct {
		Type        string            `json:"type"`
		Rings       json.RawMessage   `json:"rings"`
		XMin        *float64          `json:"xmin"`
		Geometry    json.RawMessage   `json:"geometry"`
		Features    []json.RawMessage `json:"features"`
		Coordinates json.RawMessage   `json:"coordinates"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, err
	}
	if probe.Rings != nil || probe.XMin != nil {
		var g arcgis.Geometry
		if err := json.Unmarshal(b, &g); err != nil {
			return nil, err
		}
		if g.SpatialReference == nil {
			g.SpatialReference = wgs84()
		}
		return &g, nil
	}
	switch probe.Type {
	case "FeatureCollection":
		if len(probe.Features) == 0 {
			return nil, errors.New("empty FeatureCollection")
		}
		return Parse(probe.Features[0])
	case "Feature":
		if probe.Geometry == nil {
			return nil, errors.New("feature without geometry")
		}
		return Parse(probe.Geometry)
	case "Polygon":
		var rings [][][]float64
		if err := json.Unmarshal(probe.Coordinates, &rings); err != nil {
			return nil, fmt.Errorf("Polygon coordinates: %w", err)
		}
		return esriPolygon(rings), nil
	case "MultiPolygon":
		var polys [][][][]float64
		if err := json.Unmarshal(probe.Coordinates, &polys); err != nil {
			return nil, fmt.Errorf("MultiPolygon coordinates: %w", err)
		}
		var rings [][][]float64
		for _, p := range polys {
			rings = append(rings, p...)
		}
		return esriPolygon(rings), nil
	}
	return nil, fmt.Errorf("unsupported area type %q (want a GeoJSON polygon or an Esri JSON geometry)", probe.Type)
}

// esriPolygon turns GeoJSON rings (outer counter-clockwise) into Esri rings
// (outer clockwise).
func esriPolygon(rings [][][]float64) *arcgis.Geometry {
	out := make([][][]float64, len(rings))
	for i, r := range rings {
		cp := make([][]float64, len(r))
		for j := range r {
			cp[len(r)-1-j] = r[j]
		}
		out[i] = cp
	}
	g := &arcgis.Geometry{SpatialReference: wgs84()}
	g.Rings = out
	return g
}

func wgs84() *arcgis.SpatialReference { return &arcgis.SpatialReference{WKID: 4326} }
