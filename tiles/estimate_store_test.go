package tiles

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

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
	if small < storeBase(smallStorePage)+100*1000 || small > storeBase(smallStorePage)+100*1400 {
		t.Errorf("100 tiles of 1000 B: %d", small)
	}
	over := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 1, Tiles: 100, Bytes: 100 * 4200}}})
	if over < storeBase(smallStorePage)+100*(4096+400) {
		t.Errorf("100 tiles of 4200 B take an overflow page each: %d", over)
	}
	if empty := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 1}}}); empty != storeBase(smallStorePage) {
		t.Errorf("no tiles: %d", empty)
	}
}

// A store planned for many tiles has 64 KiB pages, where rows are stored
// whole in the leaves, unless its tiles are so big that two do not fit in
// a page: tiles of 40 KB get 32 KiB pages, where each spills into one
// overflow page and little room is lost (64 KiB pages took a page each).
func TestStoreSizeBigPages(t *testing.T) {
	const n = bigStoreTiles
	for _, c := range []struct {
		tiles int64
		mean  float64
		want  int
	}{{n, 0, bigStorePage}, {n, 13000, bigStorePage}, {n, 20000, bigStorePage}, {n, 40000, midStorePage},
		{n, 48000, midStorePage}, {n, 100000, bigStorePage}, {n - 1, 40000, smallStorePage}} {
		if got := storePageSize(c.tiles, c.mean); got != c.want {
			t.Errorf("%d tiles of %.0f B: page size %d, want %d", c.tiles, c.mean, got, c.want)
		}
	}
	got := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 12, Tiles: n, Bytes: n * 40000}}})
	if max := int64(n) * 46000; got > max {
		t.Fatalf("%d tiles of 40 KB: %d, want at most %d (no page each)", n, got, max)
	}
	// Under the plan threshold the same tiles spill into 4 KiB overflow
	// pages with little waste.
	small := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 12, Tiles: n - 1, Bytes: (n - 1) * 40000}}})
	if small > int64(n-1)*44000 {
		t.Fatalf("%d tiles of 40 KB in 4 KiB pages: %d", n-1, small)
	}
}

// StoreSize is within 10% of the file a store being built (Plan, Put in
// batches, Finalize, Close) ends up as, for small and big plans and tile
// sizes either side of a 4 KiB page, and a big plan of tiles over half a
// 64 KiB page does not waste a page's remainder per tile.
func TestStoreSizeMatchesFile(t *testing.T) {
	cases := []struct {
		tiles, lo, hi int
		waste         float64 // if set, the most the file may exceed the tiles' bytes by
	}{
		{300, 10 << 10, 16 << 10, 0},                 // 4 KiB pages, overflow
		{3000, 1000, 3000, 0},                        // 4 KiB pages, rows in leaves
		{bigStoreTiles, 1000, 3000, 0},               // 64 KiB pages, many rows a leaf
		{bigStoreTiles + 100, 10 << 10, 16 << 10, 0}, // 64 KiB pages, four or five rows a leaf
		{bigStoreTiles, 30 << 10, 50 << 10, 0.15},    // 32 KiB pages, one overflow page a tile (64 KiB: +60%)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%d tiles of %d-%d B", c.tiles, c.lo, c.hi), func(t *testing.T) {
			if testing.Short() && c.tiles*c.hi > 10<<20 {
				t.Skip("writes more than 10 MB")
			}
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "s.mbtiles")
			st, err := OpenStoreForBuild(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Plan(ctx, int64(c.tiles)); err != nil {
				t.Fatal(err)
			}
			if err := st.Configure(ctx, WebMercatorScheme(256, 0, 19), "png"); err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(3, uint64(c.tiles)))
			var recs []TileRecord
			var bytes int64
			for i := 0; i < c.tiles; i++ {
				b := make([]byte, c.lo+rng.IntN(c.hi-c.lo+1))
				for j := range b {
					b[j] = byte(rng.Uint32())
				}
				bytes += int64(len(b))
				recs = append(recs, TileRecord{Key: TileKey{Level: 14, Row: i / 128, Col: i % 128}, Data: b})
				if len(recs) == 256 || i == c.tiles-1 {
					if err := st.Put(ctx, recs); err != nil {
						t.Fatal(err)
					}
					recs = recs[:0]
				}
			}
			if err := st.Finalize(ctx, "s", &[4]float64{-1, -1, 1, 1}); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			est := StoreSize(Estimate{Levels: []LevelEstimate{{Level: 14, Tiles: int64(c.tiles), Bytes: bytes}}})
			rel := float64(est)/float64(fi.Size()) - 1
			t.Logf("file %d, estimate %d (%+.1f%%), tiles %d bytes", fi.Size(), est, 100*rel, bytes)
			if c.waste > 0 && float64(fi.Size()) > (1+c.waste)*float64(bytes) {
				t.Errorf("file %d is more than %.0f%% over its tiles' %d bytes", fi.Size(), 100*c.waste, bytes)
			}
			if math.Abs(rel) > 0.10 {
				t.Errorf("estimate %d is %+.1f%% off the file's %d bytes", est, 100*rel, fi.Size())
			}
		})
	}
}
