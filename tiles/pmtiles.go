package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/offlined/offlined/internal/pmtiles"
)

// PMTiles archives (https://github.com/protomaps/PMTiles, spec v3) are read
// with internal/pmtiles' format functions (header, directories, Hilbert
// tile ids) over ranges: of an HTTP URL (Range requests, so only
// the directories and the tiles of the area of interest travel, like
// `pmtiles extract`) or of a local file. Tiles go into MBTiles through
// Download, so a PMTiles source resumes, backs off and is served exactly
// like any other tile layer.

// RangeReader reads byte ranges of an archive.
type RangeReader interface {
	ReadRange(ctx context.Context, off, n uint64) ([]byte, error)
}

// HTTPRange reads ranges of a URL with HTTP Range requests (anonymous).
type HTTPRange struct {
	Client *http.Client
	URL    string
}

// ReadRange implements RangeReader. A server that ignores Range and sends
// the whole archive is accepted for small archives only (the answer is
// capped at MaxResourceBytes).
func (h *HTTPRange) ReadRange(ctx context.Context, off, n uint64) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n > MaxResourceBytes {
		return nil, fmt.Errorf("pmtiles %s: range of %d bytes refused", HideQuery(h.URL), n)
	}
	b, err := OpenGet(ctx, h.Client, h.URL, fmt.Sprintf("bytes=%d-%d", off, off+n-1), MaxResourceBytes, true)
	if err != nil {
		return nil, err
	}
	if uint64(len(b)) > n { // whole body: slice
		if off+n > uint64(len(b)) {
			return nil, fmt.Errorf("pmtiles %s: archive shorter than %d bytes", HideQuery(h.URL), off+n)
		}
		b = b[off : off+n]
	}
	if uint64(len(b)) != n {
		return nil, fmt.Errorf("pmtiles %s: range at %d: %d bytes, want %d", HideQuery(h.URL), off, len(b), n)
	}
	return b, nil
}

// FileRange reads ranges of a local file.
type FileRange struct{ F *os.File }

// ReadRange implements RangeReader.
func (f FileRange) ReadRange(_ context.Context, off, n uint64) ([]byte, error) {
	if n > MaxResourceBytes {
		return nil, fmt.Errorf("pmtiles %s: range of %d bytes refused", f.F.Name(), n)
	}
	b := make([]byte, n)
	if _, err := f.F.ReadAt(b, int64(off)); err != nil {
		return nil, fmt.Errorf("pmtiles %s: %w", f.F.Name(), err)
	}
	return b, nil
}

// PMTiles is an opened archive: its header and root directory, leaf
// directories cached as they are read (the most recently used, up to
// leafCacheBytes). It implements TileFetcher for the
// Web Mercator XYZ grid (TileKey level = zoom). Safe for concurrent use.
type PMTiles struct {
	r      RangeReader
	Header pmtiles.Header
	root   []pmtiles.Entry
	leaves *leafCache
}

// maxPMTilesDirBytes caps one directory, compressed or not: the longest
// encoding of pmtiles.MaxDirectoryEntries entries (~30 MiB). Directories
// with more entries are refused (pmtiles.ErrTooLarge), a gzip one before
// it is decompressed.
const maxPMTilesDirBytes = pmtiles.MaxDirectoryBytes

// OpenPMTiles reads the header and root directory (the first 16 KiB hold
// both in a spec-conforming archive).
func OpenPMTiles(ctx context.Context, r RangeReader) (*PMTiles, error) {
	hb, err := r.ReadRange(ctx, 0, pmtiles.HeaderLen)
	if err != nil {
		return nil, err
	}
	h, err := pmtiles.DecodeHeader(hb)
	if err != nil {
		return nil, err
	}
	if h.MinZoom > h.MaxZoom || h.MaxZoom > 30 {
		return nil, fmt.Errorf("pmtiles: zooms %d-%d", h.MinZoom, h.MaxZoom)
	}
	switch h.TileCompression {
	case pmtiles.NoCompression, pmtiles.Gzip, pmtiles.UnknownCompression:
	default:
		return nil, fmt.Errorf("pmtiles: tile compression %d (brotli/zstd) is not supported", h.TileCompression)
	}
	p := &PMTiles{r: r, Header: h, leaves: newLeafCache(leafCacheBytes)}
	if p.root, err = p.readDir(ctx, h.RootOffset, h.RootLength); err != nil {
		return nil, fmt.Errorf("pmtiles: root directory: %w", err)
	}
	return p, nil
}

// readDir reads and decodes a directory (at most maxPMTilesDirBytes and
// pmtiles.MaxDirectoryEntries entries).
func (p *PMTiles) readDir(ctx context.Context, off, n uint64) ([]pmtiles.Entry, error) {
	if n == 0 || n > maxPMTilesDirBytes {
		return nil, fmt.Errorf("directory of %d bytes", n)
	}
	b, err := p.r.ReadRange(ctx, off, n)
	if err != nil {
		return nil, err
	}
	return pmtiles.DecodeDirectory(b, p.Header.InternalCompression, maxPMTilesDirBytes)
}

// Vector reports whether the archive holds vector tiles (MVT).
func (p *PMTiles) Vector() bool { return p.Header.TileType == pmtiles.MVT }

// Format is the MBTiles format of the archive's tiles.
func (p *PMTiles) Format() string {
	switch p.Header.TileType {
	case pmtiles.MVT:
		return "pbf"
	case pmtiles.JPEG:
		return "jpg"
	case pmtiles.WebP:
		return "webp"
	}
	return "png"
}

// Bounds returns the archive's WGS84 bounds (west, south, east, north).
func (p *PMTiles) Bounds() [4]float64 {
	h := p.Header
	return [4]float64{float64(h.MinLonE7) / 1e7, float64(h.MinLatE7) / 1e7, float64(h.MaxLonE7) / 1e7, float64(h.MaxLatE7) / 1e7}
}

// find returns the entry of a tile id, following leaf directories.
func (p *PMTiles) find(ctx context.Context, id uint64) (pmtiles.Entry, bool, error) {
	dir := p.root
	for depth := 0; depth < 4; depth++ {
		e, ok := pmtiles.FindTile(dir, id)
		if !ok {
			return e, false, nil
		}
		if e.RunLength > 0 {
			return e, true, nil
		}
		off := p.Header.LeafDirectoryOffset + e.Offset
		leaf, cached := p.leaves.get(off)
		if !cached {
			var err error
			if leaf, err = p.readDir(ctx, off, uint64(e.Length)); err != nil {
				return e, false, fmt.Errorf("pmtiles: leaf directory: %w", err)
			}
			p.leaves.put(off, leaf)
		}
		dir = leaf
	}
	return pmtiles.Entry{}, false, errors.New("pmtiles: directories nested deeper than 4")
}

// FetchTile implements TileFetcher: k.Level is the zoom, k.Row the XYZ y
// (from the top), k.Col the x. Vector tiles come back gzip-compressed (as
// MBTiles stores them) and raster tiles decoded.
func (p *PMTiles) FetchTile(ctx context.Context, k TileKey) ([]byte, bool, error) {
	if k.Level < int(p.Header.MinZoom) || k.Level > int(p.Header.MaxZoom) || k.Row < 0 || k.Col < 0 || k.Row >= 1<<k.Level || k.Col >= 1<<k.Level {
		return nil, true, nil
	}
	id, err := pmtiles.ZxyToID(uint8(k.Level), uint32(k.Col), uint32(k.Row))
	if err != nil {
		return nil, false, &FatalError{Err: fmt.Errorf("pmtiles: tile %s: %w", k, err)}
	}
	e, ok, err := p.find(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if !ok || e.Length == 0 {
		return nil, true, nil
	}
	if e.Length > MaxTileBytes {
		return nil, false, &FatalError{Err: fmt.Errorf("pmtiles: tile %s of %d bytes refused", k, e.Length)}
	}
	b, err := p.r.ReadRange(ctx, p.Header.TileDataOffset+e.Offset, uint64(e.Length))
	if err != nil {
		return nil, false, err
	}
	switch {
	case p.Vector() && !isGzip(b):
		b = gzipBytes(b)
	case !p.Vector() && p.Header.TileCompression == pmtiles.Gzip && isGzip(b):
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, false, err
		}
		if b, err = readCapped(zr, MaxTileBytes, "tile", k.String()); err != nil {
			return nil, false, err
		}
	}
	return b, false, nil
}

// IsPMTilesURL reports whether a style source or layer URL names a PMTiles
// archive ("pmtiles://https://…" as the protomaps MapLibre plugin writes
// it, or an http(s) URL whose path ends in .pmtiles) and returns the
// archive's http(s) URL.
func IsPMTilesURL(u string) (string, bool) {
	if rest, ok := strings.CutPrefix(u, "pmtiles://"); ok {
		return rest, true
	}
	p := u
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	if strings.HasSuffix(strings.ToLower(p), ".pmtiles") {
		return u, true
	}
	return "", false
}
