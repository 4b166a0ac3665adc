package tiles

import "math"

// SQLite layout figures for StoreSize (offlined's stores use 4096-byte
// pages).
const (
	sqlitePage = 4096
	// storeBase is an empty, configured MBTiles store: its schema,
	// metadata and offlined's state tables.
	storeBase = 10 * sqlitePage
	// tileRowOverhead is what a tile adds besides its blob: its row
	// header, the tile_index entry and offlined's tile state.
	tileRowOverhead = 48
	// leafFill is how full B-tree leaf pages are on average.
	leafFill = 0.85
)

// StoreSize returns the expected size in bytes of an MBTiles store holding
// the tiles of est (which must have bytes): per level, its tile count times
// what one tile of the level's mean size takes in SQLite pages (a blob over
// a page spills into overflow pages that are never shared), plus the empty
// store.
func StoreSize(est Estimate) int64 {
	size := float64(storeBase)
	for _, l := range est.Levels {
		if l.Tiles == 0 {
			continue
		}
		avg := float64(l.Bytes) / float64(l.Tiles)
		size += float64(l.Tiles) * (blobCost(avg) + tileRowOverhead/leafFill)
	}
	return int64(math.Ceil(size))
}

// blobCost is the bytes one blob of size s takes in a table B-tree
// (SQLite's local payload and overflow page rule for a table leaf).
func blobCost(s float64) float64 {
	usable := float64(sqlitePage)
	maxLocal := usable - 35
	if s <= maxLocal {
		return s / leafFill
	}
	minLocal := math.Floor((usable-12)*32/255) - 23
	local := minLocal + math.Mod(s-minLocal, usable-4)
	if local > maxLocal {
		local = minLocal
	}
	overflow := math.Ceil((s - local) / (usable - 4))
	return local/leafFill + overflow*usable
}

// CompactV2 layout (ArcGIS tile packages, .tpkx): a bundle holds up to
// 128×128 tiles behind a 64-byte header and an 8-byte index entry per
// tile slot, and each tile is preceded by its 4-byte length.
const (
	bundleDim        = 128
	bundleHeader     = 64 + bundleDim*bundleDim*8
	bundleTilePrefix = 4
)

// TilePackageOverhead returns the bytes a CompactV2 tile package of covers
// holds besides the tiles themselves (bundle headers and indexes, length
// prefixes): what estimateExportTilesSize counts and an MBTiles store does
// not.
func TilePackageOverhead(covers []LevelCover) int64 {
	var n int64
	for _, c := range covers {
		bundles := map[[2]int]bool{}
		for _, s := range c.Spans {
			for b := s.Col0 / bundleDim; b <= s.Col1/bundleDim; b++ {
				bundles[[2]int{s.Row / bundleDim, b}] = true
			}
		}
		n += int64(len(bundles))*bundleHeader + c.Count()*bundleTilePrefix
	}
	return n
}
