package pmtiles_test

// Differential tests against the official Go library, the test oracle:
// archives, directories and headers written by one are read by the other
// identically, tile ids agree, and on any bytes the decoders either agree
// or ours returns an error (never a panic) where the library panics or
// reads garbage.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"

	pm "github.com/offlined/offlined/internal/pmtiles"
	gp "github.com/protomaps/go-pmtiles/pmtiles"
)

func toGP(es []pm.Entry) []gp.EntryV3 {
	out := make([]gp.EntryV3, len(es))
	for i, e := range es {
		out[i] = gp.EntryV3{TileID: e.TileID, Offset: e.Offset, Length: e.Length, RunLength: e.RunLength}
	}
	return out
}

func fromGP(es []gp.EntryV3) []pm.Entry {
	out := make([]pm.Entry, len(es))
	for i, e := range es {
		out[i] = pm.Entry{TileID: e.TileID, Offset: e.Offset, Length: e.Length, RunLength: e.RunLength}
	}
	return out
}

func headerToGP(h pm.Header) gp.HeaderV3 {
	return gp.HeaderV3{
		SpecVersion: h.SpecVersion, RootOffset: h.RootOffset, RootLength: h.RootLength,
		MetadataOffset: h.MetadataOffset, MetadataLength: h.MetadataLength,
		LeafDirectoryOffset: h.LeafDirectoryOffset, LeafDirectoryLength: h.LeafDirectoryLength,
		TileDataOffset: h.TileDataOffset, TileDataLength: h.TileDataLength,
		AddressedTilesCount: h.AddressedTilesCount, TileEntriesCount: h.TileEntriesCount, TileContentsCount: h.TileContentsCount,
		Clustered: h.Clustered, InternalCompression: gp.Compression(h.InternalCompression), TileCompression: gp.Compression(h.TileCompression),
		TileType: gp.TileType(h.TileType), MinZoom: h.MinZoom, MaxZoom: h.MaxZoom,
		MinLonE7: h.MinLonE7, MinLatE7: h.MinLatE7, MaxLonE7: h.MaxLonE7, MaxLatE7: h.MaxLatE7,
		CenterZoom: h.CenterZoom, CenterLonE7: h.CenterLonE7, CenterLatE7: h.CenterLatE7,
	}
}

// Tile ids: every tile of zooms 0–9, random tiles of every zoom up to 31
// and random ids agree with the library both ways.
func TestOracleTileID(t *testing.T) {
	check := func(z uint8, x, y uint32) {
		id, err := pm.ZxyToID(z, x, y)
		if want := gp.ZxyToID(z, x, y); err != nil || id != want {
			t.Fatalf("ZxyToID(%d, %d, %d) = %d, %v; library %d", z, x, y, id, err, want)
		}
	}
	for z := uint8(0); z <= 9; z++ {
		for x := uint32(0); x < 1<<z; x++ {
			for y := uint32(0); y < 1<<z; y++ {
				check(z, x, y)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		z := uint8(r.IntN(pm.MaxZoom + 1))
		n := uint32(1) << z
		check(z, r.Uint32N(n), r.Uint32N(n))
		// Ids spread over all zooms: pick a zoom, then an id inside it.
		base := gp.ZxyToID(z, 0, 0)
		id := base + r.Uint64N(uint64(n)*uint64(n))
		z1, x1, y1, err := pm.IDToZxy(id)
		z2, x2, y2 := gp.IDToZxy(id)
		if err != nil || z1 != z2 || x1 != x2 || y1 != y2 {
			t.Fatalf("IDToZxy(%d) = %d/%d/%d, %v; library %d/%d/%d", id, z1, x1, y1, err, z2, x2, y2)
		}
	}
}

// Headers: random field values encode to the library's bytes, and the
// library's bytes decode to the same fields.
func TestOracleHeader(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		h := pm.Header{
			SpecVersion: 3, RootOffset: r.Uint64(), RootLength: r.Uint64(), MetadataOffset: r.Uint64(), MetadataLength: r.Uint64(),
			LeafDirectoryOffset: r.Uint64(), LeafDirectoryLength: r.Uint64(), TileDataOffset: r.Uint64(), TileDataLength: r.Uint64(),
			AddressedTilesCount: r.Uint64(), TileEntriesCount: r.Uint64(), TileContentsCount: r.Uint64(),
			Clustered: r.IntN(2) == 0, InternalCompression: pm.Compression(r.IntN(256)), TileCompression: pm.Compression(r.IntN(256)),
			TileType: pm.TileType(r.IntN(256)), MinZoom: uint8(r.IntN(256)), MaxZoom: uint8(r.IntN(256)),
			MinLonE7: int32(r.Uint32()), MinLatE7: int32(r.Uint32()), MaxLonE7: int32(r.Uint32()), MaxLatE7: int32(r.Uint32()),
			CenterZoom: uint8(r.IntN(256)), CenterLonE7: int32(r.Uint32()), CenterLatE7: int32(r.Uint32()),
		}
		theirs := gp.SerializeHeader(headerToGP(h))
		if ours := pm.EncodeHeader(h); !bytes.Equal(ours, theirs) {
			t.Fatalf("header %+v:\nours    %x\nlibrary %x", h, ours, theirs)
		}
		back, err := pm.DecodeHeader(theirs)
		if err != nil || back != h {
			t.Fatalf("decoded %+v, %v; want %+v", back, err, h)
		}
	}
}

// Directories: random directories (runs, leaf entries, contiguous and
// deduplicated offsets, 64-bit offsets) encode to the library's bytes and
// each side decodes the other's.
func TestOracleDirectory(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 200 {
		entries := randomDirectory(r, r.IntN(1000))
		for _, c := range []pm.Compression{pm.NoCompression, pm.Gzip} {
			ours, err := pm.EncodeDirectory(entries, c)
			if err != nil {
				t.Fatal(err)
			}
			theirs := gp.SerializeEntries(toGP(entries), gp.Compression(c))
			if !bytes.Equal(ours, theirs) {
				t.Fatalf("directory %d, compression %d: encodings differ", i, c)
			}
			if got := fromGP(gp.DeserializeEntries(bytes.NewBuffer(ours), gp.Compression(c))); !sameEntries(got, entries) {
				t.Fatalf("directory %d, compression %d: library reads ours differently", i, c)
			}
			got, err := pm.DecodeDirectory(theirs, c, 1<<24)
			if err != nil || !sameEntries(got, entries) {
				t.Fatalf("directory %d, compression %d: we read the library's differently: %v", i, c, err)
			}
		}
	}
}

func sameEntries(a, b []pm.Entry) bool {
	return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b))
}

func randomDirectory(r *rand.Rand, n int) []pm.Entry {
	es := make([]pm.Entry, n)
	id, off := r.Uint64N(1<<40), uint64(0)
	for i := range es {
		e := pm.Entry{TileID: id, Length: 1 + r.Uint32N(1<<uint(1+r.IntN(31))), RunLength: r.Uint32N(4)}
		switch r.IntN(4) {
		case 0: // deduplicated: an earlier offset
			e.Offset = r.Uint64N(off + 1)
		case 1: // far away
			e.Offset = r.Uint64N(1 << 62)
		default: // contiguous
			e.Offset = off
		}
		off = e.Offset + uint64(e.Length)
		es[i] = e
		id += 1 + r.Uint64N(1<<uint(r.IntN(30)))
	}
	return es
}

// archive is a tile set and the archive bytes one writer made of it.
type archive struct {
	bytes []byte
	tiles map[uint64][]byte // tile id → bytes, every id of every run
	gaps  []uint64          // ids the archive lacks
}

// randomTiles returns the tile entries (ascending ids, runs, deduplicated
// blobs) and tile data of a random tile set.
func randomTiles(r *rand.Rand, n int) ([]pm.Entry, []byte, map[uint64][]byte, []uint64) {
	var data []byte
	var entries []pm.Entry
	var blobs []pm.Entry // one per distinct blob
	tiles := map[uint64][]byte{}
	var gaps []uint64
	id := uint64(0)
	for len(entries) < n {
		if r.IntN(5) == 0 { // a gap
			gaps = append(gaps, id)
			id += 1 + r.Uint64N(50)
			continue
		}
		var e pm.Entry
		if len(blobs) > 0 && r.IntN(4) == 0 { // deduplicated
			e = blobs[r.IntN(len(blobs))]
		} else {
			b := make([]byte, 1+r.IntN(40))
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			e = pm.Entry{Offset: uint64(len(data)), Length: uint32(len(b))}
			data = append(data, b...)
			blobs = append(blobs, e)
		}
		e.TileID, e.RunLength = id, 1+r.Uint32N(3)
		entries = append(entries, e)
		for k := range uint64(e.RunLength) {
			tiles[id+k] = data[e.Offset : e.Offset+uint64(e.Length)]
		}
		id += uint64(e.RunLength)
	}
	return entries, data, tiles, append(gaps, id, id+1000)
}

// layout fills in the header's section offsets and concatenates the
// archive with our header encoder.
func layout(h pm.Header, root, meta, leaves, data []byte) []byte {
	h.RootOffset, h.RootLength = pm.HeaderLen, uint64(len(root))
	h.MetadataOffset, h.MetadataLength = h.RootOffset+h.RootLength, uint64(len(meta))
	h.LeafDirectoryOffset, h.LeafDirectoryLength = h.MetadataOffset+h.MetadataLength, uint64(len(leaves))
	h.TileDataOffset, h.TileDataLength = h.LeafDirectoryOffset+h.LeafDirectoryLength, uint64(len(data))
	return bytes.Join([][]byte{pm.EncodeHeader(h), root, meta, leaves, data}, nil)
}

var testHeader = pm.Header{SpecVersion: 3, InternalCompression: pm.Gzip, TileCompression: pm.NoCompression, TileType: pm.PNG, MaxZoom: 14, MaxLonE7: 10, MaxLatE7: 20}

// writeTheirs writes an archive with the library's directory builder
// (leaf directories of 4096 entries when the root would exceed rootLen)
// and header and metadata serialisers.
func writeTheirs(t *testing.T, entries []pm.Entry, data []byte, rootLen int) []byte {
	root, leaves, _ := gp.BuildDirectories(toGP(entries), rootLen, gp.Gzip)
	meta, err := gp.SerializeMetadata(map[string]any{"name": "oracle"}, gp.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	h := headerToGP(testHeader)
	h.RootOffset, h.RootLength = gp.HeaderV3LenBytes, uint64(len(root))
	h.MetadataOffset, h.MetadataLength = h.RootOffset+h.RootLength, uint64(len(meta))
	h.LeafDirectoryOffset, h.LeafDirectoryLength = h.MetadataOffset+h.MetadataLength, uint64(len(leaves))
	h.TileDataOffset, h.TileDataLength = h.LeafDirectoryOffset+h.LeafDirectoryLength, uint64(len(data))
	return bytes.Join([][]byte{gp.SerializeHeader(h), root, meta, leaves, data}, nil)
}

// writeOurs writes an archive with our encoders: leaf directories of
// leafSize entries (none when leafSize is 0).
func writeOurs(t *testing.T, entries []pm.Entry, data []byte, leafSize int) []byte {
	var leaves []byte
	rootEntries := entries
	if leafSize > 0 {
		rootEntries = nil
		for i := 0; i < len(entries); i += leafSize {
			leaf, err := pm.EncodeDirectory(entries[i:min(i+leafSize, len(entries))], pm.Gzip)
			if err != nil {
				t.Fatal(err)
			}
			rootEntries = append(rootEntries, pm.Entry{TileID: entries[i].TileID, Offset: uint64(len(leaves)), Length: uint32(len(leaf))})
			leaves = append(leaves, leaf...)
		}
	}
	root, err := pm.EncodeDirectory(rootEntries, pm.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := pm.EncodeMetadata(map[string]any{"name": "oracle"}, pm.Gzip)
	if err != nil {
		t.Fatal(err)
	}
	return layout(testHeader, root, meta, leaves, data)
}

// tileReader returns a function that finds a tile's bytes in arch
// (directories decoded once).
type tileReader func(arch []byte) func(id uint64) ([]byte, bool, error)

// readOurs reads tiles with our decoders.
func readOurs(arch []byte) func(id uint64) ([]byte, bool, error) {
	dirs := map[uint64][]pm.Entry{}
	return func(id uint64) ([]byte, bool, error) {
		h, err := pm.DecodeHeader(arch)
		if err != nil {
			return nil, false, err
		}
		off, n := h.RootOffset, h.RootLength
		for range 4 {
			dir, ok := dirs[off]
			if !ok {
				if dir, err = pm.DecodeDirectory(arch[off:off+n], h.InternalCompression, 1<<24); err != nil {
					return nil, false, err
				}
				dirs[off] = dir
			}
			e, ok := pm.FindTile(dir, id)
			if !ok {
				return nil, false, nil
			}
			if e.RunLength > 0 {
				o := h.TileDataOffset + e.Offset
				return arch[o : o+uint64(e.Length)], true, nil
			}
			off, n = h.LeafDirectoryOffset+e.Offset, uint64(e.Length)
		}
		return nil, false, errors.New("too deep")
	}
}

// readTheirs reads tiles with the library's decoders.
func readTheirs(arch []byte) func(id uint64) ([]byte, bool, error) {
	dirs := map[uint64][]gp.EntryV3{}
	return func(id uint64) ([]byte, bool, error) {
		h, err := gp.DeserializeHeader(arch)
		if err != nil {
			return nil, false, err
		}
		off, n := h.RootOffset, h.RootLength
		for range 4 {
			dir, ok := dirs[off]
			if !ok {
				dir = gp.DeserializeEntries(bytes.NewBuffer(arch[off:off+n]), h.InternalCompression)
				dirs[off] = dir
			}
			e, ok := gp.FindTile(dir, id)
			if !ok {
				return nil, false, nil
			}
			if e.RunLength > 0 {
				o := h.TileDataOffset + e.Offset
				return arch[o : o+uint64(e.Length)], true, nil
			}
			off, n = h.LeafDirectoryOffset+e.Offset, uint64(e.Length)
		}
		return nil, false, errors.New("too deep")
	}
}

// allEntries lists the tile entries of an archive with our decoders,
// following leaf directories.
func allEntries(t *testing.T, arch []byte) []pm.Entry {
	h, err := pm.DecodeHeader(arch)
	if err != nil {
		t.Fatal(err)
	}
	var out []pm.Entry
	var walk func(off, n uint64)
	walk = func(off, n uint64) {
		dir, err := pm.DecodeDirectory(arch[off:off+n], h.InternalCompression, 1<<24)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range dir {
			if e.RunLength == 0 {
				walk(h.LeafDirectoryOffset+e.Offset, uint64(e.Length))
			} else {
				out = append(out, e)
			}
		}
	}
	walk(h.RootOffset, h.RootLength)
	return out
}

// theirEntries lists them with the library's IterateEntries.
func theirEntries(t *testing.T, arch []byte) []pm.Entry {
	h, err := gp.DeserializeHeader(arch)
	if err != nil {
		t.Fatal(err)
	}
	var out []gp.EntryV3
	err = gp.IterateEntries(h, func(off, n uint64) ([]byte, error) { return arch[off : off+n], nil }, func(e gp.EntryV3) { out = append(out, e) })
	if err != nil {
		t.Fatal(err)
	}
	return fromGP(out)
}

// checkArchive reads every tile and gap of a with read.
func checkArchive(t *testing.T, name string, a archive, reader tileReader) {
	t.Helper()
	read := reader(a.bytes)
	for id, want := range a.tiles {
		got, ok, err := read(id)
		if err != nil || !ok || !bytes.Equal(got, want) {
			t.Fatalf("%s: tile %d: %v, %v (%d bytes, want %d)", name, id, ok, err, len(got), len(want))
		}
	}
	for _, id := range a.gaps {
		if _, ok, err := read(id); ok || err != nil {
			t.Fatalf("%s: gap %d found: %v", name, id, err)
		}
	}
}

// Archives written by the library (root only, and with leaf directories)
// are read by us identically: header, all entries, every tile's bytes;
// archives written by us are read by the library identically.
func TestOracleArchives(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, c := range []struct {
		n, rootLen, leafSize int
	}{{1, 16257, 0}, {300, 16257, 0}, {10000, 4000, 64}, {20000, 2000, 4096}} {
		entries, data, tiles, gaps := randomTiles(r, c.n)
		theirs := archive{writeTheirs(t, entries, data, c.rootLen), tiles, gaps}
		ours := archive{writeOurs(t, entries, data, c.leafSize), tiles, gaps}
		name := fmt.Sprintf("%d tiles", c.n)
		for _, a := range []archive{theirs, ours} {
			checkArchive(t, name+" ours", a, readOurs)
			checkArchive(t, name+" library", a, readTheirs)
			if got, want := allEntries(t, a.bytes), theirEntries(t, a.bytes); !reflect.DeepEqual(got, entries) || !reflect.DeepEqual(want, entries) {
				t.Fatalf("%s: entries differ: ours %d, library %d, written %d", name, len(got), len(want), len(entries))
			}
			h, err := pm.DecodeHeader(a.bytes)
			hg, _ := gp.DeserializeHeader(a.bytes)
			if err != nil || headerToGP(h) != hg {
				t.Fatalf("%s: headers differ: %+v, %v; library %+v", name, h, err, hg)
			}
			meta, err := pm.DecodeMetadata(a.bytes[h.MetadataOffset:h.MetadataOffset+h.MetadataLength], h.InternalCompression, 1<<20)
			gmeta, gerr := gp.DeserializeMetadata(bytes.NewReader(a.bytes[h.MetadataOffset:h.MetadataOffset+h.MetadataLength]), gp.Gzip)
			if err != nil || gerr != nil || !reflect.DeepEqual(meta, gmeta) {
				t.Fatalf("%s: metadata %v, %v; library %v, %v", name, meta, err, gmeta, gerr)
			}
		}
		if c.n > 4096 && theirs.bytes[pm.HeaderLen] == 0 {
			t.Fatal("no leaves")
		}
	}
}

// The library's own fixtures (one clustered, one not) read the same with
// both.
func TestOracleFixtures(t *testing.T) {
	for _, f := range []string{"testdata/test_fixture_1.pmtiles", "testdata/unclustered.pmtiles"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		entries := theirEntries(t, raw)
		if got := allEntries(t, raw); len(entries) == 0 || !reflect.DeepEqual(got, entries) {
			t.Fatalf("%s: entries %+v, library %+v", f, got, entries)
		}
		for _, e := range entries {
			for id := e.TileID; id < e.TileID+uint64(e.RunLength); id++ {
				a, okA, errA := readOurs(raw)(id)
				b, okB, errB := readTheirs(raw)(id)
				if errA != nil || errB != nil || !okA || !okB || !bytes.Equal(a, b) {
					t.Fatalf("%s: tile %d: %v %v, %v %v", f, id, okA, errA, okB, errB)
				}
			}
		}
	}
}

// theirDecode runs the library's directory decoder, reporting a panic.
func theirDecode(b []byte, c pm.Compression) (es []gp.EntryV3, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	return gp.DeserializeEntries(bytes.NewBuffer(b), gp.Compression(c)), false
}

// FuzzOracleDirectory: our directory decoder never panics; where the
// library panics we return an error; where we succeed the library reads
// the same entries (we are stricter: truncated directories, values beyond
// 32 or 64 bits and a leading "contiguous" offset are errors to us).
func FuzzOracleDirectory(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 3, 40} {
		es := randomDirectory(r, n)
		for _, c := range []pm.Compression{pm.NoCompression, pm.Gzip} {
			b, _ := pm.EncodeDirectory(es, c)
			f.Add(b, uint8(c))
		}
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, uint8(pm.NoCompression))
	f.Add([]byte{1, 2, 3}, uint8(pm.Gzip))
	f.Add([]byte{0}, uint8(pm.Brotli))
	// Entry counts over MaxDirectoryEntries, plain and gzip-compressed.
	over := binary.AppendUvarint(nil, pm.MaxDirectoryEntries+1)
	f.Add(over, uint8(pm.NoCompression))
	f.Add(gzipOf(over), uint8(pm.Gzip))
	f.Add(gzipOf(append(over, make([]byte, 64)...)), uint8(pm.Gzip))
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte, c uint8) {
		ours, err := pm.DecodeDirectory(b, pm.Compression(c), limit)
		if err != nil {
			var pe *pm.Error
			if !errors.As(err, &pe) || ours != nil {
				t.Fatalf("error %v (%T) with %d entries", err, err, len(ours))
			}
		}
		if len(ours) > pm.MaxDirectoryEntries {
			t.Fatalf("%d entries read, limit %d", len(ours), pm.MaxDirectoryEntries)
		}
		// The library allocates what the entry count says: only run it when
		// the count fits the bytes (else we must have refused).
		plain := b
		if pm.Compression(c) == pm.Gzip {
			if plain, _ = gunzipLimit(b, limit); plain == nil {
				plain = []byte{0}
			}
		}
		if n := theirCount(plain); n > pm.MaxDirectoryEntries && err == nil {
			t.Fatalf("a count of %d accepted, limit %d", n, pm.MaxDirectoryEntries)
		}
		if n := theirCount(plain); n > uint64(len(plain)) {
			if err == nil {
				t.Fatalf("%d entries in %d bytes accepted", n, len(plain))
			}
			return
		}
		theirs, panicked := theirDecode(b, pm.Compression(c))
		switch {
		case panicked && err == nil:
			t.Fatalf("library panics, we read %d entries", len(ours))
		case err == nil && !sameEntries(fromGP(theirs), ours):
			t.Fatalf("entries differ:\nours    %+v\nlibrary %+v", ours, theirs)
		}
		if err == nil { // and what we read re-encodes to bytes we read the same
			re, err := pm.EncodeDirectory(ours, pm.NoCompression)
			if err != nil {
				t.Fatal(err)
			}
			if back, err := pm.DecodeDirectory(re, pm.NoCompression, len(re)); err != nil || !sameEntries(back, ours) {
				t.Fatalf("re-encoded directory reads %+v, %v", back, err)
			}
		}
	})
}

// theirHeader runs the library's header decoder, reporting a panic.
func theirHeader(b []byte) (h gp.HeaderV3, err error, panicked bool) {
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	h, err = gp.DeserializeHeader(b)
	return h, err, false
}

// FuzzOracleHeader: our header decoder never panics, refuses what the
// library refuses or panics on (and other spec versions), and otherwise
// reads the same fields, which encode back to the same bytes.
func FuzzOracleHeader(f *testing.F) {
	raw, _ := os.ReadFile("testdata/test_fixture_1.pmtiles")
	f.Add(raw)
	f.Add(raw[:pm.HeaderLen-1])
	f.Add(pm.EncodeHeader(testHeader))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := pm.DecodeHeader(b)
		hg, gerr, panicked := theirHeader(b)
		if err != nil {
			var pe *pm.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T)", err, err)
			}
			return
		}
		if panicked || gerr != nil || headerToGP(h) != hg {
			t.Fatalf("we read %+v; library %+v, %v, panic %v", h, hg, gerr, panicked)
		}
		want := bytes.Clone(b[:pm.HeaderLen])
		if want[96] != 1 {
			want[96] = 0 // Clustered: any byte but 1 reads as false
		}
		if got := pm.EncodeHeader(h); !bytes.Equal(got, want) {
			t.Fatalf("re-encoded:\n%x\n%x", got, want)
		}
	})
}

// gunzipLimit returns up to limit+1 bytes of b's gzip stream: what was
// decompressed before an error, nil when b has no gzip header.
func gunzipLimit(b []byte, limit int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(zr, int64(limit)+1))
}

// gzipOf returns b gzip-compressed.
func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// theirCount is the entry count the library reads: binary.ReadUvarint's
// value, also on a truncated or overflowing varint.
func theirCount(b []byte) uint64 {
	n, _ := binary.ReadUvarint(bytes.NewReader(b))
	return n
}
