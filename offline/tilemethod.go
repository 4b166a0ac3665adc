package offline

// Tile methods of a raster tiled layer (ExportTileCacheParameters.TileMethod).
const (
	// TileMethodAuto (the default) asks the service for a tile package
	// (exportTiles, what the ArcGIS SDKs' ExportTileCacheJob does and what
	// Esri's terms expect for *.arcgis.com basemaps) and falls back to
	// direct tile requests when the export fails.
	TileMethodAuto = ""
	// TileMethodExport uses exportTiles only (a failed export fails the
	// layer).
	TileMethodExport = "exportTiles"
	// TileMethodDirect fetches the tiles one by one (resumable per tile).
	TileMethodDirect = "tiles"
)

// exportMode says how runRasterTiles takes a layer: through exportTiles
// (export), with a fallback to direct requests when it fails (fallback).
func (p *ExportTileCacheParameters) exportMode() (export, fallback bool) {
	switch {
	case p.ExportTiles || p.CompressionQuality >= 0 || p.TileMethod == TileMethodExport:
		return true, false // only the server recompresses
	case p.TileMethod == TileMethodDirect:
		return false, false
	}
	return true, true
}
