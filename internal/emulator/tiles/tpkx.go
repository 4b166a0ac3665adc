package tiles

import (
	"archive/zip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"
)

// Compact Cache V2 bundle constants (Esri CompactCacheV2.md).
const (
	bundleDim        = 128
	bundleIndexSize  = bundleDim * bundleDim * 8 // 131072
	bundleHeaderSize = 64
	bundleDataStart  = bundleHeaderSize + bundleIndexSize // 131136
)

// bundleKey identifies one bundle: level and the top-left tile row/col
// (multiples of 128).
type bundleKey struct{ level, row, col int }

// bundleName is the path of a bundle below the tile folder:
// L{zz}/R{rrrr}C{cccc}.bundle with lowercase hex, at least 4 digits.
func bundleName(b bundleKey) string {
	return fmt.Sprintf("L%02d/R%04xC%04x.bundle", b.level, b.row, b.col)
}

// groupBundles sorts the tiles of covers into bundles.
func groupBundles(levels []int, covers [][]rowCover, keep func(tileKey) bool) (map[bundleKey][]tileKey, []bundleKey) {
	m := map[bundleKey][]tileKey{}
	for i, level := range levels {
		for _, rc := range covers[i] {
			for _, sp := range rc.spans {
				for c := sp[0]; c <= sp[1]; c++ {
					k := tileKey{level, rc.row, c}
					if keep != nil && !keep(k) {
						continue
					}
					b := bundleKey{level, rc.row / bundleDim * bundleDim, c / bundleDim * bundleDim}
					m[b] = append(m[b], k)
				}
			}
		}
	}
	keys := make([]bundleKey, 0, len(m))
	for b := range m {
		keys = append(keys, b)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.level != b.level {
			return a.level < b.level
		}
		if a.row != b.row {
			return a.row < b.row
		}
		return a.col < b.col
	})
	return m, keys
}

// writeBundle writes one Compact Cache V2 bundle holding tiles to f (an
// empty file): the 64-byte header, the 128×128 index of (offset | size<<40)
// entries and each tile preceded by its 4-byte little-endian size.
func writeBundle(ctx context.Context, f *os.File, tiles []tileKey, tile func(tileKey) ([]byte, error)) error {
	index := make([]byte, bundleIndexSize)
	if _, err := f.Seek(bundleDataStart, io.SeekStart); err != nil {
		return err
	}
	off := int64(bundleDataStart)
	maxSize := 0
	var sz [4]byte
	for i, k := range tiles {
		if i%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		data, err := tile(k)
		if err != nil {
			return err
		}
		if len(data) >= 1<<24 {
			return fmt.Errorf("tile %v is %d bytes, more than a bundle entry holds", k, len(data))
		}
		binary.LittleEndian.PutUint32(sz[:], uint32(len(data)))
		if _, err := f.Write(sz[:]); err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			return err
		}
		off += 4
		pos := 8 * (bundleDim*(k.row%bundleDim) + k.col%bundleDim)
		binary.LittleEndian.PutUint64(index[pos:], uint64(off)|uint64(len(data))<<40)
		off += int64(len(data))
		maxSize = max(maxSize, len(data))
	}
	var h [bundleHeaderSize]byte
	le := binary.LittleEndian
	le.PutUint32(h[0:], 3)                    // version
	le.PutUint32(h[4:], bundleDim*bundleDim)  // record count
	le.PutUint32(h[8:], uint32(maxSize))      // max tile size
	le.PutUint32(h[12:], 5)                   // offset byte count
	le.PutUint64(h[16:], 0)                   // slack space
	le.PutUint64(h[24:], uint64(off))         // file size
	le.PutUint64(h[32:], 40)                  // user header offset
	le.PutUint32(h[40:], 20+bundleIndexSize)  // user header size
	le.PutUint32(h[44:], 3)                   // legacy
	le.PutUint32(h[48:], 16)                  // legacy
	le.PutUint32(h[52:], bundleDim*bundleDim) // legacy
	le.PutUint32(h[56:], 5)                   // legacy
	le.PutUint32(h[60:], bundleIndexSize)     // index size
	if _, err := f.WriteAt(h[:], 0); err != nil {
		return err
	}
	if _, err := f.WriteAt(index, bundleHeaderSize); err != nil {
		return err
	}
	return nil
}

// pkgWriter writes a stored (uncompressed) zip package to a file.
type pkgWriter struct {
	f   *os.File
	zw  *zip.Writer
	tmp string // directory for bundle scratch files
}

func newPkgWriter(path, tmpDir string) (*pkgWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create package %s: %w", path, err)
	}
	return &pkgWriter{f: f, zw: zip.NewWriter(f), tmp: tmpDir}, nil
}

// addBytes stores one entry.
func (p *pkgWriter) addBytes(name string, data []byte) error {
	w, err := p.zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Store, CRC32: crc32.ChecksumIEEE(data),
		CompressedSize64: uint64(len(data)), UncompressedSize64: uint64(len(data))})
	if err != nil {
		return fmt.Errorf("package entry %s: %w", name, err)
	}
	_, err = w.Write(data)
	return err
}

// addJSON stores v as indented JSON.
func (p *pkgWriter) addJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("package entry %s: %w", name, err)
	}
	return p.addBytes(name, b)
}

// addBundle builds a bundle in a scratch file, then stores it.
func (p *pkgWriter) addBundle(ctx context.Context, name string, tiles []tileKey, tile func(tileKey) ([]byte, error)) error {
	f, err := os.CreateTemp(p.tmp, "bundle-*")
	if err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := writeBundle(ctx, f, tiles, tile); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	n, err := io.Copy(crc, f)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	w, err := p.zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Store, CRC32: crc.Sum32(),
		CompressedSize64: uint64(n), UncompressedSize64: uint64(n)})
	if err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("bundle %s: %w", name, err)
	}
	return nil
}

// addBundles stores the bundles of the levels' covers (tiles keep accepts;
// nil: all) under prefix, rendering each tile with tile.
func (p *pkgWriter) addBundles(ctx context.Context, prefix string, levels []int, covers [][]rowCover, keep func(tileKey) bool, tile func(tileKey) ([]byte, error)) error {
	groups, order := groupBundles(levels, covers, keep)
	for _, b := range order {
		if err := p.addBundle(ctx, prefix+bundleName(b), groups[b], tile); err != nil {
			return err
		}
	}
	return nil
}

// finish closes the package when *err is nil, else (or when closing
// fails, setting *err) removes the partial file.
func (p *pkgWriter) finish(err *error) {
	if *err == nil {
		if *err = p.close(); *err == nil {
			return
		}
	}
	p.abort()
}

// close finishes the zip and the file.
func (p *pkgWriter) close() error {
	err := p.zw.Close()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// abort closes and removes a partial package.
func (p *pkgWriter) abort() {
	_ = p.f.Close()
	_ = os.Remove(p.f.Name())
}
