package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"

	"github.com/offlined/offlined/internal/pmtiles"
)

// hostileLeafArchive is an archive whose root points tile 0 to one leaf
// directory of n four-byte entries (tile id 0, run length 1, length 0,
// contiguous offsets), gzip-compressed: a few KB on the wire.
func hostileLeafArchive(t testing.TB, n int) []byte {
	t.Helper()
	raw := binary.AppendUvarint(nil, uint64(n))
	raw = append(raw, make([]byte, n)...)
	raw = append(raw, bytes.Repeat([]byte{1}, n)...)
	raw = append(raw, make([]byte, n)...)
	raw = append(raw, 1)
	raw = append(raw, make([]byte, n-1)...)
	return leafArchive1(t, raw)
}

// leafArchive1 is an archive whose root points tile 0 to one leaf
// directory: raw, gzip-compressed.
func leafArchive1(t testing.TB, raw []byte) []byte {
	t.Helper()
	var leaf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&leaf, gzip.BestCompression)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	root, err := pmtiles.EncodeDirectory([]pmtiles.Entry{{TileID: 0, Offset: 0, Length: uint32(leaf.Len())}}, pmtiles.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	h := pmtiles.Header{SpecVersion: 3, InternalCompression: pmtiles.Gzip, TileCompression: pmtiles.NoCompression, TileType: pmtiles.PNG, MaxZoom: 2}
	h.RootOffset, h.RootLength = pmtiles.HeaderLen, uint64(len(root))
	h.MetadataOffset = h.RootOffset + h.RootLength
	h.LeafDirectoryOffset, h.LeafDirectoryLength = h.MetadataOffset, uint64(leaf.Len())
	h.TileDataOffset = h.LeafDirectoryOffset + h.LeafDirectoryLength
	return bytes.Join([][]byte{pmtiles.EncodeHeader(h), root, leaf.Bytes()}, nil)
}

// A hostile archive's 32 KB leaf directory of 8 million entries (32 MiB
// decompressed, the old cap) used to be decoded whole, ~280 MB allocated
// for one tile request; the entry count is now refused with a typed
// error before the leaf is decompressed.
func TestPMTilesHostileLeafRefused(t *testing.T) {
	ctx := context.Background()
	arch := hostileLeafArchive(t, (32<<20-4)/4)
	p, err := OpenPMTiles(ctx, bytesRange(arch))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, absent, err := p.FetchTile(ctx, TileKey{Level: 0})
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d-byte archive: tile 0/0/0 %d bytes, absent %v, %v; %.1f MB allocated", len(arch), len(b), absent, err, float64(alloc)/1e6)
	var pe *pmtiles.Error
	if !errors.Is(err, pmtiles.ErrTooLarge) || !errors.As(err, &pe) || pe.Part != "directory" {
		t.Fatalf("tile 0/0/0: absent %v, %v; want pmtiles.ErrTooLarge", absent, err)
	}
	if alloc > 4<<20 {
		t.Fatalf("refusing the leaf allocated %d bytes", alloc)
	}
	if leaves, _ := p.leaves.stats(); leaves != 0 {
		t.Fatalf("%d leaves cached", leaves)
	}
}

// The same directory as the root: the archive does not open.
func TestPMTilesHostileRootRefused(t *testing.T) {
	arch := hostileLeafArchive(t, (32<<20-4)/4)
	h, err := pmtiles.DecodeHeader(arch)
	if err != nil {
		t.Fatal(err)
	}
	h.RootOffset, h.RootLength = h.LeafDirectoryOffset, h.LeafDirectoryLength // the leaf is the root
	copy(arch, pmtiles.EncodeHeader(h))
	if p, err := OpenPMTiles(context.Background(), bytesRange(arch)); !errors.Is(err, pmtiles.ErrTooLarge) || p != nil {
		t.Fatalf("opened: %v; want pmtiles.ErrTooLarge", err)
	}
}
