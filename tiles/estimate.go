package tiles

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// SizeEstimator asks a service how big an export would be, as ArcGIS
// estimateExportTilesSize does (one call for all levels).
type SizeEstimator interface {
	EstimateExportTilesSize(ctx context.Context, levels []int, aoi AOI) (totalBytes, totalTiles int64, err error)
}

// LevelEstimate is the expected size of one level.
type LevelEstimate struct {
	Level int
	Tiles int64
	Bytes int64
}

// Estimate is the expected size of a layer's tiles.
type Estimate struct {
	Layer  string
	Levels []LevelEstimate // ascending by level
	Tiles  int64
	Bytes  int64
	// Source says where bytes came from: "service", "sample" or "" (tile counts only).
	Source string
}

// EstimateOptions says how to estimate bytes. With neither Service nor
// Sampler, only tile counts are given.
type EstimateOptions struct {
	// Service, when set, is preferred (estimateExportTilesSize).
	Service SizeEstimator
	// Sampler fetches sample tiles when no Service is set.
	Sampler TileFetcher
	// SamplesPerLevel is how many tiles to fetch per level (default 6).
	SamplesPerLevel int
}

// EstimateCovers counts the tiles of covers and estimates their bytes.
func EstimateCovers(ctx context.Context, layer string, covers []LevelCover, aoi AOI, opt EstimateOptions) (Estimate, error) {
	est := Estimate{Layer: layer}
	var levels []int
	for _, c := range covers {
		n := c.Count()
		est.Levels = append(est.Levels, LevelEstimate{Level: c.Level, Tiles: n})
		est.Tiles += n
		levels = append(levels, c.Level)
	}
	sort.Slice(est.Levels, func(i, j int) bool { return est.Levels[i].Level < est.Levels[j].Level })
	switch {
	case opt.Service != nil:
		total, _, err := opt.Service.EstimateExportTilesSize(ctx, levels, aoi)
		if err != nil {
			return est, fmt.Errorf("estimate %s: estimateExportTilesSize: %w", layer, err)
		}
		// Spread the total over levels in proportion to their tile counts.
		var acc int64
		for i := range est.Levels {
			if est.Tiles > 0 {
				est.Levels[i].Bytes = int64(float64(total) * float64(est.Levels[i].Tiles) / float64(est.Tiles))
			}
			acc += est.Levels[i].Bytes
		}
		if n := len(est.Levels); n > 0 {
			est.Levels[n-1].Bytes += total - acc
		}
		est.Bytes, est.Source = total, "service"
	case opt.Sampler != nil:
		k := opt.SamplesPerLevel
		if k <= 0 {
			k = 6
		}
		byLevel := map[int]LevelCover{}
		for _, c := range covers {
			byLevel[c.Level] = c
		}
		var lastAvg float64
		for i := range est.Levels {
			le := &est.Levels[i]
			avg, err := sampleLevel(ctx, opt.Sampler, byLevel[le.Level], k)
			if err != nil {
				return est, fmt.Errorf("estimate %s level %d: %w", layer, le.Level, err)
			}
			if avg < 0 { // nothing present in the sample: reuse the previous level's size
				avg = lastAvg
			}
			lastAvg = avg
			le.Bytes = int64(avg * float64(le.Tiles))
			est.Bytes += le.Bytes
		}
		est.Source = "sample"
	}
	return est, nil
}

// sampleLevel fetches up to k tiles spread evenly over the cover and returns
// the mean bytes per planned tile (absent tiles count as 0), or −1 when every
// sampled tile was absent.
func sampleLevel(ctx context.Context, f TileFetcher, c LevelCover, k int) (float64, error) {
	n := c.Count()
	if n == 0 {
		return 0, nil
	}
	if int64(k) > n {
		k = int(n)
	}
	picks := map[int64]bool{}
	for i := 0; i < k; i++ {
		picks[int64(i)*n/int64(k)+n/int64(2*k)] = true
	}
	var total, present, sampled int64
	var idx int64
	var ferr error
	c.Each(func(row, col int) bool {
		if picks[idx] {
			data, absent, err := f.FetchTile(ctx, TileKey{Level: c.Level, Row: row, Col: col})
			if err != nil {
				ferr = err
				return false
			}
			sampled++
			if !absent {
				present++
				total += int64(len(data))
			}
		}
		idx++
		return true
	})
	if ferr != nil {
		return 0, ferr
	}
	if present == 0 {
		return -1, nil
	}
	return float64(total) / float64(sampled), nil
}

// LimitError says a layer needs more tiles than the service allows.
type LimitError struct {
	Layer      string
	Max        int64
	Tiles      int64
	Levels     [2]int // levels asked for
	Keep, Drop [2]int // suggested levels to keep and to drop; Keep[0] > Keep[1] when none fit
	KeepTiles  int64
}

func (e *LimitError) Error() string {
	if e.Keep[0] > e.Keep[1] {
		return fmt.Sprintf("layer %q: %d tiles in levels %d-%d exceed the service's maxExportTilesCount %d, and level %d alone is over it: make the area smaller",
			e.Layer, e.Tiles, e.Levels[0], e.Levels[1], e.Max, e.Levels[0])
	}
	return fmt.Sprintf("layer %q: %d tiles in levels %d-%d exceed the service's maxExportTilesCount %d; drop %s (levels %d-%d are %d tiles) or make the area smaller",
		e.Layer, e.Tiles, e.Levels[0], e.Levels[1], e.Max, levelRange(e.Drop), e.Keep[0], e.Keep[1], e.KeepTiles)
}

// CheckLimit returns a *LimitError when the estimate has more tiles than
// maxCount (a service's maxExportTilesCount; ≤ 0 means no limit).
func CheckLimit(est Estimate, maxCount int64) error {
	if maxCount <= 0 || est.Tiles <= maxCount || len(est.Levels) == 0 {
		return nil
	}
	lv := est.Levels
	e := &LimitError{Layer: est.Layer, Max: maxCount, Tiles: est.Tiles, Levels: [2]int{lv[0].Level, lv[len(lv)-1].Level}}
	var acc int64
	keep := -1
	for i, l := range lv {
		if acc+l.Tiles > maxCount {
			break
		}
		acc += l.Tiles
		keep = i
	}
	if keep < 0 {
		e.Keep = [2]int{lv[0].Level, lv[0].Level - 1}
		e.Drop = e.Levels
		return e
	}
	e.Keep = [2]int{lv[0].Level, lv[keep].Level}
	e.Drop = [2]int{lv[keep+1].Level, lv[len(lv)-1].Level}
	e.KeepTiles = acc
	return e
}

// ErrNothingFits is returned by FitWithin when even the first level is too big.
var ErrNothingFits = errors.New("not even the most zoomed-out level fits")

// FitWithin returns the deepest level such that all levels up to it fit in
// maxBytes, with their total. The estimate must have bytes (Source ≠ "").
func FitWithin(est Estimate, maxBytes int64) (level int, bytes int64, err error) {
	if est.Source == "" {
		return 0, 0, fmt.Errorf("fit %s within %d bytes: the estimate has no byte sizes", est.Layer, maxBytes)
	}
	level = -1
	for _, l := range est.Levels {
		if bytes+l.Bytes > maxBytes {
			break
		}
		bytes += l.Bytes
		level = l.Level
	}
	if level < 0 {
		return 0, 0, fmt.Errorf("fit %s within %d bytes: %w (level %d is about %d bytes)", est.Layer, maxBytes, ErrNothingFits, est.Levels[0].Level, est.Levels[0].Bytes)
	}
	return level, bytes, nil
}

func levelRange(r [2]int) string {
	if r[0] == r[1] {
		return fmt.Sprintf("level %d", r[0])
	}
	return fmt.Sprintf("levels %d-%d", r[0], r[1])
}
