package tiles

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/offlined/offlined/internal/pmtiles"
)

// leafArchive is a PMTiles archive of leaves×leafSize one-tile entries
// (tile ids 0, 1, 2, …), each tile 8 bytes holding its id, in leaf
// directories of leafSize entries.
func leafArchive(t testing.TB, leaves, leafSize int) []byte {
	t.Helper()
	n := leaves * leafSize
	data := make([]byte, 8*n)
	var rootEntries []pmtiles.Entry
	var leafBytes []byte
	entries := make([]pmtiles.Entry, leafSize)
	for l := range leaves {
		for i := range entries {
			id := uint64(l*leafSize + i)
			binary.LittleEndian.PutUint64(data[8*id:], id)
			entries[i] = pmtiles.Entry{TileID: id, Offset: 8 * id, Length: 8, RunLength: 1}
		}
		b, err := pmtiles.EncodeDirectory(entries, pmtiles.Gzip)
		if err != nil {
			t.Fatal(err)
		}
		rootEntries = append(rootEntries, pmtiles.Entry{TileID: entries[0].TileID, Offset: uint64(len(leafBytes)), Length: uint32(len(b))})
		leafBytes = append(leafBytes, b...)
	}
	root, err := pmtiles.EncodeDirectory(rootEntries, pmtiles.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	maxZ, _, _, err := pmtiles.IDToZxy(uint64(n - 1))
	if err != nil {
		t.Fatal(err)
	}
	h := pmtiles.Header{SpecVersion: 3, InternalCompression: pmtiles.Gzip, TileCompression: pmtiles.NoCompression, TileType: pmtiles.PNG, MaxZoom: maxZ, MaxLonE7: 10, MaxLatE7: 20}
	h.RootOffset, h.RootLength = pmtiles.HeaderLen, uint64(len(root))
	h.MetadataOffset = h.RootOffset + h.RootLength
	h.LeafDirectoryOffset, h.LeafDirectoryLength = h.MetadataOffset, uint64(len(leafBytes))
	h.TileDataOffset, h.TileDataLength = h.LeafDirectoryOffset+h.LeafDirectoryLength, uint64(len(data))
	return bytes.Join([][]byte{pmtiles.EncodeHeader(h), root, leafBytes, data}, nil)
}

// fetchID fetches the tile of id and checks it holds its id.
func fetchID(ctx context.Context, p *PMTiles, id uint64) error {
	z, x, y, err := pmtiles.IDToZxy(id)
	if err != nil {
		return err
	}
	b, absent, err := p.FetchTile(ctx, TileKey{Level: int(z), Col: int(x), Row: int(y)})
	if err != nil || absent || len(b) != 8 || binary.LittleEndian.Uint64(b) != id {
		return fmt.Errorf("tile %d (%d/%d/%d): %x, absent %v, %v", id, z, x, y, b, absent, err)
	}
	return nil
}

// countingRange counts the reads of an in-memory archive.
type countingRange struct {
	bytesRange
	reads atomic.Int64
}

func (c *countingRange) ReadRange(ctx context.Context, off, n uint64) ([]byte, error) {
	c.reads.Add(1)
	return c.bytesRange.ReadRange(ctx, off, n)
}

// A walk through every leaf of a large archive (a client paging through
// it, 24 MB of decoded leaf directories) keeps the reader's heap within
// the leaf cache's bound: the cache used to keep every leaf it had read.
func TestPMTilesLeafCacheBounded(t *testing.T) {
	const leaves, leafSize = 256, 4096 // go-pmtiles' leaf size
	ctx := context.Background()
	arch := leafArchive(t, leaves, leafSize)
	p, err := OpenPMTiles(ctx, bytesRange(arch))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for l := range leaves {
		if err := fetchID(ctx, p, uint64(l*leafSize+l%leafSize)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(p)
	runtime.KeepAlive(arch)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	all := int64(leaves * leafSize * leafEntryBytes)
	t.Logf("heap grown by %.1f MB walking %.1f MB of leaves (bound %.1f MB)", float64(grown)/1e6, float64(all)/1e6, float64(leafCacheBytes)/1e6)
	if grown > leafCacheBytes+4<<20 {
		t.Fatalf("heap grew by %d bytes walking %d leaves (%d bytes decoded); the leaf cache is bounded at %d", grown, leaves, all, leafCacheBytes)
	}
}

// The cache drops the least recently used leaf first, keeps the newest one
// even when it alone exceeds the bound, and counts its bytes back down.
func TestLeafCacheLRU(t *testing.T) {
	leaf := func(n int) []pmtiles.Entry { return make([]pmtiles.Entry, n) }
	size := func(n int) int { return n*leafEntryBytes + leafOverhead }
	c := newLeafCache(3 * size(10))
	for off := range uint64(3) {
		c.put(off, leaf(10))
	}
	if _, ok := c.get(0); !ok { // 0 is now the most recently used
		t.Fatal("leaf 0 evicted within the bound")
	}
	c.put(3, leaf(10)) // evicts 1, the least recently used
	for off, want := range []bool{true, false, true, true} {
		if _, ok := c.get(uint64(off)); ok != want {
			t.Errorf("after the fourth leaf: leaf %d cached %v, want %v", off, ok, want)
		}
	}
	if n, b := c.stats(); n != 3 || b != 3*size(10) {
		t.Errorf("%d leaves, %d bytes; want 3, %d", n, b, 3*size(10))
	}
	c.put(3, leaf(10)) // again: no double count
	if n, b := c.stats(); n != 3 || b != 3*size(10) {
		t.Errorf("after putting leaf 3 again: %d leaves, %d bytes", n, b)
	}
	c.put(9, leaf(100)) // alone beyond the bound: kept, all others dropped
	if n, b := c.stats(); n != 1 || b != size(100) {
		t.Errorf("after a leaf beyond the bound: %d leaves, %d bytes; want 1, %d", n, b, size(100))
	}
	if _, ok := c.get(9); !ok {
		t.Error("the newest leaf, beyond the bound, was not kept")
	}
	c.put(10, leaf(10))
	if _, ok := c.get(9); ok {
		t.Error("the leaf beyond the bound stayed when a newer one came")
	}
	if n, b := c.stats(); n != 1 || b != size(10) {
		t.Errorf("%d leaves, %d bytes; want 1, %d", n, b, size(10))
	}
}

// Through the reader: a walk that comes back to a leaf within the bound
// reads it once; one that comes back after more leaves than the bound
// holds reads it again and still finds the right tiles; concurrent walks
// (a download's workers) stay within the bound and find every tile.
func TestPMTilesLeafCacheWalk(t *testing.T) {
	const leaves, leafSize = 12, 64
	ctx := context.Background()
	r := &countingRange{bytesRange: leafArchive(t, leaves, leafSize)}
	p, err := OpenPMTiles(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	bound := 3 * (leafSize*leafEntryBytes + leafOverhead)
	p.leaves = newLeafCache(bound)
	// readsOf returns the reads a walk over the ids of the leaves made
	// (each tile is one read; the rest are leaf directories).
	readsOf := func(leafIDs ...int) int64 {
		t.Helper()
		start := r.reads.Load()
		for _, l := range leafIDs {
			for i := range leafSize {
				if err := fetchID(ctx, p, uint64(l*leafSize+i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		return r.reads.Load() - start - int64(len(leafIDs)*leafSize)
	}
	if n := readsOf(0, 1, 2, 0, 1, 2); n != 3 {
		t.Errorf("three leaves walked twice within the bound: %d directory reads, want 3", n)
	}
	if n := readsOf(3, 4, 5, 0); n != 4 {
		t.Errorf("leaf 0 after three newer leaves: %d directory reads, want 4", n)
	}
	if _, b := p.leaves.stats(); b > bound {
		t.Errorf("cache holds %d bytes, bound %d", b, bound)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for id := w; id < leaves*leafSize; id += 8 {
				if err := fetchID(ctx, p, uint64(id)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, b := p.leaves.stats(); b > bound || n == 0 {
		t.Errorf("after concurrent walks: %d leaves, %d bytes, bound %d", n, b, bound)
	}
}
