package offline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// Uncertainty of tile figures: a server's estimate, a few tiles per level.
const (
	serverTileRel  = 0.2
	sampledTileRel = 0.3
)

// vectorResources is the allowance for a vector tile layer's style,
// sprites and glyphs.
const vectorResources = 32 << 10

// estimate sizes each raster tile layer: exact tile counts per level from
// the cover of the area, bytes from the service's estimateExportTilesSize
// when the job exports a tile package (the server recompresses tiles), else
// from a few tiles fetched per level (absent tiles count as empty), plus
// the MBTiles overhead.
func (rasterTilesSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	return estimatePlans(ctx, e, plans, func(pl stepPlan, le *LayerEstimate) error {
		p := o.ExportTileCache[pl.key]
		ms, err := e.c.MapService(ctx, p.ServiceURL)
		if err != nil {
			return err
		}
		if ms.TileInfo == nil {
			return errors.New("service has no tile cache")
		}
		var opt tiles.EstimateOptions
		if export, _ := p.exportMode(); export && ms.ExportTilesAllowed {
			params, err := ExportTilesParams(p)
			if err != nil {
				return err
			}
			opt.Service = &serverTileEstimator{e: e, url: p.ServiceURL, params: params}
		}
		f := &timedFetcher{e: e, f: &clientFetcher{c: e.c, url: p.ServiceURL}}
		return estimateTileLayer(ctx, e, le, *ms.TileInfo, p.AreaOfInterest, p.LevelIDs, opt, f, 0)
	})
}

// estimate sizes each vector tile layer from exact cover counts and a few
// tiles fetched per level, plus its style resources and the MBTiles
// overhead.
func (vectorTilesSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	return estimatePlans(ctx, e, plans, func(pl stepPlan, le *LayerEstimate) error {
		p := o.ExportVectorTiles[pl.key]
		vs, err := e.c.VectorTileService(ctx, p.ServiceURL)
		if err != nil {
			return err
		}
		f := &timedFetcher{e: e, f: &vectorFetcher{c: e.c, url: p.ServiceURL, vs: vs}}
		return estimateTileLayer(ctx, e, le, vectorTileInfo(vs, p.MaxLevel), p.AreaOfInterest, levelsUpTo(p.MaxLevel), tiles.EstimateOptions{}, f, vectorResources)
	})
}

// estimate: a reference basemap is on the device already; the package only
// points at it.
func (referenceBasemapSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	rb := o.ReferenceBasemap
	if rb == nil {
		return nil, nil
	}
	var out []*LayerEstimate
	for _, k := range rb.Replaces {
		le := &LayerEstimate{Key: k, Kind: KindReferenceBasemap, Store: rb.Path, Data: Figure{Method: EstimateCounted},
			Note: "already on the device: nothing to download"}
		if en := e.t.Entry(k); en != nil {
			le.Title = en.Title
		}
		le.total()
		out = append(out, le)
	}
	return out, nil
}

// estimateTileLayer fills le for the cover of area at levels of the tiling
// scheme ti; extra is added for resources stored beside the tiles.
func estimateTileLayer(ctx context.Context, e *estimation, le *LayerEstimate, ti arcgis.TileInfo, area *arcgis.Geometry, levels []int, opt tiles.EstimateOptions, f tiles.TileFetcher, extra int64) error {
	scheme, err := tiles.NewScheme(ti)
	if err != nil {
		return fmt.Errorf("tiling scheme: %w", err)
	}
	aoi, err := tiles.AOIFromGeometry(area)
	if err != nil {
		return fmt.Errorf("area: %w", err)
	}
	covers, err := tiles.Cover(scheme, aoi, levels, tiles.CoverOptions{})
	if err != nil {
		return fmt.Errorf("cover: %w", err)
	}
	return estimateCovers(ctx, e, le, covers, aoi, opt, f, extra)
}

// estimateCovers fills le for tile covers already computed.
func estimateCovers(ctx context.Context, e *estimation, le *LayerEstimate, covers []tiles.LevelCover, aoi tiles.AOI, opt tiles.EstimateOptions, f tiles.TileFetcher, extra int64) error {
	var err error
	opt.SamplesPerLevel = e.opt.SamplesPerLevel
	var est tiles.Estimate
	if se, ok := opt.Service.(*serverTileEstimator); ok {
		se.covers = covers
	}
	if opt.Service != nil {
		est, err = tiles.EstimateCovers(ctx, le.Title, covers, aoi, opt)
		if err != nil && ctx.Err() == nil {
			opt.Service = nil // fall back to sampling
		}
	}
	if opt.Service == nil {
		opt.Sampler = f
		est, err = tiles.EstimateCovers(ctx, le.Title, covers, aoi, opt)
		if err != nil {
			return err
		}
	}
	le.Tiles, le.Levels = est.Tiles, est.Levels
	rel, m := sampledTileRel, EstimateSampled
	if est.Source == "service" {
		rel, m = serverTileRel, EstimateServer
	}
	b := tiles.StoreSize(est)
	le.Data = band(b, rel, m)
	le.Data.add(Figure{Bytes: extra, High: 4 * extra})
	le.total()
	return nil
}

// serverTileEstimator asks a MapServer's estimateExportTilesSize (a
// read-only GP job) through the REST client.
type serverTileEstimator struct {
	e      *estimation
	url    string
	params *arcgis.ExportTilesParams
	covers []tiles.LevelCover
}

// EstimateExportTilesSize returns the bytes of the tiles themselves.
func (s *serverTileEstimator) EstimateExportTilesSize(ctx context.Context, levels []int, aoi tiles.AOI) (int64, int64, error) {
	sub, err := s.e.c.EstimateExportTilesSize(ctx, s.url, *s.params)
	if err != nil {
		return 0, 0, err
	}
	st, err := s.e.c.WaitJob(ctx, sub.JobURL, 0, nil)
	if err != nil {
		return 0, 0, err
	}
	r, err := s.e.c.EstimateResult(ctx, sub.JobURL, st)
	if err != nil {
		return 0, 0, err
	}
	// The estimate is the tile package's: its bundle indexes are not
	// stored in MBTiles.
	total := max(0, r.TotalSize-tiles.TilePackageOverhead(s.covers))
	return total, r.TotalTilesToExport, nil
}

// timedFetcher measures the sample fetches for the time estimate.
type timedFetcher struct {
	e *estimation
	f tiles.TileFetcher
}

func (t *timedFetcher) FetchTile(ctx context.Context, k tiles.TileKey) ([]byte, bool, error) {
	t0 := time.Now()
	b, absent, err := t.f.FetchTile(ctx, k)
	if err == nil {
		t.e.measured(int64(len(b)), time.Since(t0))
	}
	return b, absent, err
}

// vectorFetcher fetches vector tiles through the REST client.
type vectorFetcher struct {
	c   *arcgis.Client
	url string
	vs  *arcgis.VectorTileService
}

func (f *vectorFetcher) FetchTile(ctx context.Context, k tiles.TileKey) ([]byte, bool, error) {
	t, err := f.c.VectorTile(ctx, f.url, f.vs, k.Level, k.Row, k.Col)
	if errors.Is(err, arcgis.ErrTileAbsent) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return t.Data, false, nil
}

// estimate sizes each web tiled (XYZ) layer: exact cover counts, bytes from
// a few tiles fetched per level (anonymously, as the job fetches them),
// plus the MBTiles overhead.
func (webTilesSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	return estimateEntries(ctx, e, plans, o.WebTiles, "web tiled layer", func(pl stepPlan, p *WebTilesParameters, en *Entry, le *LayerEstimate) error {
		w, tmpl, err := parseWebTiled(en)
		if err != nil {
			return err
		}
		covers, aoi, err := webTilesCover(w, p)
		if err != nil {
			return err
		}
		f := &timedFetcher{e: e, f: &tiles.HTTPFetcher{Client: e.c.HTTPClient(), Template: tmpl, HideQuery: true, Raster: true}}
		return estimateCovers(ctx, e, le, covers, aoi, tiles.EstimateOptions{}, f, 0)
	})
}

// estimatePlans runs one layer estimate per plan; a layer whose estimate
// fails is marked unknown (with the reason) unless ctx ended.
func estimatePlans(ctx context.Context, e *estimation, plans []stepPlan, fn func(pl stepPlan, le *LayerEstimate) error) ([]*LayerEstimate, error) {
	var out []*LayerEstimate
	for _, pl := range plans {
		le := &LayerEstimate{Key: pl.key, Title: e.title(pl), Kind: pl.kind, Step: pl.id, Store: pl.store}
		if err := fn(pl, le); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			unknown(le, err)
		}
		out = append(out, le)
	}
	return out, nil
}

// estimateEntries is estimatePlans for sources whose plans each take a web
// map entry with its parameters in m; what names the layer in the error
// when either is missing.
func estimateEntries[P any](ctx context.Context, e *estimation, plans []stepPlan, m map[Key]*P, what string, fn func(pl stepPlan, p *P, en *Entry, le *LayerEstimate) error) ([]*LayerEstimate, error) {
	return estimatePlans(ctx, e, plans, func(pl stepPlan, le *LayerEstimate) error {
		p, en := m[pl.key], e.t.Entry(pl.key)
		if p == nil || en == nil {
			return fmt.Errorf("no %s %s", what, pl.key)
		}
		return fn(pl, p, en, le)
	})
}
