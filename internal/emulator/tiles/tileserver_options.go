package tiles

import (
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/paulmach/orb"
)

// TileOptions configures the emulated tile services. Emulator Options.Tiles
// nil means DemoTileOptions().
type TileOptions struct {
	// MapServices are the cached (tiled) MapServers.
	MapServices []MapServiceOptions
	// ImageServices are cached ImageServers: the same tiles, tilemap and
	// exportTiles as MapServices under …/{Name}/ImageServer.
	ImageServices []MapServiceOptions
	// DynamicServices names non-cached MapServers (no tileInfo; online only).
	DynamicServices []string
	// VectorServices are the VectorTileServers.
	VectorServices []VectorServiceOptions
	// WorkDir holds exported packages. Empty means a directory under
	// os.TempDir() created on first export (tests should pass t.TempDir()).
	WorkDir string
	// CacheTiles bounds the encoded-tile LRU per service (0 means 4096).
	CacheTiles int
	// JobStep is the pause between GP job state changes (0 means 20ms), so
	// clients observe esriJobSubmitted and esriJobExecuting.
	JobStep time.Duration
}

// MapServiceOptions configures one cached MapServer.
type MapServiceOptions struct {
	// Name is the service name in …/services/{Name}/MapServer.
	Name string
	// TileInfo is the tiling scheme (rows, cols, dpi, origin, SR, lods).
	// Zero means WebMercatorTileInfo(256, 19, Format). Its Format is
	// overridden by Format.
	TileInfo arcgis.TileInfo
	// Format is "PNG" (default) or "JPEG".
	Format string
	// CompressionQuality is the JPEG quality (0 means 75).
	CompressionQuality int
	// DataBounds is the WGS84 lon/lat area where tiles exist; tiles that do
	// not overlap it answer 404. Zero means DemoBounds().
	DataBounds orb.Bound
	// ExportTilesAllowed enables exportTiles/estimateExportTilesSize.
	ExportTilesAllowed bool
	// MaxExportTilesCount is the exportTiles limit (0 means 100000).
	MaxExportTilesCount int
	// NoTilemap removes the Tilemap capability and the tilemap resource.
	NoTilemap bool
	// HoleRate is the share of tiles at level ≥ 2 inside DataBounds that are
	// absent (deterministic from Seed); the tilemap reports them as 0.
	HoleRate float64
	// Seed varies tile content (0 means the emulator's Seed).
	Seed int64
}

// VectorServiceOptions configures one VectorTileServer (512 px Web
// Mercator, gzip MVT built from the demo feature service).
type VectorServiceOptions struct {
	// Name is the service name in …/services/{Name}/VectorTileServer.
	Name string
	// MaxLevel is the deepest level served (0 means 16; at most 19).
	MaxLevel int
	// DataBounds is the WGS84 area where tiles exist (zero means DemoBounds()).
	DataBounds orb.Bound
	// ExportTilesAllowed enables exportTiles (.vtpk).
	ExportTilesAllowed bool
	// MaxExportTilesCount is the exportTiles limit (0 means 10000).
	MaxExportTilesCount int
	// NoContentEncoding serves the gzip tile bytes without the
	// "Content-Encoding: gzip" header (some servers and proxies do this).
	NoContentEncoding bool
}

// DemoBounds returns the demo area (WGS84 lon/lat) where generated data lies.
func DemoBounds() orb.Bound {
	return orb.Bound{Min: orb.Point{-117.25, 33.98}, Max: orb.Point{-117.10, 34.10}}
}

// DemoTileOptions returns the demo tile services: the Web Mercator MapServer
// "Demo_Basemap" (256 px, levels 0-19, PNG, exportTiles up to 100000
// tiles, Tilemap), "Demo_Geographic" (WGS84 4326 scheme, levels 0-17,
// JPEG), the dynamic MapServer "Dynamic_Layers" and the VectorTileServer
// "Demo_Vector".
func DemoTileOptions() *TileOptions {
	return &TileOptions{
		MapServices: []MapServiceOptions{
			{Name: "Demo_Basemap", ExportTilesAllowed: true},
			{Name: "Demo_Geographic", TileInfo: GeographicTileInfo(17, "JPEG"), Format: "JPEG", ExportTilesAllowed: true},
		},
		DynamicServices: []string{"Dynamic_Layers"},
		VectorServices:  []VectorServiceOptions{{Name: "Demo_Vector", ExportTilesAllowed: true}},
	}
}
