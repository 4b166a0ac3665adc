package offline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/offlined/offlined/tiles"
)

// referenceBasemapSource replaces the basemap layers by a basemap file
// already on the device (MethodReferenceBasemap: .tpkx, .vtpk, .mbtiles, .pmtiles),
// when the parameters name one. Nothing is downloaded; the package's
// basemap layers point at the file (Overrides.ReferenceBasemap).
type referenceBasemapSource struct{ noSteps }

func (referenceBasemapSource) name() string { return "referenceBasemap" }

func (referenceBasemapSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	p := a.params
	if !p.IncludeBasemap || p.ReferenceBasemapDirectory == "" || p.ReferenceBasemapFilename == "" {
		return nil
	}
	for _, e := range a.unclaimed() {
		if !e.Role.IsBasemap() {
			continue
		}
		c := a.caps[e]
		c.SupportsOffline, c.Method = true, MethodReferenceBasemap
		c.Message = fmt.Sprintf("basemap layer %s: replaced by the reference basemap %s on the device", describe(e), p.ReferenceBasemapFilename)
	}
	return nil
}

func (referenceBasemapSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	p := a.params
	for _, e := range a.taking(MethodReferenceBasemap) {
		if ov.ReferenceBasemap == nil {
			ov.ReferenceBasemap = &ReferenceBasemap{Path: p.ReferenceBasemapPath()}
		}
		ov.ReferenceBasemap.Replaces = append(ov.ReferenceBasemap.Replaces, e.Key)
	}
}

func (referenceBasemapSource) check(oc *overrideCheck, o *Overrides) {
	rb := o.ReferenceBasemap
	if rb == nil {
		return
	}
	if st, err := os.Stat(rb.Path); err != nil || !st.Mode().IsRegular() {
		oc.errs = append(oc.errs, &ValidationError{Code: ErrReferenceBasemapMissing, Message: fmt.Sprintf("overrides: reference basemap %s not found on the device", rb.Path)})
	}
	for _, k := range rb.Replaces {
		ok := false
		for _, e := range oc.byKey[k] {
			ok = ok || e.Role.IsBasemap()
		}
		if !ok {
			oc.unknown(k, "referenceBasemap.replaces")
		}
	}
}

// write points the replaced basemap layers at the file and makes it a
// tile layer of the package, served like downloaded ones:
//   - a file inside the package is recorded by its relative path;
//   - an .mbtiles elsewhere on the device is linked as
//     tiles/referenceBasemap.mbtiles (a symbolic link: nothing is copied);
//   - a .tpkx or .vtpk elsewhere has the tiles covering the area of
//     interest imported into tiles/referenceBasemap.mbtiles (and a .vtpk's
//     style resources extracted beside it).
//
// ManifestLayer.ReferenceFile keeps the original file's path.
func (referenceBasemapSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	rb := j.o.ReferenceBasemap
	if rb == nil {
		return nil
	}
	store, resources, err := placeReferenceBasemap(ctx, j, rb.Path)
	if err != nil {
		return fmt.Errorf("reference basemap %s: %w", filepath.Base(rb.Path), err)
	}
	for _, k := range rb.Replaces {
		if local[k] != nil {
			continue
		}
		ml := &ManifestLayer{Key: k, Kind: KindReferenceBasemap, Store: store, Resources: resources, ReferenceFile: rb.Path}
		if e := j.task.Entry(k); e != nil {
			ml.ServiceURL = e.Service.URL
		}
		local[k] = ml
	}
	return nil
}

// refBasemapName is the tile layer name a reference basemap gets.
const refBasemapName = "referenceBasemap"

func placeReferenceBasemap(ctx context.Context, j *Job, path string) (store, resources string, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	dir, err := filepath.Abs(j.dir)
	if err != nil {
		return "", "", err
	}
	if rel, err := filepath.Rel(dir, abs); err == nil && rel != "." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != ".." {
		return filepath.ToSlash(rel), "", nil
	}
	if err := os.MkdirAll(filepath.Join(j.dir, TilesDir), 0o700); err != nil {
		return "", "", err
	}
	rel := TilesDir + "/" + refBasemapName + ".mbtiles"
	dst := filepath.Join(j.dir, filepath.FromSlash(rel))
	switch strings.ToLower(filepath.Ext(abs)) {
	case ".mbtiles":
		if cur, err := os.Readlink(dst); err == nil && cur == abs {
			return rel, "", nil
		}
		os.Remove(dst)
		if err := os.Symlink(abs, dst); err != nil {
			return "", "", err
		}
		return rel, "", nil
	case ".tpkx", ".vtpk":
		pkg, err := tiles.OpenPackage(abs)
		if err != nil {
			return "", "", err
		}
		defer pkg.Close()
		if pkg.Kind == "vtpk" {
			resources = TilesDir + "/" + refBasemapName + "/resources"
			if _, err := pkg.ExtractResources(filepath.Join(j.dir, filepath.FromSlash(resources))); err != nil {
				return "", "", err
			}
		}
		done := dst + ".done"
		if _, err := os.Stat(done); err == nil {
			return rel, resources, nil // imported by an earlier run
		}
		keep, err := aoiKeep(j, pkg)
		if err != nil {
			return "", "", err
		}
		os.Remove(dst)
		if err := importOnce(ctx, dst, done, func(st *tiles.Store) error {
			_, err := tiles.ImportPackage(ctx, pkg, st, keep)
			return err
		}); err != nil {
			return "", "", err
		}
		return rel, resources, nil
	case ".pmtiles":
		// Only the area's tiles, like `pmtiles extract`; resumable.
		done := dst + ".done"
		if _, err := os.Stat(done); err == nil {
			return rel, "", nil
		}
		aoi, err := tiles.AOIFromGeometry(j.p.AreaOfInterest)
		if err != nil {
			return "", "", err
		}
		if err := importOnce(ctx, dst, done, func(st *tiles.Store) error {
			_, err := tiles.ImportPMTiles(ctx, abs, st, aoi, tiles.DownloadOptions{Concurrency: j.opt.TileConcurrency, Logger: j.log})
			return err
		}); err != nil {
			return "", "", err
		}
		return rel, "", nil
	}
	return "", "", fmt.Errorf("%s is not a .mbtiles, .tpkx, .vtpk or .pmtiles file", filepath.Base(abs))
}

// aoiKeep accepts the package tiles that cover the job's area of interest
// (nil, every tile, when the area cannot be converted).
func aoiKeep(j *Job, pkg *tiles.Package) (func(tiles.TileKey) bool, error) {
	aoi, err := tiles.AOIFromGeometry(j.p.AreaOfInterest)
	if err != nil {
		return nil, nil
	}
	covers, err := tiles.Cover(pkg.Scheme, aoi, pkg.Levels(), tiles.CoverOptions{})
	if err != nil {
		return nil, err
	}
	byLevel := map[int]tiles.LevelCover{}
	for _, c := range covers {
		byLevel[c.Level] = c
	}
	return func(k tiles.TileKey) bool {
		c, ok := byLevel[k.Level]
		return ok && c.Contains(k.Row, k.Col)
	}, nil
}

// importOnce fills the MBTiles dst by imp and then writes the marker done,
// so that a resumed job skips the finished import.
func importOnce(ctx context.Context, dst, done string, imp func(*tiles.Store) error) error {
	st, err := tiles.OpenStore(ctx, dst)
	if err != nil {
		return err
	}
	ierr := imp(st)
	if cerr := st.Close(); ierr == nil {
		ierr = cerr
	}
	if ierr != nil {
		return ierr
	}
	return os.WriteFile(done, nil, 0o600)
}
