package tiles

import (
	"math"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/project"
)

// esriWebMercator256 are Esri's standard Web Mercator levels (256 px tiles,
// 96 dpi) as published in ArcGIS Online basemap caches (conf.xml of Esri's
// compact cache sample, levels 0-19, extended to 23).
var esriWebMercator256 = [...][2]float64{
	{156543.03392800014, 591657527.591555},
	{78271.516963999937, 295828763.795777},
	{39135.758482000092, 147914381.897889},
	{19567.879240999919, 73957190.948944},
	{9783.9396204999593, 36978595.474472},
	{4891.9698102499797, 18489297.737236},
	{2445.9849051249898, 9244648.868618},
	{1222.9924525624949, 4622324.434309},
	{611.49622628137968, 2311162.217155},
	{305.74811314055756, 1155581.108577},
	{152.87405657041106, 577790.554289},
	{76.437028285073239, 288895.277144},
	{38.21851414253662, 144447.638572},
	{19.10925707126831, 72223.819286},
	{9.5546285356341549, 36111.909643},
	{4.7773142679493699, 18055.954822},
	{2.3886571339746849, 9027.977411},
	{1.1943285668550503, 4513.988705},
	{0.59716428355981721, 2256.994353},
	{0.29858214164761665, 1128.497176},
	{0.14929107082380833, 564.248588},
	{0.074645535411904163, 282.124294},
	{0.037322767705952081, 141.062147},
	{0.018661383852976041, 70.5310735},
}

// esriWebMercator512 are Esri's 512 px Web Mercator levels as in the
// VectorTileServer documentation example (level z of this scheme covers the
// same ground as XYZ level z).
var esriWebMercator512 = [...][2]float64{
	{78271.516964, 295828763.7957775},
	{39135.75848199995, 147914381.8978885},
	{19567.87924100005, 73957190.9489445},
	{9783.93962049995, 36978595.474472},
	{4891.96981024998, 18489297.737236},
	{2445.98490512499, 9244648.868618},
	{1222.992452562495, 4622324.434309},
	{611.496226281245, 2311162.2171545},
	{305.74811314069, 1155581.1085775},
	{152.874056570279, 577790.5542885},
	{76.4370282852055, 288895.2771445},
	{38.2185141425366, 144447.638572},
	{19.1092570712683, 72223.819286},
	{9.55462853563415, 36111.909643},
	{4.777314267817075, 18055.9548215},
	{2.388657133974685, 9027.977411},
	{1.19432856698734, 4513.9887055},
	{0.597164283427525, 2256.9943525},
	{0.2985821417799085, 1128.4971765},
	{0.1492910708238085, 564.248588},
}

// webMercatorHalf is half the width of the Web Mercator world (metres):
// π × orb.EarthRadius, the value orb's projection (toScheme) and the tiles
// package use, so tile edges and projected points agree.
const webMercatorHalf = orb.EarthRadius * math.Pi

// EsriWebMercatorLODs returns Esri's standard Web Mercator levels 0..maxLevel
// for 256 px (maxLevel ≤ 23) or 512 px (maxLevel ≤ 19) tiles.
func EsriWebMercatorLODs(tileSize, maxLevel int) []arcgis.LOD {
	table := esriWebMercator256[:]
	if tileSize == 512 {
		table = esriWebMercator512[:]
	}
	maxLevel = min(maxLevel, len(table)-1)
	lods := make([]arcgis.LOD, 0, maxLevel+1)
	for z := 0; z <= maxLevel; z++ {
		lods = append(lods, arcgis.LOD{Level: z, Resolution: table[z][0], Scale: table[z][1]})
	}
	return lods
}

// WebMercatorTileInfo returns a Web Mercator (102100/3857) tiling scheme with
// Esri's standard levels 0..maxLevel, tileSize 256 or 512, 96 dpi.
func WebMercatorTileInfo(tileSize, maxLevel int, format string) arcgis.TileInfo {
	return arcgis.TileInfo{
		Rows: tileSize, Cols: tileSize, DPI: 96, Format: format,
		Origin:           arcgis.Point2D{X: -webMercatorHalf, Y: webMercatorHalf},
		SpatialReference: &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857},
		LODs:             EsriWebMercatorLODs(tileSize, maxLevel),
	}
}

// metersPerDegree is the equatorial length of one degree on the WGS84
// ellipsoid's semi-major axis, used to give geographic levels a scale.
const metersPerDegree = 2 * math.Pi * 6378137 / 360

// esriMetersPerInch is the inch Esri's scales use (the US survey inch):
// Esri scale = resolution × dpi / esriMetersPerInch.
const esriMetersPerInch = 0.0254000508

// GeographicTileInfo returns a WGS84 geographic (4326) tiling scheme: origin
// (-180, 90), 256 px tiles, level 0 = 2×1 tiles (0.703125°/px), each level
// halving the resolution; scale = resolution × metersPerDegree × 96 /
// esriMetersPerInch.
func GeographicTileInfo(maxLevel int, format string) arcgis.TileInfo {
	lods := make([]arcgis.LOD, 0, maxLevel+1)
	for z := 0; z <= maxLevel; z++ {
		res := 0.703125 / math.Exp2(float64(z))
		lods = append(lods, arcgis.LOD{Level: z, Resolution: res, Scale: res * metersPerDegree * 96 / esriMetersPerInch})
	}
	return arcgis.TileInfo{
		Rows: 256, Cols: 256, DPI: 96, Format: format,
		Origin:           arcgis.Point2D{X: -180, Y: 90},
		SpatialReference: &arcgis.SpatialReference{WKID: 4326, LatestWKID: 4326},
		LODs:             lods,
	}
}

// rect is an axis-aligned rectangle in a scheme's coordinates.
type rect struct{ xmin, ymin, xmax, ymax float64 }

func (a rect) overlaps(b rect) bool {
	return a.xmin < b.xmax && b.xmin < a.xmax && a.ymin < b.ymax && b.ymin < a.ymax
}

// grid answers tile geometry questions for one tiling scheme.
type grid struct {
	info arcgis.TileInfo
	lods map[int]arcgis.LOD
	min  int // lowest level id
	max  int // highest level id
}

func newGrid(info arcgis.TileInfo) *grid {
	g := &grid{info: info, lods: map[int]arcgis.LOD{}, min: math.MaxInt, max: -1}
	for _, l := range info.LODs {
		g.lods[l.Level] = l
		g.min = min(g.min, l.Level)
		g.max = max(g.max, l.Level)
	}
	return g
}

// span returns the ground width of one tile at level (0 if the level is unknown).
func (g *grid) span(level int) float64 {
	l, ok := g.lods[level]
	if !ok {
		return 0
	}
	return l.Resolution * float64(g.info.Cols)
}

// tileRect returns the ground rectangle of tile (level,row,col).
func (g *grid) tileRect(level, row, col int) rect {
	s := g.span(level)
	x0 := g.info.Origin.X + float64(col)*s
	y1 := g.info.Origin.Y - float64(row)*s
	return rect{x0, y1 - s, x0 + s, y1}
}

// tileRange returns the rows and columns of tiles that overlap r at level
// (with positive area). ok is false when there are none.
func (g *grid) tileRange(level int, r rect) (r0, r1, c0, c1 int, ok bool) {
	s := g.span(level)
	if s == 0 || r.xmax <= r.xmin || r.ymax <= r.ymin {
		return 0, 0, 0, 0, false
	}
	const eps = 1e-9
	c0 = int(math.Floor((r.xmin-g.info.Origin.X)/s + eps))
	c1 = int(math.Ceil((r.xmax-g.info.Origin.X)/s-eps)) - 1
	r0 = int(math.Floor((g.info.Origin.Y-r.ymax)/s + eps))
	r1 = int(math.Ceil((g.info.Origin.Y-r.ymin)/s-eps)) - 1
	c0, r0 = max(c0, 0), max(r0, 0)
	if w, ok := g.world(); ok { // Esri's rounded resolutions overshoot the world slightly
		c1 = min(c1, int(math.Round((w.xmax-g.info.Origin.X)/s))-1)
		r1 = min(r1, int(math.Round((g.info.Origin.Y-w.ymin)/s))-1)
	}
	return r0, r1, c0, c1, r1 >= r0 && c1 >= c0
}

// srEPSG is the EPSG code of sr (0 when unknown).
func srEPSG(sr *arcgis.SpatialReference) int { return sr.EPSG() }

// toScheme converts a point given in spatial reference from (EPSG code; 0
// means the scheme's own) to the scheme's coordinates.
func (g *grid) toScheme(p orb.Point, from int) (orb.Point, bool) {
	to := srEPSG(g.info.SpatialReference)
	if from == 0 || from == to {
		return p, true
	}
	switch {
	case from == 4326 && to == 3857:
		return project.WGS84.ToMercator(p), true
	case from == 3857 && to == 4326:
		return project.Mercator.ToWGS84(p), true
	}
	return p, false
}

// wgs84Rect converts a WGS84 bound to a rectangle in the scheme's SR,
// clipped to the scheme's world (Web Mercator square, or ±180°/±90°).
func (g *grid) wgs84Rect(b orb.Bound) rect {
	lo, _ := g.toScheme(b.Min, 4326)
	hi, _ := g.toScheme(b.Max, 4326)
	r := rect{lo[0], lo[1], hi[0], hi[1]}
	w, ok := g.world()
	if !ok {
		return r
	}
	return rect{max(r.xmin, w.xmin), max(r.ymin, w.ymin), min(r.xmax, w.xmax), min(r.ymax, w.ymax)}
}

// world returns the extent of the scheme's world when known (Web Mercator
// or WGS84).
func (g *grid) world() (rect, bool) {
	switch srEPSG(g.info.SpatialReference) {
	case 3857:
		return rect{-webMercatorHalf, -webMercatorHalf, webMercatorHalf, webMercatorHalf}, true
	case 4326:
		return rect{-180, -90, 180, 90}, true
	}
	return rect{}, false
}
