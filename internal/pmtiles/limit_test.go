package pmtiles

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"testing"
)

// hostileDirectory is a directory of n four-byte entries (every varint
// one byte: tile id 0, run length 1, length 0, contiguous offsets), the
// most entries a number of bytes can hold.
func hostileDirectory(n int) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 10+4*n), uint64(n))
	b = append(b, make([]byte, n)...)            // tile id deltas
	b = append(b, bytes.Repeat([]byte{1}, n)...) // run lengths
	b = append(b, make([]byte, n)...)            // lengths
	b = append(b, 1)                             // offset 0
	return append(b, make([]byte, n-1)...)       // then contiguous
}

// A directory of MaxDirectoryEntries decodes; one entry more is refused
// as too large, in both compressions.
func TestDecodeDirectoryEntryLimit(t *testing.T) {
	entries := make([]Entry, MaxDirectoryEntries+1)
	for i := range entries {
		entries[i] = Entry{TileID: uint64(i), Offset: uint64(i), Length: 1, RunLength: 1}
	}
	for _, c := range []Compression{NoCompression, Gzip} {
		at, err := EncodeDirectory(entries[:MaxDirectoryEntries], c)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := DecodeDirectory(at, c, MaxDirectoryBytes); err != nil || len(got) != MaxDirectoryEntries {
			t.Errorf("compression %d, %d entries: %d read, %v", c, MaxDirectoryEntries, len(got), err)
		}
		over, err := EncodeDirectory(entries, c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeDirectory(over, c, MaxDirectoryBytes)
		var pe *Error
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &pe) || pe.Part != "directory" || got != nil {
			t.Errorf("compression %d, %d entries: %d read, %v; want ErrTooLarge", c, len(entries), len(got), err)
		}
	}
}

// A few KB of gzip holding a 32 MiB directory of 8 million four-byte
// entries used to decode to 200 MB of entries. Its count is now refused
// before the stream is decompressed: it costs the gzip reader only.
func TestDecodeDirectoryHostileCount(t *testing.T) {
	const maxBytes = 32 << 20 // the cap tiles used before the entry limit
	raw := hostileDirectory((maxBytes - 4) / 4)
	gz, err := compress("directory", raw, Gzip)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := DecodeDirectory(gz, Gzip, maxBytes)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d gzip bytes (%d decompressed): %d entries, %v; %.1f MB allocated", len(gz), len(raw), len(got), err, float64(alloc)/1e6)
	if !errors.Is(err, ErrTooLarge) || got != nil {
		t.Fatalf("%d entries, %v; want ErrTooLarge", len(got), err)
	}
	if alloc > 1<<20 {
		t.Fatalf("refusing the directory allocated %d bytes", alloc)
	}
	// Uncompressed, the bytes are there already: refused before allocating.
	runtime.ReadMemStats(&before)
	got, err = DecodeDirectory(raw, NoCompression, maxBytes)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; !errors.Is(err, ErrTooLarge) || got != nil || alloc > 1<<20 {
		t.Fatalf("uncompressed: %d entries, %v, %d bytes allocated; want ErrTooLarge", len(got), err, alloc)
	}
}
