package tiles

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
)

// StyleSource is one tiled source of a MapLibre/Mapbox style (v8) resolved
// for download: a TileJSON (the source's url, or its inline tiles) or a
// PMTiles archive.
type StyleSource struct {
	// Name is the source's name in the style.
	Name string
	// Type is vector, raster or raster-dem.
	Type string
	// Template is the tile URL template (nil for PMTiles).
	Template *Template
	// PMTiles is the archive's http(s) URL for a PMTiles source.
	PMTiles string
	// MinZoom and MaxZoom bound the zooms the server has (TileJSON
	// minzoom/maxzoom, default 0-22; a PMTiles header's).
	MinZoom, MaxZoom int
	// Bounds is the server's WGS84 extent (TileJSON bounds), nil for the
	// whole world.
	Bounds *[4]float64
	// Attribution and VectorLayers are kept for the local TileJSON.
	Attribution  string
	VectorLayers []map[string]any
	// Format is the MBTiles format: pbf for vector tiles, else sniffed
	// from the template's extension (png by default).
	Format string

	archive *PMTiles
}

// TiledSources returns the names of the style's vector, raster and
// raster-dem sources, sorted (the sources a package must download).
func (s Style) TiledSources() []string {
	var out []string
	for name, v := range s["sources"].(map[string]any) {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		switch m["type"] {
		case "vector", "raster", "raster-dem":
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// ResolveStyleSource resolves the style source name of style (fetched
// from styleURL): its TileJSON (url, fetched anonymously; or its inline
// tiles) or its PMTiles archive (header and root directory read by range
// requests).
func ResolveStyleSource(ctx context.Context, hc *http.Client, styleURL string, style Style, name string) (*StyleSource, error) {
	src, _ := style["sources"].(map[string]any)[name].(map[string]any)
	if src == nil {
		return nil, fmt.Errorf("style source %q: no such source", name)
	}
	typ, _ := src["type"].(string)
	ss := &StyleSource{Name: name, Type: typ, MinZoom: 0, MaxZoom: 22}
	u, _ := src["url"].(string)
	if _, inline := src["tiles"]; !inline && u != "" {
		if arch, ok := IsPMTilesURL(u); ok {
			return ss.openPMTiles(ctx, hc, resolveTemplate(styleURL, arch))
		}
	}
	docURL := styleURL
	tj, inline, err := inlineTileJSON(src)
	if err != nil {
		return nil, fmt.Errorf("style source %q: %w", name, err)
	}
	if !inline {
		if u == "" {
			return nil, fmt.Errorf("style source %q: neither tiles nor url", name)
		}
		docURL = resolveTemplate(styleURL, u)
		b, err := OpenGet(ctx, hc, docURL, "", MaxDocumentBytes, false)
		if err != nil {
			return nil, fmt.Errorf("style source %q: TileJSON: %w", name, err)
		}
		if tj, err = ParseTileJSON(b); err != nil {
			return nil, fmt.Errorf("style source %q: %s: %w", name, HideQuery(docURL), err)
		}
	}
	if len(tj.Tiles) > 0 {
		if arch, ok := IsPMTilesURL(tj.Tiles[0]); ok {
			return ss.openPMTiles(ctx, hc, resolveTemplate(docURL, arch))
		}
	}
	t, err := tj.Template(docURL)
	if err != nil {
		return nil, fmt.Errorf("style source %q: %w", name, err)
	}
	ss.Template = t
	if tj.MinZoom != nil {
		ss.MinZoom = *tj.MinZoom
	}
	if tj.MaxZoom != nil {
		ss.MaxZoom = *tj.MaxZoom
	}
	// A style may narrow the TileJSON's zooms.
	if v, ok := src["minzoom"].(float64); ok && int(v) > ss.MinZoom && int(v) <= ss.MaxZoom {
		ss.MinZoom = int(v)
	}
	if v, ok := src["maxzoom"].(float64); ok && int(v) < ss.MaxZoom && int(v) >= ss.MinZoom {
		ss.MaxZoom = int(v)
	}
	if len(tj.Bounds) == 4 {
		b := [4]float64{tj.Bounds[0], tj.Bounds[1], tj.Bounds[2], tj.Bounds[3]}
		if b[0] < b[2] && b[1] < b[3] && !(b[0] <= -180 && b[1] <= -85 && b[2] >= 180 && b[3] >= 85) {
			ss.Bounds = &b
		}
	}
	ss.Attribution, ss.VectorLayers = tj.Attribution, tj.VectorLayers
	ss.Format = "pbf"
	if typ != "vector" {
		ss.Format = TemplateFormat(t.String())
	}
	return ss, nil
}

func (ss *StyleSource) openPMTiles(ctx context.Context, hc *http.Client, archive string) (*StyleSource, error) {
	p, err := OpenPMTiles(ctx, &HTTPRange{Client: hc, URL: archive})
	if err != nil {
		return nil, fmt.Errorf("style source %q: %s: %w", ss.Name, HideQuery(archive), err)
	}
	ss.PMTiles, ss.archive = archive, p
	ss.MinZoom, ss.MaxZoom = int(p.Header.MinZoom), int(p.Header.MaxZoom)
	b := p.Bounds()
	if b[0] < b[2] && b[1] < b[3] {
		ss.Bounds = &b
	}
	ss.Format = p.Format()
	if p.Vector() {
		ss.Type = "vector"
	} else if ss.Type == "" || ss.Type == "vector" {
		ss.Type = "raster"
	}
	return ss, nil
}

// Scheme is the source's grid: Web Mercator XYZ, levels = zooms
// MinZoom..MaxZoom (512 px for vector tiles, 256 px for raster).
func (ss *StyleSource) Scheme() *Scheme {
	size := 256
	if ss.Type == "vector" {
		size = 512
	}
	return WebMercatorScheme(size, ss.MinZoom, ss.MaxZoom)
}

// Levels returns the zooms of want within MinZoom..MaxZoom.
func (ss *StyleSource) Levels(want []int) []int {
	var out []int
	for _, z := range want {
		if z >= ss.MinZoom && z <= ss.MaxZoom {
			out = append(out, z)
		}
	}
	return out
}

// Cover returns the tiles of the area at the source's zooms of want,
// clipped to its bounds: no tile outside the server's zooms or bounds is
// ever requested.
func (ss *StyleSource) Cover(aoi AOI, want []int) ([]LevelCover, error) {
	levels := ss.Levels(want)
	if len(levels) == 0 {
		return nil, nil
	}
	s := ss.Scheme()
	covers, err := Cover(s, aoi, levels, CoverOptions{})
	if err != nil {
		return nil, err
	}
	if ss.Bounds == nil {
		return covers, nil
	}
	b := *ss.Bounds
	bc, err := Cover(s, EnvelopeAOI(4326, b[0], math.Max(b[1], -85.05112878), b[2], math.Min(b[3], 85.05112878)), levels, CoverOptions{})
	if err != nil {
		return nil, err
	}
	return IntersectCovers(covers, bc), nil
}

// IntersectCovers returns the tiles in both a and b (same levels, in order).
func IntersectCovers(a, b []LevelCover) []LevelCover {
	out := make([]LevelCover, 0, len(a))
	for i, ca := range a {
		nc := LevelCover{Level: ca.Level}
		if i < len(b) && b[i].Level == ca.Level {
			for _, sa := range ca.Spans {
				for _, sb := range b[i].Spans {
					if sa.Row != sb.Row {
						continue
					}
					lo, hi := max(sa.Col0, sb.Col0), min(sa.Col1, sb.Col1)
					if lo <= hi {
						nc.Spans = append(nc.Spans, Span{Row: sa.Row, Col0: lo, Col1: hi})
					}
				}
			}
		}
		out = append(out, nc)
	}
	return out
}

// Fetcher returns the source's tile fetcher: anonymous HTTP with the
// template (query strings hidden in errors; raster tiles decoded from a
// gzip Content-Encoding, vector tiles stored gzip-compressed), or the
// PMTiles archive's range reader.
func (ss *StyleSource) Fetcher(hc *http.Client) TileFetcher {
	if ss.archive != nil {
		return ss.archive
	}
	f := &HTTPFetcher{Client: hc, Template: ss.Template, HideQuery: true, Raster: ss.Type != "vector"}
	if ss.Type == "vector" {
		return &gzipFetcher{TileFetcher: f}
	}
	return f
}

// ErrNoTiledSources is returned for a style without vector or raster sources.
var ErrNoTiledSources = errors.New("style has no vector or raster sources")
