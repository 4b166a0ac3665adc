package tiles

import "math"

// SQLite layout figures for StoreSize. A store's page size follows its
// planned tile count (storePageSize, as Store.Plan sets it).
const (
	// smallStoreBasePages and bigStoreBasePages are an empty, configured
	// MBTiles store in pages: its schema, metadata (the tileInfo JSON
	// spills over a 4 KiB page) and offlined's state tables.
	smallStoreBasePages = 10
	bigStoreBasePages   = 7
	// tileRowOverhead is what a tile adds besides its blob: its row
	// header, the tile_index entry and offlined's tile state.
	tileRowOverhead = 48
	// leafFill is how full B-tree leaf pages are on average.
	leafFill = 0.85
	// cellOverhead is a tile row's cell header (payload size, rowid,
	// record header, the three integers) and its cell pointer.
	cellOverhead = 13
	// leafHeader is the header of a table B-tree leaf page.
	leafHeader = 8
)

// storeBase is the size of an empty store with pages of page bytes.
func storeBase(page int) int64 {
	if page > smallStorePage {
		return bigStoreBasePages * int64(page)
	}
	return smallStoreBasePages * int64(page)
}

// StoreSize returns the expected size in bytes of an MBTiles store holding
// the tiles of est (which must have bytes), with the page size a store
// planned for its levels' tiles gets (storePageSize; the store takes the
// mean size of its first batch, the model that of all est's tiles): per
// level, its tile count times what one tile
// of the level's mean size takes in SQLite pages (a blob over a page spills
// into overflow pages that are never shared; rows stored whole in a leaf
// share it only as far as whole rows fit), plus the empty store.
func StoreSize(est Estimate) int64 {
	var n, bytes int64
	for _, l := range est.Levels {
		n += l.Tiles
		bytes += l.Bytes
	}
	page := storePageSize(n, float64(bytes)/float64(max(n, 1)))
	size := float64(storeBase(page))
	for _, l := range est.Levels {
		if l.Tiles == 0 {
			continue
		}
		avg := float64(l.Bytes) / float64(l.Tiles)
		size += float64(l.Tiles) * (blobCost(avg, page) + tileRowOverhead/leafFill)
	}
	return int64(math.Ceil(size))
}

// blobCost is the bytes one blob of size s takes in a table B-tree with
// pages of page bytes (SQLite's local payload and overflow page rule for a
// table leaf).
func blobCost(s float64, page int) float64 {
	usable := float64(page)
	maxLocal := usable - 35
	local, overflow := s, 0.0
	if s > maxLocal {
		minLocal := math.Floor((usable-12)*32/255) - 23
		local = minLocal + math.Mod(s-minLocal, usable-4)
		if local > maxLocal {
			local = minLocal
		}
		overflow = math.Ceil((s - local) / (usable - 4))
	}
	return leafCost(local, usable) + overflow*usable
}

// leafCost is the leaf room a row with local payload bytes takes in pages
// of usable bytes. Rows are appended, so a leaf holds as many whole rows as
// fit and, on average, half a row's room is left at its end. In 4 KiB pages
// the store's other B-trees (tile_index, offlined's state, both filled out
// of order) weigh more: rows cost at least local/leafFill there.
func leafCost(local, usable float64) float64 {
	cell := local + cellOverhead
	perPage := max(1, (usable-leafHeader)/cell-0.5)
	packed := usable / perPage
	if usable >= bigStorePage {
		return packed
	}
	return max(local/leafFill, packed)
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
