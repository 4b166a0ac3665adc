package tiles

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/paulmach/orb"
)

// RefBasemap is a reference basemap already on the device.
type RefBasemap struct {
	Path   string
	Kind   string // "mbtiles", "tpkx", "vtpk" or "pmtiles"
	Bounds orb.Bound
}

// RefBasemapError explains why a reference basemap cannot be used.
type RefBasemapError struct {
	Path   string
	Reason string
	Err    error
}

func (e *RefBasemapError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("reference basemap %s: %s: %v", e.Path, e.Reason, e.Err)
	}
	return fmt.Sprintf("reference basemap %s: %s", e.Path, e.Reason)
}

func (e *RefBasemapError) Unwrap() error { return e.Err }

// CheckReferenceBasemap finds filename in dir (the web map's
// referenceBasemapDirectory and referenceBasemapFilename), opens it as
// .mbtiles, .tpkx, .vtpk or .pmtiles and checks that its extent covers the AOI.
func CheckReferenceBasemap(ctx context.Context, dir, filename string, aoi AOI) (*RefBasemap, error) {
	p := filepath.Join(dir, filename)
	if filename == "" || filepath.Base(filename) != filename || filename == "." || filename == ".." {
		return nil, &RefBasemapError{Path: p, Reason: fmt.Sprintf("file name %q must be a plain file name", filename)}
	}
	fi, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &RefBasemapError{Path: p, Reason: "file not found; copy it into " + dir + " before taking the map offline", Err: err}
		}
		return nil, &RefBasemapError{Path: p, Reason: "cannot read", Err: err}
	}
	if fi.IsDir() {
		return nil, &RefBasemapError{Path: p, Reason: "is a directory, not a tile file"}
	}
	rb := &RefBasemap{Path: p, Kind: strings.TrimPrefix(strings.ToLower(filepath.Ext(p)), ".")}
	switch rb.Kind {
	case "mbtiles":
		rb.Bounds, err = mbtilesBounds(ctx, p)
	case "tpkx", "vtpk":
		var pk *Package
		pk, err = OpenPackage(p)
		if err == nil {
			rb.Bounds, err = pk.WGS84Bounds()
			pk.Close()
		}
	case "pmtiles":
		rb.Bounds, err = pmtilesBounds(ctx, p)
	default:
		return nil, &RefBasemapError{Path: p, Reason: fmt.Sprintf("unsupported type %q (want .mbtiles, .tpkx, .vtpk or .pmtiles)", filepath.Ext(p))}
	}
	if err != nil {
		return nil, &RefBasemapError{Path: p, Reason: "cannot open", Err: err}
	}
	need, err := aoi.WGS84Bounds()
	if err != nil {
		return nil, &RefBasemapError{Path: p, Reason: "cannot place the area", Err: err}
	}
	const eps = 1e-6
	b := rb.Bounds
	if need.Min[0] < b.Min[0]-eps || need.Max[0] > b.Max[0]+eps || need.Min[1] < b.Min[1]-eps || need.Max[1] > b.Max[1]+eps {
		return nil, &RefBasemapError{Path: p, Reason: fmt.Sprintf("does not cover the area: it spans lon %.5f..%.5f lat %.5f..%.5f, the area needs lon %.5f..%.5f lat %.5f..%.5f",
			b.Min[0], b.Max[0], b.Min[1], b.Max[1], need.Min[0], need.Max[0], need.Min[1], need.Max[1])}
	}
	return rb, nil
}

// mbtilesBounds reads the bounds metadata, or derives them from the deepest
// zoom's tiles of an XYZ store.
func mbtilesBounds(ctx context.Context, p string) (orb.Bound, error) {
	st, err := OpenStore(ctx, p)
	if err != nil {
		return orb.Bound{}, err
	}
	defer st.Close()
	md, err := st.Metadata(ctx)
	if err != nil {
		return orb.Bound{}, err
	}
	if v := parseFloats(md["bounds"]); len(v) == 4 {
		return orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, nil
	}
	var z, x0, x1, y0, y1 int
	err = st.db.QueryRowContext(ctx, `SELECT zoom_level, min(tile_column), max(tile_column), min(tile_row), max(tile_row)
		FROM tiles WHERE zoom_level = (SELECT max(zoom_level) FROM tiles)`).Scan(&z, &x0, &x1, &y0, &y1)
	if err != nil {
		return orb.Bound{}, fmt.Errorf("no bounds metadata and no tiles: %w", err)
	}
	if md[MetaGrid] == "tileinfo" {
		return orb.Bound{}, errors.New("no bounds metadata in a non-XYZ store")
	}
	n := math.Exp2(float64(z))
	lon := func(x int) float64 { return float64(x)/n*360 - 180 }
	// lat of an XYZ row edge e (0 = north pole side of the world).
	lat := func(e float64) float64 {
		_, lat := ToWGS84(0, MercatorHalfWorld*(1-2*e/n))
		return lat
	}
	// TMS row t is XYZ row n-1-t: its top edge is n-1-t, its bottom edge n-t.
	return orb.Bound{Min: orb.Point{lon(x0), lat(n - float64(y0))}, Max: orb.Point{lon(x1 + 1), lat(n - 1 - float64(y1))}}, nil
}

// pmtilesBounds reads a PMTiles archive's header bounds.
func pmtilesBounds(ctx context.Context, p string) (orb.Bound, error) {
	f, err := os.Open(p)
	if err != nil {
		return orb.Bound{}, err
	}
	defer f.Close()
	pm, err := OpenPMTiles(ctx, FileRange{F: f})
	if err != nil {
		return orb.Bound{}, err
	}
	b := pm.Bounds()
	return orb.Bound{Min: orb.Point{b[0], b[1]}, Max: orb.Point{b[2], b[3]}}, nil
}
