// Package tiles implements tiling schemes, area-of-interest covers, size
// estimates, a resumable concurrent tile downloader, the MBTiles store and
// readers for Esri tile packages (Compact Cache V2, .tpkx, .vtpk).
package tiles

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/project"

	"github.com/offlined/offlined/internal/arcgis"
)

// Web Mercator constants (EPSG:3857).
const (
	// MercatorHalfWorld is half the width of the Web Mercator world in
	// metres: π times the sphere's radius (orb.EarthRadius, 6378137 m).
	MercatorHalfWorld = orb.EarthRadius * math.Pi
	// EsriStandardScale0 is the scale of level 0 in Esri's standard 256px scheme at 96 dpi.
	EsriStandardScale0 = 591657527.591555
	// EsriStandardResolution0 is the resolution of level 0 in Esri's standard 256px scheme.
	EsriStandardResolution0 = 156543.03392800014
)

// Scheme is a tiling scheme: an ArcGIS tileInfo with helpers for its grid.
// Web Mercator XYZ is the special case where every level maps to a zoom.
type Scheme struct {
	Info arcgis.TileInfo
}

// NewScheme validates ti and returns its scheme with LODs sorted by level.
func NewScheme(ti arcgis.TileInfo) (*Scheme, error) {
	if ti.Rows <= 0 || ti.Cols <= 0 {
		return nil, fmt.Errorf("tiling scheme: tile size %dx%d is not positive", ti.Cols, ti.Rows)
	}
	if len(ti.LODs) == 0 {
		return nil, errors.New("tiling scheme: no levels of detail")
	}
	lods := append([]arcgis.LOD(nil), ti.LODs...)
	sort.Slice(lods, func(i, j int) bool { return lods[i].Level < lods[j].Level })
	for i, l := range lods {
		if !(l.Resolution > 0) || math.IsInf(l.Resolution, 0) {
			return nil, fmt.Errorf("tiling scheme: level %d resolution %v is not positive", l.Level, l.Resolution)
		}
		if i > 0 && lods[i-1].Level == l.Level {
			return nil, fmt.Errorf("tiling scheme: level %d listed twice", l.Level)
		}
	}
	if ti.DPI == 0 {
		ti.DPI = 96
	}
	ti.LODs = lods
	return &Scheme{Info: ti}, nil
}

// WebMercatorScheme returns Esri's standard Web Mercator scheme (the one
// ArcGIS Online basemaps use) with tiles of tileSize px (256 or 512) for levels
// minLevel..maxLevel. With 512 px tiles level z still covers the world in 2^z
// columns (resolutions halve), as VectorTileServer does.
func WebMercatorScheme(tileSize, minLevel, maxLevel int) *Scheme {
	if tileSize <= 0 {
		tileSize = 256
	}
	var lods []arcgis.LOD
	for z := minLevel; z <= maxLevel; z++ {
		res := EsriStandardResolution0 * 256 / float64(tileSize) / math.Exp2(float64(z))
		lods = append(lods, arcgis.LOD{Level: z, Resolution: res, Scale: EsriStandardScale0 / math.Exp2(float64(z))})
	}
	return &Scheme{Info: arcgis.TileInfo{
		Rows: tileSize, Cols: tileSize, DPI: 96,
		Origin:           arcgis.Point2D{X: -MercatorHalfWorld, Y: MercatorHalfWorld},
		SpatialReference: &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857},
		LODs:             lods,
	}}
}

// LOD returns the level of detail with the given level id.
func (s *Scheme) LOD(level int) (arcgis.LOD, bool) {
	for _, l := range s.Info.LODs {
		if l.Level == level {
			return l, true
		}
	}
	return arcgis.LOD{}, false
}

// Levels returns the level ids of the scheme in ascending order.
func (s *Scheme) Levels() []int {
	out := make([]int, len(s.Info.LODs))
	for i, l := range s.Info.LODs {
		out[i] = l.Level
	}
	return out
}

// TileSpan returns the width and height of one tile at level in map units.
func (s *Scheme) TileSpan(level int) (w, h float64, ok bool) {
	l, ok := s.LOD(level)
	if !ok {
		return 0, 0, false
	}
	return l.Resolution * float64(s.Info.Cols), l.Resolution * float64(s.Info.Rows), true
}

// TileBounds returns the extent of tile (level,row,col) in the scheme's
// spatial reference (rows grow downward from the origin).
func (s *Scheme) TileBounds(level, row, col int) (xmin, ymin, xmax, ymax float64) {
	w, h, _ := s.TileSpan(level)
	xmin = s.Info.Origin.X + float64(col)*w
	xmax = xmin + w
	ymax = s.Info.Origin.Y - float64(row)*h
	ymin = ymax - h
	return
}

// IsWebMercator reports whether the scheme's spatial reference is Web Mercator.
func (s *Scheme) IsWebMercator() bool {
	return s.Info.SpatialReference != nil && s.Info.SpatialReference.IsWebMercator()
}

// XYZ reports whether the scheme is a Web Mercator XYZ grid: Web Mercator, origin
// at the top-left of the world, square tiles, and every level's tiles splitting
// the world into 2^z columns. Only then do level ids map to zooms (ZoomOf).
func (s *Scheme) XYZ() bool {
	if !s.IsWebMercator() || s.Info.Rows != s.Info.Cols {
		return false
	}
	if math.Abs(s.Info.Origin.X+MercatorHalfWorld) > 1 || math.Abs(s.Info.Origin.Y-MercatorHalfWorld) > 1 {
		return false
	}
	for _, l := range s.Info.LODs {
		if _, ok := s.ZoomOf(l.Level); !ok {
			return false
		}
	}
	return true
}

// ZoomOf returns the XYZ zoom of level: log2 of the number of tile columns
// spanning the Web Mercator world, when that is a whole number.
func (s *Scheme) ZoomOf(level int) (int, bool) {
	w, _, ok := s.TileSpan(level)
	if !ok {
		return 0, false
	}
	n := 2 * MercatorHalfWorld / w
	z := math.Round(math.Log2(n))
	if z < 0 || z > 30 || math.Abs(n-math.Exp2(z))/math.Exp2(z) > 1e-6 {
		return 0, false
	}
	return int(z), true
}

// GridSize returns the number of columns and rows that cover the scheme's
// world at level: 2^z for XYZ schemes; for other schemes 0 (unbounded).
func (s *Scheme) GridSize(level int) (cols, rows int) {
	if !s.IsWebMercator() || math.Abs(s.Info.Origin.X+MercatorHalfWorld) > 1 || math.Abs(s.Info.Origin.Y-MercatorHalfWorld) > 1 {
		return 0, 0
	}
	z, ok := s.ZoomOf(level)
	if !ok {
		return 0, 0
	}
	return 1 << z, 1 << z
}

// ErrNoLevels is returned when a scale range selects no level of the scheme.
var ErrNoLevels = errors.New("no level of detail in the scale range")

// LevelRange returns the levels whose scale lies in the ArcGIS scale range:
// minScale is the most zoomed-out scale shown (largest denominator), maxScale the
// most zoomed-in; 0 means no limit on that side. A scale within 0.5% of a
// boundary counts as inside (services round scales).
func (s *Scheme) LevelRange(minScale, maxScale float64) (lo, hi int, err error) {
	if minScale < 0 || maxScale < 0 {
		return 0, 0, fmt.Errorf("scale range %v..%v: negative scale", minScale, maxScale)
	}
	if minScale > 0 && maxScale > 0 && maxScale > minScale {
		return 0, 0, fmt.Errorf("scale range: maxScale %v is smaller-scale than minScale %v (minScale is the most zoomed-out)", maxScale, minScale)
	}
	lo, hi = math.MaxInt, math.MinInt
	for _, l := range s.Info.LODs {
		if minScale > 0 && l.Scale > minScale*1.005 {
			continue
		}
		if maxScale > 0 && l.Scale < maxScale/1.005 {
			continue
		}
		lo = min(lo, l.Level)
		hi = max(hi, l.Level)
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("scale range 1:%v..1:%v: %w", minScale, maxScale, ErrNoLevels)
	}
	return lo, hi, nil
}

// LevelForScale returns the level whose scale is nearest to scale (in log space).
func (s *Scheme) LevelForScale(scale float64) int {
	best, bestD := s.Info.LODs[0].Level, math.Inf(1)
	for _, l := range s.Info.LODs {
		d := math.Abs(math.Log(l.Scale / scale))
		if d < bestD {
			best, bestD = l.Level, d
		}
	}
	return best
}

// ToMercator projects WGS84 lon/lat degrees to Web Mercator metres. Latitudes
// are clamped to ±85.05112878°. It and ToWGS84 are the project's one Web
// Mercator conversion (orb's projection); other packages call them.
func ToMercator(lon, lat float64) (x, y float64) {
	const maxLat = 85.05112877980659
	lat = math.Max(-maxLat, math.Min(maxLat, lat))
	p := project.WGS84.ToMercator(orb.Point{lon, lat})
	return p[0], p[1]
}

// ToWGS84 projects Web Mercator metres to WGS84 lon/lat degrees.
func ToWGS84(x, y float64) (lon, lat float64) {
	p := project.Mercator.ToWGS84(orb.Point{x, y})
	return p[0], p[1]
}
