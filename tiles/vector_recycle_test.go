package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"sync/atomic"
	"testing"
)

// recyclingTiles serves the same tile bytes (gzip-compressed ones when gz)
// in a new buffer each time and counts the buffers handed back.
type recyclingTiles struct {
	gz       bool
	fetched  atomic.Int64
	recycled atomic.Int64
}

func (r *recyclingTiles) FetchTile(ctx context.Context, k TileKey) ([]byte, bool, error) {
	r.fetched.Add(1)
	if r.gz {
		return []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, nil
	}
	return []byte("a vector tile"), false, nil
}

func (r *recyclingTiles) RecycleTile([]byte) { r.recycled.Add(1) }

// Bug: gzipFetcher hid its fetcher's RecycleTile, so a vector tile
// download never reused a tile buffer. Every committed tile must go back
// (a tile compressed on the way also hands back the body it came in).
func TestGzipFetcherRecyclesTiles(t *testing.T) {
	s := WebMercatorScheme(512, 0, 14)
	covers := testCovers(t, s, demoAOI, 8, 11)
	for _, gz := range []bool{true, false} {
		inner := &recyclingTiles{gz: gz}
		st := openTestStore(t, t.TempDir(), "v.mbtiles", s)
		p, err := Download(context.Background(), st, &gzipFetcher{TileFetcher: inner}, covers, DownloadOptions{Concurrency: 2})
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := p.Fetched
		if !gz {
			want *= 2
		}
		if p.Fetched == 0 || inner.fetched.Load() != p.Fetched || inner.recycled.Load() != want {
			t.Errorf("gzip %v: %d tiles fetched, %d committed, %d buffers recycled, want %d", gz, inner.fetched.Load(), p.Fetched, inner.recycled.Load(), want)
		}
	}
}

// gzipFetcher compresses an uncompressed tile into a gzip stream that
// reads back to the tile, tile after tile, reusing its gzip writers.
func TestGzipFetcherCompresses(t *testing.T) {
	g := &gzipFetcher{TileFetcher: &recyclingTiles{}}
	for i := range 3 {
		b, absent, err := g.FetchTile(context.Background(), TileKey{Level: i})
		if err != nil || absent {
			t.Fatalf("tile %d: absent %v err %v", i, absent, err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("tile %d: not gzip: %v", i, err)
		}
		if got, err := io.ReadAll(zr); err != nil || string(got) != "a vector tile" {
			t.Fatalf("tile %d: decompressed %q, %v", i, got, err)
		}
	}
}

// BenchmarkGzipFetcher: bytes allocated per uncompressed vector tile the
// fetcher compresses (a gzip writer per tile was ~800 KB).
func BenchmarkGzipFetcher(b *testing.B) {
	g := &gzipFetcher{TileFetcher: &recyclingTiles{}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := g.FetchTile(ctx, TileKey{}); err != nil {
			b.Fatal(err)
		}
	}
}
