package offline

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// EstimateRecord is the estimate a job started with beside what the
// package holds (package.json "estimate").
type EstimateRecord struct {
	Estimated Figure `json:"estimated"`
	// Actual is the package's bytes (package.json itself excluded).
	Actual int64 `json:"actual"`
	// Error is (estimated − actual) / actual.
	Error  float64                `json:"error"`
	Layers []*EstimateLayerRecord `json:"layers"`
}

// EstimateLayerRecord is one step's estimate and actual store size.
type EstimateLayerRecord struct {
	Key       Key     `json:"key"`
	Title     string  `json:"title"`
	Kind      string  `json:"kind"`
	Store     string  `json:"store,omitempty"`
	Features  int64   `json:"features,omitempty"`
	Tiles     int64   `json:"tiles,omitempty"`
	Estimated Figure  `json:"estimated"`
	Actual    int64   `json:"actual"`
	Error     float64 `json:"error"`
}

// preflight gets the job's estimate (given, or computed when asked for or
// when the parameters set a budget) and, for a job that has not started
// yet, refuses it over budget or when the volume lacks the space. It
// writes nothing.
func (j *Job) preflight(ctx context.Context) error {
	_, err := os.Stat(filepath.Join(j.dir, JournalFile))
	resume := err == nil
	j.est = j.opt.Estimate
	if j.est == nil && (j.opt.EstimateFirst || j.p.MaxBytes > 0 && !resume) {
		est, err := j.task.Estimate(ctx, j.p, j.o, EstimateOptions{Client: j.opt.Client,
			Concurrency: j.opt.Concurrency, TileConcurrency: j.opt.TileConcurrency})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			j.log.Warn("offline job: no estimate", "err", err)
		}
		j.est = est
	}
	if j.est == nil {
		return nil
	}
	j.emit()
	if resume {
		return nil // the space left is checked before each step
	}
	if max := j.p.MaxBytes; max > 0 && !j.p.AllowOverBudget && j.est.Bytes.Bytes > max {
		pr := j.est.Proposal
		if pr == nil {
			pr = j.est.propose(max)
		}
		return &OverBudgetError{Estimate: j.est.Bytes, MaxBytes: max, Proposal: pr}
	}
	return j.checkSpace(j.est.Bytes)
}

// checkSpace returns an *InsufficientSpaceError when the package
// directory's volume has less free space than f plus the margin.
func (j *Job) checkSpace(f Figure) error {
	free := j.opt.FreeSpace
	if free == nil {
		free = FreeSpace
	}
	n, err := free(j.dir)
	if err != nil {
		if !errors.Is(err, errNoStatfs) {
			j.log.Warn("offline job: free space unknown", "dir", j.dir, "err", err)
		}
		return nil
	}
	if need := spaceMargin(f); n < need {
		return &InsufficientSpaceError{Dir: j.dir, Needed: need, Free: n}
	}
	return nil
}

// spaceBeforeStep checks, before step id starts, the free space against
// the estimate of every step not done yet.
func (j *Job) spaceBeforeStep(id string) error {
	if j.est == nil {
		return nil
	}
	var left Figure
	for _, s := range j.order {
		if j.jr.step(s).Status == stepDone {
			continue
		}
		for _, le := range j.est.Layers {
			if le.Step == s {
				left.add(le.Bytes)
			}
		}
	}
	if left.Bytes == 0 {
		return nil
	}
	return j.checkSpace(left)
}

// estimateRecord compares the job's estimate with the package written so
// far (every file but package.json).
func (j *Job) estimateRecord() *EstimateRecord {
	if j.est == nil {
		return nil
	}
	r := &EstimateRecord{Estimated: j.est.Bytes, Layers: []*EstimateLayerRecord{}}
	for _, le := range j.est.Layers {
		lr := &EstimateLayerRecord{Key: le.Key, Title: le.Title, Kind: le.Kind, Store: le.Store,
			Features: le.Features, Tiles: le.Tiles, Estimated: le.Bytes}
		if j.stepDone(le.Step) {
			lr.Actual = treeSize(j.storePath(le.Store))
			if strings.HasSuffix(le.Store, ".mbtiles") {
				lr.Actual += treeSize(j.storePath(strings.TrimSuffix(le.Store, ".mbtiles")))
			}
		}
		lr.Error = relError(lr.Estimated.Bytes, lr.Actual)
		r.Layers = append(r.Layers, lr)
	}
	r.Actual = treeSize(j.dir) - treeSize(filepath.Join(j.dir, ManifestFile)) - treeSize(filepath.Join(j.dir, JournalFile))
	r.Error = relError(r.Estimated.Bytes, r.Actual)
	return r
}

func relError(est, actual int64) float64 {
	if actual == 0 {
		return 0
	}
	return float64(est-actual) / float64(actual)
}

// treeSize returns the bytes of a file, or of every file under a
// directory (0 when absent).
func treeSize(path string) int64 {
	var n int64
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// stepDone says the journal has step id and it is done.
func (j *Job) stepDone(id string) bool {
	j.jr.mu.Lock()
	defer j.jr.mu.Unlock()
	s := j.jr.Steps[id]
	return s != nil && s.Status == stepDone
}
