package offline

import (
	"context"
	"fmt"
	"sort"

	"github.com/offlined/offlined/tiles"
)

// estimate sizes each style layer before the job: its sources resolved
// (TileJSON zooms and bounds, PMTiles headers), exact cover counts per
// source, bytes from a few tiles sampled per level of each source (fetched
// anonymously, as the job fetches them), plus each MBTiles' overhead. The
// levels reported sum the sources' counts per zoom, so a budget proposal
// drops zooms from every source at once.
func (styleSource) estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error) {
	return estimateEntries(ctx, e, plans, o.StyleTiles, "style layer", func(pl stepPlan, p *StyleTilesParameters, en *Entry, le *LayerEstimate) error {
		hc := e.c.HTTPClient()
		rs, err := resolveStyle(ctx, hc, en, p)
		if err != nil {
			return err
		}
		var sum *LayerEstimate
		for i, ss := range rs.sources {
			one := &LayerEstimate{Key: le.Key, Title: le.Title}
			f := &timedFetcher{e: e, f: ss.Fetcher(hc)}
			if err := estimateCovers(ctx, e, one, rs.covers[i], rs.aoi, tiles.EstimateOptions{}, f, 0); err != nil {
				return fmt.Errorf("style source %q: %w", ss.Name, err)
			}
			if sum == nil {
				sum = one
				continue
			}
			sum.Tiles += one.Tiles
			sum.Data.add(one.Data)
			sum.Levels = mergeLevelEstimates(sum.Levels, one.Levels)
		}
		if sum != nil {
			le.Tiles, le.Levels, le.Data = sum.Tiles, sum.Levels, sum.Data
		}
		le.total()
		return nil
	})
}

// mergeLevelEstimates adds b's levels into a (both sorted by level).
func mergeLevelEstimates(a, b []tiles.LevelEstimate) []tiles.LevelEstimate {
	by := map[int]int{}
	for i, l := range a {
		by[l.Level] = i
	}
	for _, l := range b {
		if i, ok := by[l.Level]; ok {
			a[i].Tiles += l.Tiles
			a[i].Bytes += l.Bytes
			continue
		}
		a = append(a, l)
	}
	sort.Slice(a, func(i, j int) bool { return a[i].Level < a[j].Level })
	return a
}
