package tiles

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
)

// PackageRoot is the root.json of a .tpkx or of a .vtpk's p12/ folder (a
// MapServer / VectorTileServer-like service description).
type PackageRoot struct {
	Name          string           `json:"name"`
	TileInfo      arcgis.TileInfo  `json:"tileInfo"`
	FullExtent    *arcgis.Envelope `json:"fullExtent,omitempty"`
	InitialExtent *arcgis.Envelope `json:"initialExtent,omitempty"`
	MinLOD        *int             `json:"minLOD,omitempty"`
	MaxLOD        *int             `json:"maxLOD,omitempty"`
	Tiles         []string         `json:"tiles,omitempty"`
	TileImageInfo *struct {
		Format string `json:"format"`
	} `json:"tileImageInfo,omitempty"`
	ResourceInfo *struct {
		TileCompression string `json:"tileCompression"`
	} `json:"resourceInfo,omitempty"`
}

// Package reads an Esri tile package: .tpkx (Compact Cache V2 bundles under
// tile/) or .vtpk (p12/tile/, gzip MVT tiles, style resources). It is safe for
// concurrent use.
type Package struct {
	Path   string
	Kind   string // "tpkx" or "vtpk"
	Root   PackageRoot
	Scheme *Scheme

	f      *os.File
	zr     *zip.Reader
	prefix string
	files  map[string]*zip.File

	// MaxMemberBytes caps the uncompressed size of one compressed bundle
	// (extracted to a temporary file next to the package, never into
	// memory); 0 means DefaultMaxMemberBytes. Metadata files (root.json,
	// styles, sprites) are capped at MaxResourceBytes.
	MaxMemberBytes int64

	mu      sync.Mutex
	bundles map[string]*Bundle
	tmp     []*os.File // extracted bundles, removed by Close
}

// DefaultMaxMemberBytes caps a compressed bundle's uncompressed size.
const DefaultMaxMemberBytes = 4 << 30

// OpenPackage opens a .tpkx or .vtpk file; the kind is told by its layout.
func OpenPackage(p string) (*Package, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open tile package: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open tile package: %w", err)
	}
	pk, err := newPackage(f, st.Size(), p)
	if err != nil {
		f.Close()
		return nil, err
	}
	pk.f = f
	return pk, nil
}

func newPackage(r io.ReaderAt, size int64, name string) (*Package, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, fmt.Errorf("tile package %s: not a zip: %w", name, err)
	}
	pk := &Package{Path: name, zr: zr, files: map[string]*zip.File{}, bundles: map[string]*Bundle{}}
	for _, zf := range zr.File {
		pk.files[strings.TrimPrefix(zf.Name, "./")] = zf
	}
	switch {
	case pk.files["root.json"] != nil:
		pk.Kind = "tpkx"
	case pk.files["p12/root.json"] != nil:
		pk.Kind, pk.prefix = "vtpk", "p12/"
	default:
		return nil, fmt.Errorf("tile package %s: neither root.json (tpkx) nor p12/root.json (vtpk) found", name)
	}
	b, err := pk.File("root.json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &pk.Root); err != nil {
		return nil, fmt.Errorf("tile package %s: root.json: %w", name, err)
	}
	if pk.Root.TileInfo.SpatialReference == nil && pk.Root.FullExtent != nil {
		pk.Root.TileInfo.SpatialReference = pk.Root.FullExtent.SpatialReference
	}
	if pk.Scheme, err = NewScheme(pk.Root.TileInfo); err != nil {
		return nil, fmt.Errorf("tile package %s: %w", name, err)
	}
	return pk, nil
}

// Close closes the package file.
func (p *Package) Close() error {
	p.mu.Lock()
	for _, f := range p.tmp {
		f.Close()
		os.Remove(f.Name())
	}
	p.tmp = nil
	p.mu.Unlock()
	if p.f != nil {
		return p.f.Close()
	}
	return nil
}

// File returns the bytes of an entry relative to the package root (p12/ for vtpk).
func (p *Package) File(name string) ([]byte, error) {
	zf := p.files[p.prefix+name]
	if zf == nil {
		return nil, fmt.Errorf("tile package %s: no %s%s: %w", p.Path, p.prefix, name, os.ErrNotExist)
	}
	if zf.UncompressedSize64 > MaxResourceBytes {
		return nil, &TooLargeError{What: "package entry " + name, URL: p.Path, Limit: MaxResourceBytes}
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, fmt.Errorf("tile package %s: %s: %w", p.Path, name, err)
	}
	defer rc.Close()
	// archive/zip fails a member that inflates past its declared size;
	// the cap holds even if the declared size lies.
	b, err := readCapped(rc, MaxResourceBytes, "package entry "+name, p.Path)
	if err != nil {
		return nil, fmt.Errorf("tile package %s: %s: %w", p.Path, name, err)
	}
	return b, nil
}

// Files lists entry names under dir (relative to the package root).
func (p *Package) Files(dir string) []string {
	var out []string
	pre := p.prefix + strings.TrimSuffix(dir, "/") + "/"
	for n := range p.files {
		if strings.HasPrefix(n, pre) && !strings.HasSuffix(n, "/") {
			out = append(out, strings.TrimPrefix(n, p.prefix))
		}
	}
	sort.Strings(out)
	return out
}

func (p *Package) bundle(level, row, col int) (*Bundle, error) {
	name := fmt.Sprintf("%stile/L%02d/%s", p.prefix, level, BundleName(row, col))
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.bundles[name]; ok {
		return b, nil
	}
	zf := p.files[name]
	if zf == nil {
		p.bundles[name] = nil
		return nil, nil
	}
	b, err := p.openBundle(zf)
	if err != nil {
		return nil, fmt.Errorf("tile package %s: %s: %w", p.Path, name, err)
	}
	p.bundles[name] = b
	return b, nil
}

func (p *Package) openBundle(zf *zip.File) (*Bundle, error) {
	if zf.Method == zip.Store && p.f != nil {
		off, err := zf.DataOffset()
		if err != nil {
			return nil, err
		}
		sz := int64(zf.UncompressedSize64)
		return OpenBundle(io.NewSectionReader(p.f, off, sz), sz)
	}
	// A compressed bundle is inflated to a temporary file, never into
	// memory: its declared size must be within the cap, and archive/zip
	// refuses data that inflates past the declared size (zip bomb).
	limit := p.MaxMemberBytes
	if limit <= 0 {
		limit = DefaultMaxMemberBytes
	}
	declared := zf.UncompressedSize64
	if declared > uint64(limit) {
		return nil, &TooLargeError{What: "bundle " + zf.Name, URL: p.Path, Limit: limit}
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dir := os.TempDir()
	if p.f != nil {
		dir = filepath.Dir(p.Path)
	}
	tf, err := os.CreateTemp(dir, ".bundle-*")
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			tf.Close()
			os.Remove(tf.Name())
		}
	}()
	n, err := io.Copy(tf, io.LimitReader(rc, int64(declared)+1))
	if err != nil {
		return nil, err
	}
	if n != int64(declared) {
		return nil, &BundleError{fmt.Sprintf("%s inflates to %d bytes, %d declared", zf.Name, n, declared)}
	}
	b, err := OpenBundle(tf, n)
	if err != nil {
		return nil, err
	}
	keep = true
	p.tmp = append(p.tmp, tf)
	return b, nil
}

// Tile returns the tile at a grid key or ErrTileNotFound.
func (p *Package) Tile(k TileKey) ([]byte, error) {
	if k.Row < 0 || k.Col < 0 {
		return nil, ErrTileNotFound
	}
	b, err := p.bundle(k.Level, k.Row, k.Col)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, ErrTileNotFound
	}
	return b.Tile(k.Row%BundleDim, k.Col%BundleDim)
}

// Levels returns the levels that have bundles.
func (p *Package) Levels() []int {
	set := map[int]bool{}
	for n := range p.files {
		rest, ok := strings.CutPrefix(n, p.prefix+"tile/L")
		if !ok || !strings.HasSuffix(n, ".bundle") {
			continue
		}
		if lv, err := strconv.Atoi(strings.SplitN(rest, "/", 2)[0]); err == nil {
			set[lv] = true
		}
	}
	var out []int
	for lv := range set {
		out = append(out, lv)
	}
	sort.Ints(out)
	return out
}

// Each calls fn for every tile of the package, bundle by bundle.
func (p *Package) Each(fn func(k TileKey, data []byte) error) error {
	var names []string
	for n := range p.files {
		if strings.HasPrefix(n, p.prefix+"tile/L") && strings.HasSuffix(n, ".bundle") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		rel := strings.TrimPrefix(n, p.prefix+"tile/L")
		lvs, file := path.Dir(rel), path.Base(rel)
		lv, err := strconv.Atoi(lvs)
		if err != nil {
			return fmt.Errorf("tile package %s: bad level folder in %s", p.Path, n)
		}
		r0, c0, err := ParseBundleName(file)
		if err != nil {
			return fmt.Errorf("tile package %s: %w", p.Path, err)
		}
		b, err := p.bundle(lv, r0, c0)
		if err != nil {
			return err
		}
		if err := b.Each(func(r, c int, data []byte) error {
			return fn(TileKey{Level: lv, Row: r0 + r, Col: c0 + c}, data)
		}); err != nil {
			return err
		}
	}
	return nil
}

// Format returns the MBTiles format of the package's tiles.
func (p *Package) Format() string {
	if p.Kind == "vtpk" {
		return "pbf"
	}
	if p.Root.TileImageInfo != nil && p.Root.TileImageInfo.Format != "" {
		return FormatFor(p.Root.TileImageInfo.Format)
	}
	return FormatFor(p.Root.TileInfo.Format)
}

// WGS84Bounds returns the package's full extent (or initial extent) in lon/lat.
func (p *Package) WGS84Bounds() (orb.Bound, error) {
	e := p.Root.FullExtent
	if e == nil {
		e = p.Root.InitialExtent
	}
	if e == nil {
		return orb.Bound{}, fmt.Errorf("tile package %s: root.json has no extent", p.Path)
	}
	return envelopeWGS84(e)
}

func envelopeWGS84(e *arcgis.Envelope) (orb.Bound, error) {
	epsg := 4326
	if e.SpatialReference != nil {
		epsg = e.SpatialReference.EPSG()
	}
	switch epsg {
	case 4326:
		return orb.Bound{Min: orb.Point{e.XMin, e.YMin}, Max: orb.Point{e.XMax, e.YMax}}, nil
	case 3857:
		x0, y0 := ToWGS84(math.Max(e.XMin, -MercatorHalfWorld), e.YMin)
		x1, y1 := ToWGS84(math.Min(e.XMax, MercatorHalfWorld), e.YMax)
		return orb.Bound{Min: orb.Point{x0, y0}, Max: orb.Point{x1, y1}}, nil
	}
	return orb.Bound{}, fmt.Errorf("extent in EPSG:%d cannot be projected to WGS84", epsg)
}

// ImportPackage copies a package's tiles (those keep accepts, or all when keep
// is nil) into an MBTiles store, configuring its grid and format, in batched
// transactions. For a .vtpk the style resources are copied separately by
// ExtractResources. It returns the number of tiles written.
func ImportPackage(ctx context.Context, p *Package, st *Store, keep func(TileKey) bool) (int64, error) {
	if err := st.Configure(ctx, p.Scheme, p.Format()); err != nil {
		return 0, err
	}
	var n int64
	batch := make([]TileRecord, 0, 512)
	err := p.Each(func(k TileKey, data []byte) error {
		if keep != nil && !keep(k) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		batch = append(batch, TileRecord{Key: k, Data: data})
		if len(batch) == cap(batch) {
			if err := st.Put(ctx, batch); err != nil {
				return err
			}
			n += int64(len(batch))
			batch = batch[:0]
		}
		return nil
	})
	if err == nil {
		err = st.Put(ctx, batch)
		n += int64(len(batch))
	}
	if err != nil {
		return n, fmt.Errorf("import %s: %w", p.Path, err)
	}
	if p.Kind == "vtpk" {
		layers, _, err := scanVectorLayers(ctx, st)
		if err != nil {
			return n, fmt.Errorf("import %s: %w", p.Path, err)
		}
		meta, _ := json.Marshal(map[string]any{"vector_layers": layers})
		if err := st.SetMetadata(ctx, map[string]string{"json": string(meta), "type": "overlay"}); err != nil {
			return n, err
		}
	}
	if b, err := p.WGS84Bounds(); err == nil {
		bb := [4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}
		return n, st.Finalize(ctx, p.Root.Name, &bb)
	}
	return n, st.Finalize(ctx, p.Root.Name, nil)
}

// ExtractResources copies a .vtpk's resources (styles/root.json, sprites,
// fonts, info) under dir, keeping their relative paths, and returns how many
// files it wrote.
func (p *Package) ExtractResources(dir string) (int, error) {
	n := 0
	for _, name := range p.Files("resources") {
		rel := strings.TrimPrefix(name, "resources/")
		dest := filepath.Join(dir, filepath.FromSlash(rel))
		if !strings.HasPrefix(dest, filepath.Clean(dir)+string(filepath.Separator)) {
			return n, fmt.Errorf("tile package %s: entry %s escapes the resource directory", p.Path, name)
		}
		b, err := p.File(name)
		if err != nil {
			return n, err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return n, err
		}
		if err := os.WriteFile(dest, b, 0o644); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
