// Package pmtiles encodes and decodes the parts of PMTiles v3 archives
// (https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md) that
// offlined reads and writes: the 127-byte header, directories, JSON
// metadata and Hilbert tile ids. It does no I/O: callers read the byte
// ranges themselves. Decoders are bounded and return an *Error (wrapping
// ErrCorrupt, ErrUnsupported, ErrTooLarge or ErrInvalid) instead of
// panicking on malformed input.
//
// It replaces github.com/protomaps/go-pmtiles in the binary, whose package
// also imports the cloud storage SDKs; that library stays the test oracle.
package pmtiles

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the length of the fixed-size header at the start of an archive.
const HeaderLen = 127

// magic is the first seven bytes of every archive.
const magic = "PMTiles"

// SpecVersion is the specification version this package reads and writes.
const SpecVersion = 3

// Compression is the compression of directories and metadata (the header's
// internal compression) or of tiles (its tile compression).
type Compression uint8

// Compressions the spec defines.
const (
	UnknownCompression Compression = 0
	NoCompression      Compression = 1
	Gzip               Compression = 2
	Brotli             Compression = 3
	Zstd               Compression = 4
)

// TileType is the format of the archive's tiles.
type TileType uint8

// Tile types the spec defines.
const (
	UnknownTileType TileType = 0
	MVT             TileType = 1 // Mapbox Vector Tile
	PNG             TileType = 2
	JPEG            TileType = 3
	WebP            TileType = 4
	AVIF            TileType = 5
	MLT             TileType = 6 // MapLibre Vector Tile
)

// Header is the decoded archive header. Offsets are from the start of the
// archive; positions are degrees times 1e7.
type Header struct {
	SpecVersion         uint8
	RootOffset          uint64
	RootLength          uint64
	MetadataOffset      uint64
	MetadataLength      uint64
	LeafDirectoryOffset uint64
	LeafDirectoryLength uint64
	TileDataOffset      uint64
	TileDataLength      uint64
	AddressedTilesCount uint64 // 0: unknown
	TileEntriesCount    uint64 // 0: unknown
	TileContentsCount   uint64 // 0: unknown
	Clustered           bool
	InternalCompression Compression
	TileCompression     Compression
	TileType            TileType
	MinZoom             uint8
	MaxZoom             uint8
	MinLonE7            int32
	MinLatE7            int32
	MaxLonE7            int32
	MaxLatE7            int32
	CenterZoom          uint8
	CenterLonE7         int32
	CenterLatE7         int32
}

// Error kinds, wrapped by every *Error.
var (
	// ErrCorrupt: the bytes do not follow the spec.
	ErrCorrupt = errors.New("pmtiles: corrupt")
	// ErrUnsupported: valid bytes this package does not decode (another
	// spec version, brotli or zstd compression).
	ErrUnsupported = errors.New("pmtiles: unsupported")
	// ErrTooLarge: a directory or metadata larger than the caller's limit.
	ErrTooLarge = errors.New("pmtiles: too large")
	// ErrInvalid: an argument that cannot be encoded (tile coordinates out
	// of range, tile ids not ascending).
	ErrInvalid = errors.New("pmtiles: invalid")
)

// Error is a decoding or encoding error: the part of the archive (header,
// directory, metadata, tile id), one of the Err* kinds and, for
// decompression failures, the cause.
type Error struct {
	Part   string
	Kind   error
	Detail string
	Err    error // cause, or nil
}

// Error implements error.
func (e *Error) Error() string {
	s := "pmtiles " + e.Part + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the kind and the cause, for errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func errorf(part string, kind error, format string, args ...any) *Error {
	return &Error{Part: part, Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// Header field offsets (spec section 3.1).
const (
	offRootOffset  = 8
	offClustered   = 96
	offIntComp     = 97
	offTileComp    = 98
	offTileType    = 99
	offMinZoom     = 100
	offMaxZoom     = 101
	offMinPos      = 102
	offMaxPos      = 110
	offCenterZoom  = 118
	offCenterPos   = 119
	offsetFieldNum = 11 // the little-endian uint64 fields from RootOffset to TileContentsCount
)

// u64s lists the header's uint64 fields in their order in the bytes.
func (h *Header) u64s() [offsetFieldNum]*uint64 {
	return [offsetFieldNum]*uint64{
		&h.RootOffset, &h.RootLength, &h.MetadataOffset, &h.MetadataLength,
		&h.LeafDirectoryOffset, &h.LeafDirectoryLength, &h.TileDataOffset, &h.TileDataLength,
		&h.AddressedTilesCount, &h.TileEntriesCount, &h.TileContentsCount,
	}
}

// EncodeHeader returns the 127 header bytes of h. The magic and version
// are always "PMTiles" and 3, whatever h.SpecVersion holds.
func EncodeHeader(h Header) []byte {
	b := make([]byte, HeaderLen)
	copy(b, magic)
	b[7] = SpecVersion
	for i, p := range h.u64s() {
		binary.LittleEndian.PutUint64(b[offRootOffset+8*i:], *p)
	}
	if h.Clustered {
		b[offClustered] = 1
	}
	b[offIntComp] = byte(h.InternalCompression)
	b[offTileComp] = byte(h.TileCompression)
	b[offTileType] = byte(h.TileType)
	b[offMinZoom] = h.MinZoom
	b[offMaxZoom] = h.MaxZoom
	putPos(b[offMinPos:], h.MinLonE7, h.MinLatE7)
	putPos(b[offMaxPos:], h.MaxLonE7, h.MaxLatE7)
	b[offCenterZoom] = h.CenterZoom
	putPos(b[offCenterPos:], h.CenterLonE7, h.CenterLatE7)
	return b
}

// putPos writes a position: longitude then latitude, each a little-endian
// int32 of degrees times 1e7.
func putPos(b []byte, lon, lat int32) {
	binary.LittleEndian.PutUint32(b, uint32(lon))
	binary.LittleEndian.PutUint32(b[4:], uint32(lat))
}

func pos(b []byte) (lon, lat int32) {
	return int32(binary.LittleEndian.Uint32(b)), int32(binary.LittleEndian.Uint32(b[4:]))
}

// DecodeHeader decodes the first 127 bytes of b (more are ignored). It
// checks the magic and the version (3) only: the compressions, tile type,
// zooms and offsets are the caller's to judge.
func DecodeHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, errorf("header", ErrCorrupt, "%d bytes, want %d", len(b), HeaderLen)
	}
	if string(b[:7]) != magic {
		return h, errorf("header", ErrCorrupt, "magic number %q is not %q", b[:7], magic)
	}
	if b[7] != SpecVersion {
		return h, errorf("header", ErrUnsupported, "spec version %d, want %d", b[7], SpecVersion)
	}
	h.SpecVersion = b[7]
	for i, p := range h.u64s() {
		*p = binary.LittleEndian.Uint64(b[offRootOffset+8*i:])
	}
	h.Clustered = b[offClustered] == 1
	h.InternalCompression = Compression(b[offIntComp])
	h.TileCompression = Compression(b[offTileComp])
	h.TileType = TileType(b[offTileType])
	h.MinZoom = b[offMinZoom]
	h.MaxZoom = b[offMaxZoom]
	h.MinLonE7, h.MinLatE7 = pos(b[offMinPos:])
	h.MaxLonE7, h.MaxLatE7 = pos(b[offMaxPos:])
	h.CenterZoom = b[offCenterZoom]
	h.CenterLonE7, h.CenterLatE7 = pos(b[offCenterPos:])
	return h, nil
}
