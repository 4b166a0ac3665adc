package localapi

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/offlined/offlined/offline"
)

// errBasemapUnavailable is the one answer for a reference basemap path given
// over the API that cannot be used, whatever the reason (missing, unreadable,
// not a regular file, wrong type, outside the basemap directories): the API
// must not tell an app which files exist on the device.
func errBasemapUnavailable(field string) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "basemapUnavailable", Field: field,
		Message: "the reference basemap must be a readable .mbtiles, .tpkx, .vtpk or .pmtiles file in one of the daemon's basemap directories (GET /api/v1/status lists them)"}
}

// basemapDirs returns the directories reference basemaps named over the API
// may come from, symlinks resolved (those that do not exist are left out).
func (s *Server) basemapDirs() []string {
	var out []string
	for _, d := range s.opts.BasemapDirs {
		if r, err := filepath.EvalSymlinks(d); err == nil {
			if abs, err := filepath.Abs(r); err == nil {
				out = append(out, abs)
			}
		}
	}
	return out
}

// within reports whether p is dir or below it (both clean and absolute).
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// checkBasemapFile resolves a reference basemap path given over the API and
// returns the resolved path, or errBasemapUnavailable.
func (s *Server) checkBasemapFile(p, field string) (string, error) {
	bad := errBasemapUnavailable(field)
	if !filepath.IsAbs(p) {
		return "", bad
	}
	switch strings.ToLower(filepath.Ext(p)) {
	case ".mbtiles", ".tpkx", ".vtpk", ".pmtiles":
	default:
		return "", bad
	}
	dirs := s.basemapDirs()
	inside := func(q string) bool {
		for _, d := range dirs {
			if within(q, d) {
				return true
			}
		}
		return false
	}
	// Lexically first, so paths elsewhere are refused without touching the
	// file system, then again after resolving symlinks.
	if !inside(filepath.Clean(p)) {
		return "", bad
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil || !inside(real) {
		return "", bad
	}
	f, err := os.Open(real)
	if err != nil {
		return "", bad
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", bad
	}
	return real, nil
}

// checkBasemaps checks the reference basemap of parameters and overrides
// given over the API and rewrites them to the resolved file.
func (s *Server) checkBasemaps(p *offline.Parameters, pField string, o *offline.Overrides, oField string) error {
	if p != nil && (p.ReferenceBasemapDirectory != "" || filepath.IsAbs(p.ReferenceBasemapFilename)) {
		path := p.ReferenceBasemapPath()
		if path == "" {
			// A directory without a file name is reported by validation
			// without touching the file system.
			return nil
		}
		real, err := s.checkBasemapFile(path, pField+".referenceBasemapFilename")
		if err != nil {
			return err
		}
		p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = filepath.Dir(real), filepath.Base(real)
	}
	if o != nil && o.ReferenceBasemap != nil {
		real, err := s.checkBasemapFile(o.ReferenceBasemap.Path, oField+".referenceBasemap.path")
		if err != nil {
			return err
		}
		o.ReferenceBasemap.Path = real
	}
	return nil
}
