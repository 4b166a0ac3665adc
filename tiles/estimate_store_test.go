package tiles

import "testing"

// A tile package's overhead counts each 128×128 bundle a cover touches once
// per level and 4 bytes per tile.
func TestTilePackageOverhead(t *testing.T) {
	covers := []LevelCover{
		{Level: 3, Spans: []Span{{Row: 0, Col0: 0, Col1: 129}, {Row: 1, Col0: 5, Col1: 6}}}, // bundles (0,0), (0,1)
		{Level: 4, Spans: []Span{{Row: 200, Col0: 10, Col1: 10}}},                           // bundle (1,0)
	}
	want := int64(3*(64+128*128*8) + (130+2+1)*4)
	if got := TilePackageOverhead(covers); got != want {
		t.Fatalf("TilePackageOverhead = %d, want %d", got, want)
	}
}

// Small tiles share leaf pages; a tile just over a page takes a whole
// overflow page more, so the store size is not proportional to the bytes.
func TestStoreSize(t *testing.T) {
	small := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 1, Tiles: 100, Bytes: 100 * 1000}}})
	if small < storeBase+100*1000 || small > storeBase+100*1400 {
		t.Errorf("100 tiles of 1000 B: %d", small)
	}
	over := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 1, Tiles: 100, Bytes: 100 * 4200}}})
	if over < storeBase+100*(4096+400) {
		t.Errorf("100 tiles of 4200 B take an overflow page each: %d", over)
	}
	if empty := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 1}}}); empty != storeBase {
		t.Errorf("no tiles: %d", empty)
	}
}
