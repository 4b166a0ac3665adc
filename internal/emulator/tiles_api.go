package emulator

import (
	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/emulator/tiles"
)

// Tile service options (package tiles).
type (
	// TileOptions configures the tile services.
	TileOptions = tiles.TileOptions
	// MapServiceOptions configures one cached MapServer or ImageServer.
	MapServiceOptions = tiles.MapServiceOptions
	// VectorServiceOptions configures one VectorTileServer.
	VectorServiceOptions = tiles.VectorServiceOptions
)

// DemoBounds is the demo data area in WGS84.
func DemoBounds() orb.Bound { return tiles.DemoBounds() }

// DemoTileOptions returns the demo tile services.
func DemoTileOptions() *TileOptions { return tiles.DemoTileOptions() }
