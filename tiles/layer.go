package tiles

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// RasterLayerJob takes a tiled raster layer offline (ArcGIS MapServer /
// ImageServer tiles, or a WebTiledLayer / XYZ template) into an MBTiles store.
type RasterLayerJob struct {
	// Name labels errors and the store (e.g. the web map layer title).
	Name   string
	Scheme *Scheme
	// Template gives the tile URLs (ArcGISTileTemplate, ParseTemplate, …).
	Template *Template
	AOI      AOI
	Cover    CoverOptions
	// Levels to download; when nil, the scale range picks them (0/0 = all).
	Levels             []int
	MinScale, MaxScale float64
	// MaxTiles refuses the job before any tile request when the cover has
	// more tiles (the service's maxExportTilesCount; ≤ 0 = no limit).
	MaxTiles int64
	// TilemapURL, when set, is the service URL whose tilemap resource tells
	// which tiles exist.
	TilemapURL string
	Store      *Store
	HTTP       *http.Client
	// Tokens gives the token per URL (nil: anonymous).
	Tokens   TokenSource
	Download DownloadOptions
}

// DownloadRasterLayer covers the AOI, checks the tile limit, configures the
// store (format from the scheme, tileInfo metadata), downloads with resume and
// writes the summary metadata.
func DownloadRasterLayer(ctx context.Context, job RasterLayerJob) (Progress, error) {
	levels, err := job.levels()
	if err != nil {
		return Progress{}, err
	}
	covers, err := Cover(job.Scheme, job.AOI, levels, job.Cover)
	if err != nil {
		return Progress{}, fmt.Errorf("layer %q: %w", job.Name, err)
	}
	est, _ := EstimateCovers(ctx, job.Name, covers, job.AOI, EstimateOptions{})
	if err := CheckLimit(est, job.MaxTiles); err != nil {
		return Progress{}, err
	}
	if err := job.Store.Configure(ctx, job.Scheme, FormatFor(job.Scheme.Info.Format)); err != nil {
		return Progress{}, err
	}
	hc := job.HTTP
	if hc == nil {
		hc = &http.Client{Transport: NewTransport(job.Download.Concurrency)}
	}
	opt := job.Download
	if job.TilemapURL != "" && opt.Tilemap == nil {
		opt.Tilemap = &HTTPTilemap{Client: hc, ServiceURL: strings.TrimRight(job.TilemapURL, "/"), Tokens: job.Tokens}
	}
	p, err := Download(ctx, job.Store, &HTTPFetcher{Client: hc, Template: job.Template, Tokens: job.Tokens}, covers, opt)
	if err != nil {
		return p, fmt.Errorf("layer %q: %w", job.Name, err)
	}
	b, err := job.AOI.WGS84Bounds()
	if err != nil {
		return p, err
	}
	return p, job.Store.Finalize(ctx, job.Name, &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]})
}

func (job RasterLayerJob) levels() ([]int, error) {
	if job.Levels != nil {
		for _, l := range job.Levels {
			if _, ok := job.Scheme.LOD(l); !ok {
				return nil, fmt.Errorf("layer %q: level %d is not in the tiling scheme", job.Name, l)
			}
		}
		return job.Levels, nil
	}
	lo, hi, err := job.Scheme.LevelRange(job.MinScale, job.MaxScale)
	if err != nil {
		return nil, fmt.Errorf("layer %q: %w", job.Name, err)
	}
	var out []int
	for _, l := range job.Scheme.Levels() {
		if l >= lo && l <= hi {
			out = append(out, l)
		}
	}
	return out, nil
}
