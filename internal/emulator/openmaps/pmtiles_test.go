package openmaps_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/offlined/offlined/internal/emulator/openmaps"
	gp "github.com/protomaps/go-pmtiles/pmtiles"
)

// TestArchiveOracle: the official library (the test oracle) reads the
// archive internal/pmtiles writes: every tile entry leads to the tile the
// archive holds at that z/x/y, the counts match, and the library's own
// serialisers write the same header, directory and metadata bytes.
func TestArchiveOracle(t *testing.T) {
	arch := openmaps.New(openmaps.Options{}).ArchiveBytes()
	h, err := gp.DeserializeHeader(arch)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gp.SerializeHeader(h), arch[:gp.HeaderV3LenBytes]) {
		t.Error("the library serialises the header differently")
	}
	// Root and leaf directories re-serialise to the same bytes.
	root := arch[h.RootOffset : h.RootOffset+h.RootLength]
	rootEntries := gp.DeserializeEntries(bytes.NewBuffer(root), h.InternalCompression)
	if !bytes.Equal(gp.SerializeEntries(rootEntries, h.InternalCompression), root) {
		t.Error("the library serialises the root directory differently")
	}
	for _, e := range rootEntries {
		if e.RunLength != 0 {
			t.Fatalf("root entry %+v: want leaf directories only", e)
		}
		off := h.LeafDirectoryOffset + e.Offset
		leaf := arch[off : off+uint64(e.Length)]
		if !bytes.Equal(gp.SerializeEntries(gp.DeserializeEntries(bytes.NewBuffer(leaf), h.InternalCompression), h.InternalCompression), leaf) {
			t.Fatalf("the library serialises leaf %+v differently", e)
		}
	}
	meta := arch[h.MetadataOffset : h.MetadataOffset+h.MetadataLength]
	m, err := gp.DeserializeMetadata(bytes.NewReader(meta), h.InternalCompression)
	if err != nil || m["name"] != "area" {
		t.Fatalf("metadata %v, %v", m, err)
	}
	if again, _ := gp.SerializeMetadata(m, h.InternalCompression); !bytes.Equal(again, meta) {
		t.Error("the library serialises the metadata differently")
	}

	n := 0
	err = gp.IterateEntries(h, func(off, n uint64) ([]byte, error) { return arch[off : off+n], nil }, func(e gp.EntryV3) {
		n++
		z, x, y := gp.IDToZxy(e.TileID)
		want, ok := openmaps.ArchiveTile(int(z), int(x), int(y))
		if !ok || e.RunLength != 1 {
			t.Fatalf("entry %+v (%d/%d/%d): archive holds no tile there", e, z, x, y)
		}
		off := h.TileDataOffset + e.Offset
		zr, err := gzip.NewReader(bytes.NewReader(arch[off : off+uint64(e.Length)]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tile %d/%d/%d: bytes differ (%v)", z, x, y, err)
		}
	})
	if err != nil || n == 0 || uint64(n) != h.TileEntriesCount || len(rootEntries) < 2 {
		t.Fatalf("%d entries (header %d), %d leaves, %v", n, h.TileEntriesCount, len(rootEntries), err)
	}
	// And every tile the archive should hold is there: z/x/y → id
	// through the library, found with the library's FindTile.
	a := openmaps.Archive
	for z := a.MinZoom; z <= 8; z++ {
		for x := range 1 << z {
			for y := range 1 << z {
				_, want := openmaps.ArchiveTile(z, x, y)
				if got := gpHas(arch, h, rootEntries, gp.ZxyToID(uint8(z), uint32(x), uint32(y))); got != want {
					t.Fatalf("tile %d/%d/%d: library finds %v, archive has %v", z, x, y, got, want)
				}
			}
		}
	}
}

// gpHas reports whether the library's FindTile finds a tile entry for id.
func gpHas(arch []byte, h gp.HeaderV3, root []gp.EntryV3, id uint64) bool {
	e, ok := gp.FindTile(root, id)
	if !ok {
		return false
	}
	off := h.LeafDirectoryOffset + e.Offset
	leaf := gp.DeserializeEntries(bytes.NewBuffer(arch[off:off+uint64(e.Length)]), h.InternalCompression)
	e, ok = gp.FindTile(leaf, id)
	return ok && e.RunLength > 0
}
