package tiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/paulmach/orb"
)

// parseLevelList parses exportTiles `levels`: "1,2,3", ranges "1-4,7-9",
// or a JSON array [1,2]. Values are returned as given (floats, since
// exportBy may be Resolution or Scale), in order, without duplicates.
func parseLevelList(s string) ([]float64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("levels is required")
	}
	if strings.HasPrefix(s, "[") {
		var arr []float64
		if err := json.Unmarshal([]byte(s), &arr); err != nil {
			return nil, fmt.Errorf("levels %q: %w", s, err)
		}
		s = ""
		for i, v := range arr {
			if i > 0 {
				s += ","
			}
			s += strconv.FormatFloat(v, 'g', -1, 64)
		}
		if s == "" {
			return nil, errors.New("levels is empty")
		}
	}
	seen := map[float64]bool{}
	var out []float64
	add := func(v float64) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if lo, hi, ok := strings.Cut(part, "-"); ok && lo != "" {
			a, err1 := strconv.Atoi(strings.TrimSpace(lo))
			b, err2 := strconv.Atoi(strings.TrimSpace(hi))
			if err1 != nil || err2 != nil || a < 0 || b < a || b-a > 64 {
				return nil, fmt.Errorf("levels: invalid range %q", part)
			}
			for v := a; v <= b; v++ {
				add(float64(v))
			}
			continue
		}
		v, err := strconv.ParseFloat(part, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, fmt.Errorf("levels: invalid value %q", part)
		}
		add(v)
		if len(out) > 1024 {
			return nil, errors.New("levels: too many values")
		}
	}
	return out, nil
}

// resolveLevels maps level values in exportBy units (LevelID, Resolution,
// Scale) to level ids of g, sorted.
func resolveLevels(g *grid, exportBy string, values []float64) ([]int, error) {
	var out []int
	for _, v := range values {
		level := -1
		switch strings.ToLower(exportBy) {
		case "", "levelid":
			if v == math.Trunc(v) {
				if _, ok := g.lods[int(v)]; ok {
					level = int(v)
				}
			}
		case "resolution", "scale":
			for _, l := range g.info.LODs {
				ref := l.Resolution
				if strings.EqualFold(exportBy, "scale") {
					ref = l.Scale
				}
				if math.Abs(ref-v) <= ref*0.01 {
					level = l.Level
				}
			}
		default:
			return nil, fmt.Errorf("exportBy %q is not one of LevelID, Resolution, Scale", exportBy)
		}
		if level < 0 {
			return nil, fmt.Errorf("level %v (%s) is not in the service's tiling scheme (levels %d-%d)", v, exportByName(exportBy), g.min, g.max)
		}
		out = append(out, level)
	}
	sort.Ints(out)
	return out, nil
}

func exportByName(s string) string {
	if s == "" {
		return "LevelID"
	}
	return s
}

// exportArea is an area of interest as polygon rings in the scheme's
// coordinates (even-odd: holes are rings inside rings).
type exportArea struct {
	rings [][]orb.Point
}

func (a exportArea) bound() rect {
	r := rect{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, ring := range a.rings {
		for _, p := range ring {
			r.xmin, r.ymin = math.Min(r.xmin, p[0]), math.Min(r.ymin, p[1])
			r.xmax, r.ymax = math.Max(r.xmax, p[0]), math.Max(r.ymax, p[1])
		}
	}
	return r
}

func rectArea(r rect) exportArea {
	return exportArea{rings: [][]orb.Point{{{r.xmin, r.ymin}, {r.xmin, r.ymax}, {r.xmax, r.ymax}, {r.xmax, r.ymin}, {r.xmin, r.ymin}}}}
}

// maxAreaVertices bounds the vertices accepted in an area of interest.
const maxAreaVertices = 200000

// parseExportArea reads polygon, areaOfInterest or exportExtent (in that
// order of precedence) into scheme coordinates; full is the DEFAULT extent.
func parseExportArea(g *grid, polygon, aoi, extent string, full rect) (exportArea, error) {
	polygon, aoi, extent = strings.TrimSpace(polygon), strings.TrimSpace(aoi), strings.TrimSpace(extent)
	switch {
	case polygon != "":
		var geom arcgis.Geometry
		if err := json.Unmarshal([]byte(polygon), &geom); err != nil {
			return exportArea{}, fmt.Errorf("polygon: %w", err)
		}
		return geometryArea(g, &geom, nil)
	case aoi != "":
		var fs struct {
			SpatialReference *arcgis.SpatialReference `json:"spatialReference"`
			Features         []arcgis.Feature         `json:"features"`
		}
		if err := json.Unmarshal([]byte(aoi), &fs); err != nil {
			return exportArea{}, fmt.Errorf("areaOfInterest: %w", err)
		}
		var all exportArea
		for i, f := range fs.Features {
			if f.Geometry == nil {
				continue
			}
			a, err := geometryArea(g, f.Geometry, fs.SpatialReference)
			if err != nil {
				return exportArea{}, fmt.Errorf("areaOfInterest feature %d: %w", i, err)
			}
			all.rings = append(all.rings, a.rings...)
		}
		if len(all.rings) == 0 {
			return exportArea{}, errors.New("areaOfInterest has no polygon features")
		}
		return all, nil
	case extent == "" || strings.EqualFold(extent, "DEFAULT") || strings.EqualFold(extent, "DEFAULTEXTENT"):
		return rectArea(full), nil
	case strings.HasPrefix(extent, "{"):
		var geom arcgis.Geometry
		if err := json.Unmarshal([]byte(extent), &geom); err != nil {
			return exportArea{}, fmt.Errorf("exportExtent: %w", err)
		}
		return geometryArea(g, &geom, nil)
	default:
		parts := strings.Split(extent, ",")
		if len(parts) != 4 {
			return exportArea{}, fmt.Errorf("exportExtent %q: want DEFAULT, xmin,ymin,xmax,ymax or an envelope", extent)
		}
		var v [4]float64
		for i, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return exportArea{}, fmt.Errorf("exportExtent %q: bad number %q", extent, p)
			}
			v[i] = f
		}
		if v[2] <= v[0] || v[3] <= v[1] {
			return exportArea{}, fmt.Errorf("exportExtent %q is empty", extent)
		}
		return rectArea(rect{v[0], v[1], v[2], v[3]}), nil
	}
}

// geometryArea converts an envelope or polygon to scheme coordinates.
func geometryArea(g *grid, geom *arcgis.Geometry, defSR *arcgis.SpatialReference) (exportArea, error) {
	sr := geom.SpatialReference
	if sr == nil {
		sr = defSR
	}
	from := sr.EPSG()
	conv := func(x, y float64) (orb.Point, error) {
		if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(x, 0) || math.IsInf(y, 0) {
			return orb.Point{}, errors.New("coordinate is not finite")
		}
		p, ok := g.toScheme(orb.Point{x, y}, from)
		if !ok {
			return p, fmt.Errorf("spatial reference %d cannot be projected to the service's %d", from, g.info.SpatialReference.EPSG())
		}
		return p, nil
	}
	switch geom.Type() {
	case arcgis.GeometryEnvelope:
		if *geom.XMax <= *geom.XMin || *geom.YMax <= *geom.YMin {
			return exportArea{}, errors.New("envelope is empty")
		}
		lo, err := conv(*geom.XMin, *geom.YMin)
		if err != nil {
			return exportArea{}, err
		}
		hi, err := conv(*geom.XMax, *geom.YMax)
		if err != nil {
			return exportArea{}, err
		}
		return rectArea(rect{lo[0], lo[1], hi[0], hi[1]}), nil
	case arcgis.GeometryPolygon:
		var a exportArea
		n := 0
		for _, ring := range geom.Rings {
			if len(ring) < 3 {
				continue
			}
			pts := make([]orb.Point, 0, len(ring)+1)
			for _, c := range ring {
				if len(c) < 2 {
					return exportArea{}, errors.New("polygon coordinate has fewer than 2 values")
				}
				p, err := conv(c[0], c[1])
				if err != nil {
					return exportArea{}, err
				}
				pts = append(pts, p)
			}
			if pts[0] != pts[len(pts)-1] {
				pts = append(pts, pts[0])
			}
			n += len(pts)
			if n > maxAreaVertices {
				return exportArea{}, fmt.Errorf("polygon has more than %d vertices", maxAreaVertices)
			}
			a.rings = append(a.rings, pts)
		}
		if len(a.rings) == 0 {
			return exportArea{}, errors.New("polygon has no rings")
		}
		return a, nil
	}
	return exportArea{}, fmt.Errorf("geometry type %q is not an envelope or polygon", geom.Type())
}
