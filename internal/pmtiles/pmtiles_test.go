package pmtiles

import (
	"bytes"
	"errors"
	"os"
	"reflect"
	"testing"
)

// The tile id table of spec section 4.1, both ways.
func TestTileIDSpecTable(t *testing.T) {
	for _, c := range []struct {
		z    uint8
		x, y uint32
		id   uint64
	}{
		{0, 0, 0, 0}, {1, 0, 0, 1}, {1, 0, 1, 2}, {1, 1, 1, 3}, {1, 1, 0, 4}, {2, 0, 0, 5},
		{12, 3423, 1763, 19078479},
	} {
		id, err := ZxyToID(c.z, c.x, c.y)
		if err != nil || id != c.id {
			t.Errorf("ZxyToID(%d, %d, %d) = %d, %v; want %d", c.z, c.x, c.y, id, err, c.id)
		}
		z, x, y, err := IDToZxy(c.id)
		if err != nil || z != c.z || x != c.x || y != c.y {
			t.Errorf("IDToZxy(%d) = %d/%d/%d, %v; want %d/%d/%d", c.id, z, x, y, err, c.z, c.x, c.y)
		}
	}
}

// Every tile of zooms 0–7 gets the next id, and ids round-trip.
func TestTileIDDense(t *testing.T) {
	seen := map[uint64]bool{}
	for z := uint8(0); z <= 7; z++ {
		for x := uint32(0); x < 1<<z; x++ {
			for y := uint32(0); y < 1<<z; y++ {
				id, err := ZxyToID(z, x, y)
				if err != nil || seen[id] || id < zoomBase(z) || id >= zoomBase(z+1) {
					t.Fatalf("%d/%d/%d: id %d, %v (seen %v)", z, x, y, id, err, seen[id])
				}
				seen[id] = true
				if z2, x2, y2, err := IDToZxy(id); err != nil || z2 != z || x2 != x || y2 != y {
					t.Fatalf("IDToZxy(%d) = %d/%d/%d, %v; want %d/%d/%d", id, z2, x2, y2, err, z, x, y)
				}
			}
		}
	}
}

func TestTileIDLimits(t *testing.T) {
	last := uint32(1<<MaxZoom - 1)
	id, err := ZxyToID(MaxZoom, last, 0) // the curve ends at the top right
	if err != nil || id != maxTileID {
		t.Errorf("last tile of zoom %d: id %d, %v; want %d", MaxZoom, id, err, maxTileID)
	}
	if z, x, y, err := IDToZxy(maxTileID); err != nil || z != MaxZoom || x != last || y != 0 {
		t.Errorf("IDToZxy(%d) = %d/%d/%d, %v", maxTileID, z, x, y, err)
	}
	for _, c := range []struct {
		z    uint8
		x, y uint32
	}{{MaxZoom + 1, 0, 0}, {255, 0, 0}, {0, 1, 0}, {3, 0, 8}, {MaxZoom, 1 << MaxZoom, 0}} {
		if _, err := ZxyToID(c.z, c.x, c.y); !errors.Is(err, ErrInvalid) {
			t.Errorf("ZxyToID(%d, %d, %d): %v, want ErrInvalid", c.z, c.x, c.y, err)
		}
	}
	for _, id := range []uint64{maxTileID + 1, 1<<64 - 1} {
		if _, _, _, err := IDToZxy(id); !errors.Is(err, ErrInvalid) {
			t.Errorf("IDToZxy(%d): %v, want ErrInvalid", id, err)
		}
	}
}

// The fixture's header (written by the official library) decodes to the
// values its README gives and encodes back to the same bytes.
func TestHeaderFixture(t *testing.T) {
	raw, err := os.ReadFile("testdata/test_fixture_1.pmtiles")
	if err != nil {
		t.Fatal(err)
	}
	h, err := DecodeHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	if h.SpecVersion != 3 || h.TileType != MVT || h.TileCompression != Gzip || h.InternalCompression != Gzip ||
		h.MinLonE7 != 0 || h.MaxLatE7 != 1e7 || h.TileDataOffset+h.TileDataLength != uint64(len(raw)) {
		t.Errorf("header %+v", h)
	}
	if got := EncodeHeader(h); !bytes.Equal(got, raw[:HeaderLen]) {
		t.Errorf("re-encoded header differs:\n%x\n%x", got, raw[:HeaderLen])
	}
	root, err := DecodeDirectory(raw[h.RootOffset:h.RootOffset+h.RootLength], h.InternalCompression, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Entry{{TileID: 0, Offset: 0, Length: 69, RunLength: 1}}; !reflect.DeepEqual(root, want) {
		t.Errorf("root %+v, want %+v", root, want)
	}
	meta, err := DecodeMetadata(raw[h.MetadataOffset:h.MetadataOffset+h.MetadataLength], h.InternalCompression, 1<<20)
	if err != nil || meta["vector_layers"] == nil {
		t.Errorf("metadata %v, %v", meta, err)
	}
}

func TestDecodeHeaderErrors(t *testing.T) {
	good := EncodeHeader(Header{RootOffset: 127})
	for name, c := range map[string]struct {
		b    []byte
		kind error
	}{
		"empty":     {nil, ErrCorrupt},
		"short":     {good[:126], ErrCorrupt},
		"magic":     {append([]byte("PMTilez"), good[7:]...), ErrCorrupt},
		"version 2": {append(append([]byte("PMTiles"), 2), good[8:]...), ErrUnsupported},
		"version 4": {append(append([]byte("PMTiles"), 4), good[8:]...), ErrUnsupported},
	} {
		_, err := DecodeHeader(c.b)
		var pe *Error
		if !errors.Is(err, c.kind) || !errors.As(err, &pe) || pe.Part != "header" {
			t.Errorf("%s: %v, want %v", name, err, c.kind)
		}
	}
}

// The directory of spec section 4.2's rules, byte by byte: delta tile ids,
// run lengths, lengths, then offsets as offset+1 or 0 for "contiguous".
func TestEncodeDirectoryBytes(t *testing.T) {
	entries := []Entry{
		{TileID: 5, Offset: 0, Length: 42, RunLength: 1},
		{TileID: 42, Offset: 42, Length: 10, RunLength: 3},    // contiguous: 0
		{TileID: 69, Offset: 0, Length: 42, RunLength: 1},     // deduplicated: 0+1
		{TileID: 300, Offset: 500, Length: 200, RunLength: 0}, // leaf
	}
	got, err := EncodeDirectory(entries, NoCompression)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{4, 5, 37, 27, 231, 1, 1, 3, 1, 0, 42, 10, 42, 200, 1, 1, 0, 1, 245, 3}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded %v, want %v", got, want)
	}
	for _, c := range []Compression{NoCompression, Gzip} {
		b, err := EncodeDirectory(entries, c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeDirectory(b, c, 1<<10)
		if err != nil || !reflect.DeepEqual(back, entries) {
			t.Errorf("compression %d: decoded %+v, %v", c, back, err)
		}
	}
	if _, err := EncodeDirectory([]Entry{{TileID: 2}, {TileID: 1}}, NoCompression); !errors.Is(err, ErrInvalid) {
		t.Errorf("descending ids: %v", err)
	}
	if _, err := EncodeDirectory(entries, Brotli); !errors.Is(err, ErrUnsupported) {
		t.Errorf("brotli: %v", err)
	}
	if e, err := DecodeDirectory([]byte{0}, NoCompression, 10); err != nil || len(e) != 0 {
		t.Errorf("empty directory: %v, %v", e, err)
	}
}

func TestDecodeDirectoryErrors(t *testing.T) {
	gz, _ := EncodeDirectory([]Entry{{TileID: 1, Length: 1, RunLength: 1}}, Gzip)
	big := make([]byte, 64)
	big[0] = 1
	for name, c := range map[string]struct {
		b    []byte
		c    Compression
		max  int
		kind error
	}{
		"no count":            {nil, NoCompression, 10, ErrCorrupt},
		"count beyond bytes":  {[]byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1, 1, 1, 1}, NoCompression, 100, ErrCorrupt},
		"huge count":          {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, NoCompression, 100, ErrCorrupt},
		"truncated":           {[]byte{2, 1, 1, 1, 1, 1, 1, 1, 0x80}, NoCompression, 100, ErrCorrupt},
		"first offset 0":      {[]byte{1, 1, 1, 1, 0}, NoCompression, 100, ErrCorrupt},
		"run length 33 bits":  {[]byte{1, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 1}, NoCompression, 100, ErrCorrupt},
		"tile id overflow":    {[]byte{2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 1, 1, 1, 1, 1, 1}, NoCompression, 100, ErrCorrupt},
		"offset overflow":     {[]byte{2, 1, 1, 1, 1, 5, 5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0}, NoCompression, 100, ErrCorrupt},
		"not gzip":            {[]byte{1, 1, 1, 1, 1}, Gzip, 100, ErrCorrupt},
		"truncated gzip":      {gz[:len(gz)-5], Gzip, 100, ErrCorrupt},
		"unknown compression": {[]byte{0}, UnknownCompression, 100, ErrUnsupported},
		"zstd":                {[]byte{0}, Zstd, 100, ErrUnsupported},
		"too large":           {big, NoCompression, 63, ErrTooLarge},
	} {
		e, err := DecodeDirectory(c.b, c.c, c.max)
		if !errors.Is(err, c.kind) || e != nil {
			t.Errorf("%s: %+v, %v; want %v", name, e, err, c.kind)
		}
	}
	// A gzip bomb stops at the limit.
	bomb, _ := compress("directory", make([]byte, 1<<20), Gzip)
	if _, err := DecodeDirectory(bomb, Gzip, 1<<16); !errors.Is(err, ErrTooLarge) {
		t.Errorf("gzip bomb: %v", err)
	}
}

func TestFindTile(t *testing.T) {
	dir := []Entry{
		{TileID: 10, RunLength: 1, Length: 1},
		{TileID: 20, RunLength: 5, Length: 1, Offset: 1},
		{TileID: 40, RunLength: 0, Length: 9, Offset: 0}, // leaf from 40 on
	}
	for id, want := range map[uint64]int{0: -1, 9: -1, 10: 0, 11: -1, 19: -1, 20: 1, 24: 1, 25: -1, 39: -1, 40: 2, 1 << 40: 2} {
		e, ok := FindTile(dir, id)
		if ok != (want >= 0) || (ok && e != dir[want]) || (!ok && e != Entry{}) {
			t.Errorf("FindTile(%d) = %+v, %v; want entry %d", id, e, ok, want)
		}
	}
	if _, ok := FindTile(nil, 0); ok {
		t.Error("empty directory holds tile 0")
	}
}

func TestMetadata(t *testing.T) {
	for _, c := range []Compression{NoCompression, Gzip} {
		b, err := EncodeMetadata(map[string]any{"name": "area", "vector_layers": []any{}}, c)
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodeMetadata(b, c, 1<<10)
		if err != nil || m["name"] != "area" {
			t.Errorf("compression %d: %v, %v", c, m, err)
		}
	}
	if _, err := DecodeMetadata([]byte("[1]"), NoCompression, 10); !errors.Is(err, ErrCorrupt) {
		t.Errorf("array: %v", err)
	}
	if _, err := EncodeMetadata(func() {}, NoCompression); !errors.Is(err, ErrInvalid) {
		t.Errorf("func: %v", err)
	}
}
