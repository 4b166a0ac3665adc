package offline

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// EstimateMethod says how a size figure was obtained.
type EstimateMethod string

// How size figures are obtained.
const (
	// EstimateServer: the service's own estimate (estimateExportTilesSize).
	EstimateServer EstimateMethod = "serverEstimate"
	// EstimateSampled: a count times the size of a few items fetched.
	EstimateSampled EstimateMethod = "sampled"
	// EstimateCounted: every item was counted and measured (or there is
	// nothing to download).
	EstimateCounted EstimateMethod = "counted"
	// EstimateUnknown: the source gives no figure (or estimating failed;
	// the note says why).
	EstimateUnknown EstimateMethod = "unknown"
)

// Figure is an estimated size in bytes with its uncertainty band.
type Figure struct {
	Bytes  int64          `json:"bytes"`
	Low    int64          `json:"low"`
	High   int64          `json:"high"`
	Method EstimateMethod `json:"method,omitempty"`
}

// band returns a figure of b bytes within ±rel.
func band(b int64, rel float64, m EstimateMethod) Figure {
	return Figure{Bytes: b, Low: int64(float64(b) * (1 - rel)), High: int64(math.Ceil(float64(b) * (1 + rel))), Method: m}
}

func (f *Figure) add(g Figure) {
	f.Bytes += g.Bytes
	f.Low += g.Low
	f.High += g.High
}

// SublayerEstimate is one layer or table of a feature service estimate.
type SublayerEstimate struct {
	Key      Key   `json:"key"`
	LayerID  int   `json:"layerId"`
	Features int64 `json:"features"`
	// Sampled is how many features were fetched to measure their size.
	Sampled     int64 `json:"sampled"`
	Bytes       int64 `json:"bytes"`
	Attachments int64 `json:"attachmentBytes,omitempty"`
	// RelatedOnly: a table whose rows come only as related to features
	// taken; Features counts all its rows (an upper bound).
	RelatedOnly bool `json:"relatedOnly,omitempty"`
}

// LayerEstimate is the estimate of one job step: a feature service (its
// GeoPackage, with its layers in Sublayers), a tile layer, a reference
// basemap, or the step of a source that gives no estimate.
type LayerEstimate struct {
	Key    Key    `json:"key"`
	Title  string `json:"title"`
	Kind   string `json:"kind"`
	Source string `json:"source"`
	Step   string `json:"step,omitempty"`
	Store  string `json:"store,omitempty"`
	// Features and Tiles are counts (tile counts are exact cover counts).
	Features  int64                 `json:"features,omitempty"`
	Tiles     int64                 `json:"tiles,omitempty"`
	Levels    []tiles.LevelEstimate `json:"levels,omitempty"`
	Sublayers []SublayerEstimate    `json:"sublayers,omitempty"`
	// Data is the store without attachments; Attachments the attachments
	// the store will hold; Bytes both.
	Data        Figure  `json:"data"`
	Attachments *Figure `json:"attachments,omitempty"`
	Bytes       Figure  `json:"bytes"`
	// ReadOnly: a feature service taken without edits (a snapshot or a
	// replica without sync); its attachments are the first a budget drops.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Time is the expected download time of the step alone.
	Time TimeRange `json:"time"`
	Note string    `json:"note,omitempty"`
}

// TimeRange is an expected duration range.
type TimeRange struct {
	Low  JSONDuration `json:"low"`
	High JSONDuration `json:"high"`
}

// PackageEstimate is the size and time a job is expected to take, per step
// and in all, computed before the job (Task.Estimate).
type PackageEstimate struct {
	Layers []*LayerEstimate `json:"layers"`
	// Overhead is what every package holds besides its stores (map.json,
	// package.json, item info, thumbnail).
	Overhead int64  `json:"overhead"`
	Bytes    Figure `json:"bytes"`
	// Time is the expected duration of the whole job; Throughput the
	// bytes per second measured while sampling (0 when nothing was
	// sampled).
	Time       TimeRange `json:"time"`
	Throughput float64   `json:"throughput"`
	// MaxBytes is Parameters.MaxBytes; OverBudget says the estimate is
	// over it, and Proposal what fits.
	MaxBytes   int64     `json:"maxBytes,omitempty"`
	OverBudget bool      `json:"overBudget,omitempty"`
	Proposal   *Proposal `json:"proposal,omitempty"`
	// Elapsed is how long estimating took.
	Elapsed JSONDuration `json:"elapsed"`
	// Warnings name the layers whose extent the area of interest does not
	// reach (code areaOutsideExtent): their estimate is for nothing.
	Warnings []LayerWarning `json:"warnings,omitempty"`
}

// EstimateOptions configure Task.Estimate.
type EstimateOptions struct {
	// Client asks the services (counts, samples, estimateExportTilesSize).
	Client *arcgis.Client
	// TempDir holds the small sample GeoPackages built to measure feature
	// sizes (default os.TempDir()); they are removed before returning.
	TempDir string
	// SampleFeatures is how many features per layer are fetched (default
	// 200); SamplesPerLevel how many tiles per level (default 16).
	SampleFeatures  int
	SamplesPerLevel int
	// Concurrency and TileConcurrency are the job's (for the time range;
	// defaults 3 and 8 as in JobOptions).
	Concurrency     int
	TileConcurrency int
}

// estimator is the estimate hook of a source: each source that implements
// it returns the estimate of the steps it plans (plans, from its steps) and
// of anything else it adds to the package. A source without it gets an
// EstimateUnknown figure per step.
type estimator interface {
	estimate(ctx context.Context, e *estimation, o *Overrides, plans []stepPlan) ([]*LayerEstimate, error)
}

// estimation is the state shared by the sources' estimates.
type estimation struct {
	t   *Task
	p   *Parameters
	c   *arcgis.Client
	opt EstimateOptions

	mu      stdsync.Mutex
	sampled int64         // bytes fetched while sampling
	took    time.Duration // time those requests took
	reqs    int64
}

// measured records n bytes fetched in one request that took d.
func (e *estimation) measured(n int64, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sampled += n
	e.took += d
	e.reqs++
}

// rates returns the measured throughput (bytes/s) and mean latency per
// request; defaults when nothing was measured.
func (e *estimation) rates() (throughput float64, latency time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reqs == 0 || e.took <= 0 {
		return 0, 0
	}
	return float64(e.sampled) / e.took.Seconds(), e.took / time.Duration(e.reqs)
}

// packageOverhead is the size allowed for map.json, package.json,
// iteminfo.json and the thumbnail.
const packageOverhead = 48 << 10

// Estimate returns the expected size and duration of the job p and o
// describe, per step and in all, before any costly server-side work: each
// source estimates its own steps (counts, small samples, the services'
// estimates). A step whose estimate failed is EstimateUnknown with a note;
// the error is non-nil only when ctx ended or no client is given. With
// p.MaxBytes set and the estimate over it, the answer carries a Proposal.
func (t *Task) Estimate(ctx context.Context, p *Parameters, o *Overrides, opt EstimateOptions) (*PackageEstimate, error) {
	start := time.Now()
	if opt.Client == nil {
		return nil, errors.New("estimate: no client")
	}
	if o == nil {
		return nil, errors.New("estimate: no overrides")
	}
	if opt.SampleFeatures <= 0 {
		opt.SampleFeatures = 200
	}
	if opt.SamplesPerLevel <= 0 {
		opt.SamplesPerLevel = 16
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 3
	}
	if opt.TileConcurrency <= 0 {
		opt.TileConcurrency = 8
	}
	if opt.TempDir == "" {
		opt.TempDir = os.TempDir()
	}
	e := &estimation{t: t, p: p, c: opt.Client, opt: opt}
	pe := &PackageEstimate{Layers: []*LayerEstimate{}, Overhead: packageOverhead}
	used := map[string]bool{}
	for _, src := range sources() {
		plans := src.steps(o, used)
		es, ok := src.(estimator)
		if !ok {
			for _, pl := range plans {
				pe.Layers = append(pe.Layers, &LayerEstimate{Key: pl.key, Title: e.title(pl), Kind: pl.kind, Source: src.name(),
					Step: pl.id, Store: pl.store, Data: Figure{Method: EstimateUnknown}, Bytes: Figure{Method: EstimateUnknown},
					Note: "this source gives no estimate"})
			}
			continue
		}
		les, err := es.estimate(ctx, e, o, plans)
		if err != nil {
			return nil, err
		}
		for _, le := range les {
			le.Source = src.name()
		}
		pe.Layers = append(pe.Layers, les...)
	}
	pe.finish(e)
	if p != nil && p.MaxBytes > 0 {
		pe.MaxBytes = p.MaxBytes
		if pe.Bytes.Bytes > p.MaxBytes {
			pe.OverBudget = true
			pe.Proposal = pe.propose(p.MaxBytes)
		}
	}
	if p != nil {
		ws, err := t.AreaWarnings(ctx, p)
		if err != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		pe.Warnings = ws
	}
	pe.Elapsed = JSONDuration(time.Since(start))
	return pe, nil
}

// finish totals the steps and works out the time ranges.
func (pe *PackageEstimate) finish(e *estimation) {
	pe.Bytes = Figure{Bytes: pe.Overhead, Low: pe.Overhead, High: pe.Overhead}
	thr, lat := e.rates()
	pe.Throughput = thr
	var sumLow, sumHigh, maxLow time.Duration
	for _, le := range pe.Layers {
		pe.Bytes.add(le.Bytes)
		if thr > 0 && le.Time.High == 0 {
			le.Time = timeFor(le, thr, lat, e.opt.TileConcurrency)
		}
		sumLow += time.Duration(le.Time.Low)
		sumHigh += time.Duration(le.Time.High)
		maxLow = max(maxLow, time.Duration(le.Time.Low))
	}
	// Steps run Concurrency at a time: at best spread evenly, at worst
	// one after the other.
	pe.Time = TimeRange{Low: JSONDuration(max(maxLow, sumLow/time.Duration(e.opt.Concurrency))), High: JSONDuration(sumHigh)}
	pe.Bytes.Method = ""
}

// timeFor returns a step's time range from the measured throughput and
// latency: its bytes at that rate plus one latency per request (tiles
// fetched conc at a time), halved and doubled.
func timeFor(le *LayerEstimate, thr float64, lat time.Duration, conc int) TimeRange {
	secs := float64(le.Bytes.Bytes) / thr
	reqs := int64(1)
	switch {
	case le.Tiles > 0:
		reqs = le.Tiles / int64(conc)
	case le.Features > 0:
		reqs = 2 + le.Features/1000
	}
	d := time.Duration(secs*float64(time.Second)) + time.Duration(reqs)*lat
	if le.Tiles > 0 {
		d = time.Duration(secs*float64(time.Second)/float64(conc)) + time.Duration(reqs)*lat
	}
	return TimeRange{Low: JSONDuration(d / 2), High: JSONDuration(2*d + time.Second)}
}

// title is the title progress shows for a step.
func (e *estimation) title(pl stepPlan) string {
	if en := e.t.Entry(pl.key); en != nil && en.Title != "" && pl.entryTitle {
		return en.Title
	}
	return serviceName(pl.url)
}

// unknown is the estimate of a step whose estimate failed.
func unknown(le *LayerEstimate, err error) *LayerEstimate {
	le.Data = Figure{Method: EstimateUnknown}
	le.Bytes = Figure{Method: EstimateUnknown}
	le.Note = fmt.Sprintf("no estimate: %v", err)
	return le
}

// total sets le.Bytes from Data and Attachments.
func (le *LayerEstimate) total() {
	le.Bytes = le.Data
	if le.Attachments != nil {
		le.Bytes.add(*le.Attachments)
		if le.Attachments.Method != le.Data.Method && le.Attachments.Bytes > 0 {
			le.Bytes.Method = EstimateSampled
		}
	}
}

// sortSublayers orders sublayers by id.
func sortSublayers(s []SublayerEstimate) {
	sort.Slice(s, func(a, b int) bool { return s[a].LayerID < s[b].LayerID })
}
