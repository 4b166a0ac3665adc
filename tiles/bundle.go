package tiles

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
)

// Compact Cache V2 constants (Esri CompactCacheV2.md).
const (
	BundleDim        = 128
	bundleRecords    = BundleDim * BundleDim
	bundleHeaderSize = 64
	bundleIndexSize  = bundleRecords * 8
	bundleFixedSize  = bundleHeaderSize + bundleIndexSize
	bundleMaxOffset  = 1<<40 - 1
)

// BundleError is a malformed Compact Cache V2 bundle.
type BundleError struct{ Reason string }

func (e *BundleError) Error() string { return "compact cache bundle: " + e.Reason }

// ParseBundleHeader checks the 64-byte header and the index that follows it
// and returns the index (offset | size<<40 per tile, row-major). Only the
// fields every producer sets are checked (version 3, 5 offset bytes, user
// header offset 40, index size 131072), as GDAL does; record count and the
// legacy fields vary between real exports.
func ParseBundleHeader(b []byte) ([]uint64, error) {
	if len(b) < bundleFixedSize {
		return nil, &BundleError{fmt.Sprintf("%d bytes, need %d for header and index", len(b), bundleFixedSize)}
	}
	le := binary.LittleEndian
	if v := le.Uint32(b[0:]); v != 3 {
		return nil, &BundleError{fmt.Sprintf("version %d, want 3", v)}
	}
	if v := le.Uint32(b[12:]); v != 5 {
		return nil, &BundleError{fmt.Sprintf("offset byte count %d, want 5", v)}
	}
	if v := le.Uint64(b[32:]); v != 40 {
		return nil, &BundleError{fmt.Sprintf("user header offset %d, want 40", v)}
	}
	if v := le.Uint32(b[60:]); v != bundleIndexSize {
		return nil, &BundleError{fmt.Sprintf("index size %d, want %d", v, bundleIndexSize)}
	}
	idx := make([]uint64, bundleRecords)
	for i := range idx {
		idx[i] = le.Uint64(b[bundleHeaderSize+8*i:])
	}
	return idx, nil
}

// Bundle reads tiles from one Compact Cache V2 bundle.
type Bundle struct {
	r     io.ReaderAt
	size  int64
	index []uint64
}

// OpenBundle reads the header and index of a bundle of size bytes.
func OpenBundle(r io.ReaderAt, size int64) (*Bundle, error) {
	hdr := make([]byte, bundleFixedSize)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, &BundleError{fmt.Sprintf("read header: %v", err)}
	}
	idx, err := ParseBundleHeader(hdr)
	if err != nil {
		return nil, err
	}
	for i, v := range idx {
		off, n := int64(v&bundleMaxOffset), int64(v>>40)
		if n > 0 && (off < bundleFixedSize+4 || off+n > size) {
			return nil, &BundleError{fmt.Sprintf("tile %d at %d+%d lies outside the %d-byte file", i, off, n, size)}
		}
	}
	return &Bundle{r: r, size: size, index: idx}, nil
}

// Tile returns the tile at row, col within the bundle (0..127), or
// ErrTileNotFound when the bundle has none there.
func (b *Bundle) Tile(row, col int) ([]byte, error) {
	if row < 0 || col < 0 || row >= BundleDim || col >= BundleDim {
		return nil, ErrTileNotFound
	}
	v := b.index[row*BundleDim+col]
	off, n := int64(v&bundleMaxOffset), int64(v>>40)
	if n == 0 {
		return nil, ErrTileNotFound
	}
	buf := make([]byte, n)
	if _, err := b.r.ReadAt(buf, off); err != nil {
		return nil, &BundleError{fmt.Sprintf("read tile %d,%d: %v", row, col, err)}
	}
	return buf, nil
}

// Each calls fn for every tile in the bundle, row-major.
func (b *Bundle) Each(fn func(row, col int, data []byte) error) error {
	for i, v := range b.index {
		if v>>40 == 0 {
			continue
		}
		data, err := b.Tile(i/BundleDim, i%BundleDim)
		if err != nil {
			return err
		}
		if err := fn(i/BundleDim, i%BundleDim, data); err != nil {
			return err
		}
	}
	return nil
}

// Count returns the number of tiles in the bundle.
func (b *Bundle) Count() int {
	n := 0
	for _, v := range b.index {
		if v>>40 != 0 {
			n++
		}
	}
	return n
}

var bundleNameRE = regexp.MustCompile(`^R([0-9a-fA-F]{4,8})C([0-9a-fA-F]{4,8})\.bundle$`)

// ParseBundleName returns the top-left row and column of a bundle file name
// like R0080C0100.bundle (hex, multiples of 128).
func ParseBundleName(name string) (row, col int, err error) {
	m := bundleNameRE.FindStringSubmatch(name)
	if m == nil {
		return 0, 0, &BundleError{fmt.Sprintf("file name %q is not R<hex>C<hex>.bundle", name)}
	}
	r, _ := strconv.ParseUint(m[1], 16, 32)
	c, _ := strconv.ParseUint(m[2], 16, 32)
	if r%BundleDim != 0 || c%BundleDim != 0 {
		return 0, 0, &BundleError{fmt.Sprintf("file name %q: row/col not multiples of 128", name)}
	}
	return int(r), int(c), nil
}

// BundleName returns the bundle file name holding tile (row, col), e.g. R0080C0100.bundle.
func BundleName(row, col int) string {
	return fmt.Sprintf("R%04xC%04x.bundle", row/BundleDim*BundleDim, col/BundleDim*BundleDim)
}

// WriteBundle writes a Compact Cache V2 bundle with the whitepaper header
// values (record count 16384, legacy 3/16/16384/5, which GDAL ≤3.7 requires).
// tiles maps (row, col) within the bundle (0..127) to tile bytes.
func WriteBundle(w io.Writer, tiles map[[2]int][]byte) error {
	keys := make([][2]int, 0, len(tiles))
	for k := range tiles {
		if k[0] < 0 || k[1] < 0 || k[0] >= BundleDim || k[1] >= BundleDim {
			return fmt.Errorf("write bundle: tile %v outside 0..127", k)
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0]*BundleDim+keys[i][1] < keys[j][0]*BundleDim+keys[j][1]
	})
	le := binary.LittleEndian
	idx := make([]byte, bundleIndexSize)
	var body bytes.Buffer
	off := int64(bundleFixedSize)
	maxSize := 0
	for _, k := range keys {
		t := tiles[k]
		var sz [4]byte
		le.PutUint32(sz[:], uint32(len(t)))
		body.Write(sz[:])
		off += 4
		if off > bundleMaxOffset || len(t) >= 1<<24 {
			return errors.New("write bundle: too large")
		}
		le.PutUint64(idx[8*(k[0]*BundleDim+k[1]):], uint64(off)|uint64(len(t))<<40)
		body.Write(t)
		off += int64(len(t))
		maxSize = max(maxSize, len(t))
	}
	hdr := make([]byte, bundleHeaderSize)
	le.PutUint32(hdr[0:], 3)
	le.PutUint32(hdr[4:], bundleRecords)
	le.PutUint32(hdr[8:], uint32(maxSize))
	le.PutUint32(hdr[12:], 5)
	le.PutUint64(hdr[16:], 0)
	le.PutUint64(hdr[24:], uint64(off))
	le.PutUint64(hdr[32:], 40)
	le.PutUint32(hdr[40:], 20+bundleIndexSize)
	le.PutUint32(hdr[44:], 3)
	le.PutUint32(hdr[48:], 16)
	le.PutUint32(hdr[52:], bundleRecords)
	le.PutUint32(hdr[56:], 5)
	le.PutUint32(hdr[60:], bundleIndexSize)
	for _, b := range [][]byte{hdr, idx, body.Bytes()} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write bundle: %w", err)
		}
	}
	return nil
}

// WritePackage writes a tile package as ArcGIS does (formats.md §4): a zip
// of stored entries, prefix+"root.json", the tiles in Compact Cache V2
// bundles (prefix+"tile/Lnn/R…C….bundle") and the extra files under
// prefix. A .tpkx has prefix "", a .vtpk "p12/".
func WritePackage(w io.Writer, prefix string, root []byte, tiles map[TileKey][]byte, extra map[string][]byte) error {
	zw := zip.NewWriter(w)
	put := func(name string, b []byte) error {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: prefix + name, Method: zip.Store})
		if err == nil {
			_, err = fw.Write(b)
		}
		return err
	}
	if err := put("root.json", root); err != nil {
		return err
	}
	bundles := map[string]map[[2]int][]byte{}
	for k, b := range tiles {
		name := fmt.Sprintf("tile/L%02d/%s", k.Level, BundleName(k.Row, k.Col))
		if bundles[name] == nil {
			bundles[name] = map[[2]int][]byte{}
		}
		bundles[name][[2]int{k.Row % BundleDim, k.Col % BundleDim}] = b
	}
	var buf bytes.Buffer
	for _, name := range slices.Sorted(maps.Keys(bundles)) {
		buf.Reset()
		if err := WriteBundle(&buf, bundles[name]); err != nil {
			return err
		}
		if err := put(name, buf.Bytes()); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		if err := put(name, extra[name]); err != nil {
			return err
		}
	}
	return zw.Close()
}
