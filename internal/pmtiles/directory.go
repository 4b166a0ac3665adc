package pmtiles

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"sort"
)

// Entry is one directory entry (spec section 4.1): RunLength tiles from
// TileID on share the Length bytes at Offset of the tile data section, or,
// with RunLength 0, a leaf directory whose first tile is TileID lies at
// Offset of the leaf directories section.
type Entry struct {
	TileID    uint64
	Offset    uint64
	Length    uint32
	RunLength uint32
}

// EncodeDirectory encodes entries (spec section 4.2) and compresses them
// with c (NoCompression or Gzip). Tile ids must not descend.
func EncodeDirectory(entries []Entry, c Compression) ([]byte, error) {
	b := make([]byte, 0, 1+len(entries)*8)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	var last uint64
	for i, e := range entries {
		if e.TileID < last {
			return nil, errorf("directory", ErrInvalid, "entry %d: tile id %d after %d", i, e.TileID, last)
		}
		b = binary.AppendUvarint(b, e.TileID-last)
		last = e.TileID
	}
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(e.RunLength))
	}
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(e.Length))
	}
	for i, e := range entries {
		// 0 means "right after the previous entry", otherwise offset+1.
		if i > 0 && e.Offset == entries[i-1].Offset+uint64(entries[i-1].Length) {
			b = binary.AppendUvarint(b, 0)
		} else {
			if e.Offset == math.MaxUint64 {
				return nil, errorf("directory", ErrInvalid, "entry %d: offset %d", i, e.Offset)
			}
			b = binary.AppendUvarint(b, e.Offset+1)
		}
	}
	return compress("directory", b, c)
}

// MaxDirectoryEntries is the most entries DecodeDirectory reads from one
// directory (24 MiB decoded). Real archives stay far below: writers
// (go-pmtiles, planetiler, tippecanoe) split the entries into leaves of
// max(4096, entries/3500) and grow them by 1.2 only until the root fits
// in 16 KiB, so a leaf of a million entries takes an archive of some
// 3.5 billion tile entries, far more than a z15 planet. A hostile
// archive, though, could otherwise fill a 32 MiB directory with 4-byte
// entries and decode 8 million (190 MB) from a few KB of gzip.
const MaxDirectoryEntries = 1 << 20

// maxEntryBytes is the longest encoding of one entry: a tile id delta and
// an offset of up to 10 varint bytes each, a run length and a length of
// up to 5.
const maxEntryBytes = 30

// MaxDirectoryBytes is the longest a directory of at most
// MaxDirectoryEntries entries encodes to, uncompressed.
const MaxDirectoryBytes = binary.MaxVarintLen64 + MaxDirectoryEntries*maxEntryBytes

// DecodeDirectory decompresses (c: NoCompression or Gzip) and decodes a
// directory of at most maxBytes decompressed bytes and MaxDirectoryEntries
// entries (ErrTooLarge beyond either; a gzip stream's count is checked
// before the rest is decompressed). It refuses truncated directories and
// values beyond their field's range; bytes after the last offset are
// ignored. An empty directory decodes to no entries.
func DecodeDirectory(b []byte, c Compression, maxBytes int) ([]Entry, error) {
	b, err := decompress("directory", b, c, maxBytes, directoryHead)
	if err != nil {
		return nil, err
	}
	d := varints{b: b}
	n, ok := d.next()
	if !ok {
		return nil, errorf("directory", ErrCorrupt, "no entry count")
	}
	// Every entry takes at least four bytes (one per varint): bound the
	// count by the bytes before allocating.
	if n > uint64(len(d.b)-d.off)/4 {
		return nil, errorf("directory", ErrCorrupt, "%d entries in %d bytes", n, len(d.b))
	}
	if n > MaxDirectoryEntries {
		return nil, tooManyEntries(n)
	}
	entries := make([]Entry, n)
	var id uint64
	for i := range entries {
		delta, ok := d.next()
		if !ok {
			return nil, d.truncated("tile id", i)
		}
		if id+delta < id {
			return nil, errorf("directory", ErrCorrupt, "entry %d: tile id overflows", i)
		}
		id += delta
		entries[i].TileID = id
	}
	for i := range entries {
		v, err := d.next32("run length", i)
		if err != nil {
			return nil, err
		}
		entries[i].RunLength = v
	}
	for i := range entries {
		v, err := d.next32("length", i)
		if err != nil {
			return nil, err
		}
		entries[i].Length = v
	}
	for i := range entries {
		v, ok := d.next()
		switch {
		case !ok:
			return nil, d.truncated("offset", i)
		case v == 0 && i == 0:
			return nil, errorf("directory", ErrCorrupt, "entry 0: offset refers to a previous entry")
		case v == 0:
			p := entries[i-1]
			if p.Offset+uint64(p.Length) < p.Offset {
				return nil, errorf("directory", ErrCorrupt, "entry %d: offset overflows", i)
			}
			entries[i].Offset = p.Offset + uint64(p.Length)
		default:
			entries[i].Offset = v - 1
		}
	}
	return entries, nil
}

func tooManyEntries(n uint64) error {
	return errorf("directory", ErrTooLarge, "%d entries, limit %d", n, MaxDirectoryEntries)
}

// directoryHead refuses a directory whose entry count (its first varint,
// read from the start of the decompressed bytes) is over
// MaxDirectoryEntries, before the rest is decompressed.
func directoryHead(head []byte) error {
	if n, m := binary.Uvarint(head); m > 0 && n > MaxDirectoryEntries {
		return tooManyEntries(n)
	}
	return nil
}

// varints reads consecutive unsigned varints.
type varints struct {
	b   []byte
	off int
}

func (d *varints) next() (uint64, bool) {
	v, k := binary.Uvarint(d.b[d.off:])
	if k <= 0 {
		return 0, false
	}
	d.off += k
	return v, true
}

func (d *varints) next32(field string, i int) (uint32, error) {
	v, ok := d.next()
	if !ok {
		return 0, d.truncated(field, i)
	}
	if v > math.MaxUint32 {
		return 0, errorf("directory", ErrCorrupt, "entry %d: %s %d beyond 32 bits", i, field, v)
	}
	return uint32(v), nil
}

func (d *varints) truncated(field string, i int) error {
	return errorf("directory", ErrCorrupt, "entry %d: %s missing or malformed at byte %d", i, field, d.off)
}

// FindTile returns the entry that holds tile id: the entry of the tile (id
// within its run), or the leaf directory entry (RunLength 0) to look in
// next. entries must be in directory order (ascending tile ids).
func FindTile(entries []Entry, id uint64) (Entry, bool) {
	// i: the last entry starting at or before id.
	i := sort.Search(len(entries), func(k int) bool { return entries[k].TileID > id }) - 1
	if i < 0 {
		return Entry{}, false
	}
	e := entries[i]
	if e.RunLength == 0 || id-e.TileID < uint64(e.RunLength) {
		return e, true
	}
	return Entry{}, false
}

// EncodeMetadata returns the JSON encoding of v compressed with c
// (NoCompression or Gzip), the archive's metadata section.
func EncodeMetadata(v any, c Compression) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{Part: "metadata", Kind: ErrInvalid, Detail: "encode", Err: err}
	}
	return compress("metadata", b, c)
}

// DecodeMetadata decompresses the metadata section (at most maxBytes
// decompressed) and decodes its JSON object.
func DecodeMetadata(b []byte, c Compression, maxBytes int) (map[string]any, error) {
	b, err := decompress("metadata", b, c, maxBytes, nil)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &Error{Part: "metadata", Kind: ErrCorrupt, Detail: "not a JSON object", Err: err}
	}
	return m, nil
}

func compress(part string, b []byte, c Compression) ([]byte, error) {
	switch c {
	case NoCompression:
		return b, nil
	case Gzip:
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // a valid level: no error
		if _, err := zw.Write(b); err != nil {
			return nil, &Error{Part: part, Kind: ErrInvalid, Detail: "gzip", Err: err}
		}
		if err := zw.Close(); err != nil {
			return nil, &Error{Part: part, Kind: ErrInvalid, Detail: "gzip", Err: err}
		}
		return buf.Bytes(), nil
	}
	return nil, errorf(part, ErrUnsupported, "compression %d", c)
}

// decompress undoes c, refusing more than maxBytes of output. head, when
// not nil, sees the first bytes of the output (up to a varint's longest
// encoding) before the rest of a gzip stream is decompressed, and its
// error is returned as it is.
func decompress(part string, b []byte, c Compression, maxBytes int, head func([]byte) error) ([]byte, error) {
	switch c {
	case NoCompression:
		if len(b) > maxBytes {
			return nil, errorf(part, ErrTooLarge, "%d bytes, limit %d", len(b), maxBytes)
		}
		return b, nil
	case Gzip:
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, &Error{Part: part, Kind: ErrCorrupt, Detail: "gzip", Err: err}
		}
		r := io.LimitReader(zr, int64(maxBytes)+1)
		var buf bytes.Buffer
		if head != nil {
			var h [binary.MaxVarintLen64]byte
			k, err := io.ReadFull(r, h[:])
			if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF { // EOF: a short, complete stream
				return nil, &Error{Part: part, Kind: ErrCorrupt, Detail: "gzip", Err: err}
			}
			if err := head(h[:k]); err != nil {
				return nil, err
			}
			buf.Write(h[:k])
		}
		if _, err := buf.ReadFrom(r); err != nil {
			return nil, &Error{Part: part, Kind: ErrCorrupt, Detail: "gzip", Err: err}
		}
		if buf.Len() > maxBytes {
			return nil, errorf(part, ErrTooLarge, "more than %d bytes decompressed", maxBytes)
		}
		return buf.Bytes(), nil
	}
	return nil, errorf(part, ErrUnsupported, "compression %d", c)
}
