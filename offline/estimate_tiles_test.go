package offline

import (
	"context"
	"testing"

	"github.com/offlined/offlined/tiles"
)

// recycledTiles is a tile fetcher that keeps the buffers handed back.
type recycledTiles struct{ back [][]byte }

func (r *recycledTiles) FetchTile(context.Context, tiles.TileKey) ([]byte, bool, error) {
	return []byte("tile"), false, nil
}

func (r *recycledTiles) RecycleTile(b []byte) { r.back = append(r.back, b) }

// Bug: timedFetcher hid the wrapped fetcher's RecycleTile, so a download
// through it never reused a tile buffer.
func TestTimedFetcherRecyclesTiles(t *testing.T) {
	inner := &recycledTiles{}
	var f tiles.TileFetcher = &timedFetcher{f: inner}
	rc, ok := f.(tiles.TileRecycler)
	if !ok {
		t.Fatal("timedFetcher is not a tiles.TileRecycler")
	}
	b := []byte("committed tile")
	rc.RecycleTile(b)
	if len(inner.back) != 1 || &inner.back[0][0] != &b[0] {
		t.Fatalf("wrapped fetcher got %d buffers back, want the one recycled", len(inner.back))
	}
	// A wrapped fetcher that does not recycle is left alone.
	(&timedFetcher{f: tiles.TileFetcher(nil)}).RecycleTile(b)
}
