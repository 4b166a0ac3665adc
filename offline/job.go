package offline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	editsync "github.com/offlined/offlined/sync"
)

// JobOptions configure an offline map job.
type JobOptions struct {
	// Client talks to the portal and services (required). It renews
	// tokens itself; when it cannot, the job waits in JobNeedsAuth.
	Client *arcgis.Client
	// Progress, when set, receives a snapshot after every notable change
	// (called from the job's goroutines, one call at a time).
	Progress func(Progress)
	Logger   *slog.Logger
	// Concurrency is how many services and tile layers are worked on at
	// once (default 3); TileConcurrency the tile requests per layer
	// (default 8).
	Concurrency     int
	TileConcurrency int
	// PollInterval for replica and export jobs (0: the client's).
	PollInterval time.Duration
	// Checks are extra validation steps; nil means TileChecks(Client).
	Checks []Check
	// Unregister, when set, is the daemon's queue of replicas to
	// unregister: a replica that a failed or canceled job cannot
	// unregister now (offline) is queued there instead of left behind.
	Unregister *editsync.UnregisterQueue
	// Hook, when set, is called at named points of the job (for crash
	// tests and diagnostics): "replicaRequested", "replicaAnswered"
	// (createReplica answered, the answer not yet saved), "replicaSubmitted",
	// "replicaCreated", "replicaFetched", "serviceDone", "tilesBatch",
	// "tilesDone", "beforeManifest".
	Hook func(point string)
	// Estimate is the package estimate (Task.Estimate) shown before the
	// job; with EstimateFirst and no Estimate, or with Parameters.MaxBytes
	// set, the job computes it. The job checks the budget and the free
	// space against it before writing anything and between steps, and the
	// package records it beside the actual sizes.
	Estimate      *PackageEstimate
	EstimateFirst bool
	// FreeSpace returns the free bytes of the volume holding a directory
	// (default FreeSpace, statfs).
	FreeSpace func(dir string) (int64, error)
}

// Job takes a web map offline into a package directory. Create it with
// Task.NewJob and call Run; Pause, Resume and Cancel may be called from
// other goroutines. The job keeps a journal in the directory: running a
// job for the same source and area of interest on the same directory after
// a crash or a stop resumes it, with the parameters, overrides and web map
// recorded when it started (the server may have changed since).
type Job struct {
	task *Task
	p    *Parameters
	o    *Overrides
	dir  string
	opt  JobOptions
	log  *slog.Logger

	mu         stdsync.Mutex
	state      JobState
	paused     bool
	pauses     int // Pause calls; a run cut short by one is run again
	canceled   bool
	gate       chan struct{} // non-nil while paused or waiting for authentication
	cancelRun  context.CancelFunc
	diskFull   error // set when a step ran out of space: the job stops resumable
	resumed    bool  // the job continues an interrupted run (its journal was found)
	prog       map[string]*LayerProgress
	order      []string
	message    string
	progressMu stdsync.Mutex

	jr      *journal
	stores  map[string]string // step id → store path (relative)
	started time.Time
	est     *PackageEstimate // nil when the job has no estimate
}

// NewJob prepares a job writing the offline map for p and o into dir.
// Nothing happens until Run.
func (t *Task) NewJob(p *Parameters, o *Overrides, dir string, opt JobOptions) *Job {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 3
	}
	if opt.TileConcurrency <= 0 {
		opt.TileConcurrency = 8
	}
	lg := opt.Logger
	if lg == nil {
		lg = slog.New(slog.DiscardHandler)
	}
	return &Job{task: t, p: p, o: o, dir: dir, opt: opt, log: lg, state: JobPending,
		prog: map[string]*LayerProgress{}}
}

// Dir returns the package directory.
func (j *Job) Dir() string { return j.dir }

// State returns the job's state.
func (j *Job) State() JobState {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.state
}

// Pause stops work after the in-flight requests are abandoned; everything
// finished stays recorded. Resume continues.
func (j *Job) Pause() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != JobRunning {
		return
	}
	j.paused = true
	j.pauses++
	j.state = JobPaused
	j.closeGateLocked()
	j.gate = make(chan struct{})
	if j.cancelRun != nil {
		j.cancelRun()
	}
}

func (j *Job) closeGateLocked() {
	if j.gate != nil {
		close(j.gate)
		j.gate = nil
	}
}

// waitGate blocks while the job is paused or waiting for authentication.
func (j *Job) waitGate(ctx context.Context) error {
	j.mu.Lock()
	g := j.gate
	j.mu.Unlock()
	if g == nil {
		return nil
	}
	select {
	case <-g:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Resume continues a paused job, or one waiting for authentication (after
// the caller renewed the client's credentials).
func (j *Job) Resume() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.state != JobPaused && j.state != JobNeedsAuth {
		return
	}
	j.paused = false
	j.state = JobRunning
	j.closeGateLocked()
}

// Cancel stops the job: its replicas are unregistered and its partial files
// removed. Run returns a result with Canceled set.
func (j *Job) Cancel() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.canceled = true
	if j.cancelRun != nil {
		j.cancelRun()
	}
	j.closeGateLocked()
}

func (j *Job) setState(s JobState, msg string) {
	j.mu.Lock()
	j.state = s
	if msg != "" {
		j.message = msg
	}
	j.mu.Unlock()
	j.emit()
}

func (j *Job) hook(point string) {
	if j.opt.Hook != nil {
		j.opt.Hook(point)
	}
}

// Progress returns a snapshot of the job's progress.
func (j *Job) Progress() Progress {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := Progress{State: j.state, Message: j.message, Estimate: j.est, Resumed: j.resumed}
	var done float64
	for _, id := range j.order {
		lp := *j.prog[id]
		p.Layers = append(p.Layers, &lp)
		p.Features += lp.Features
		p.Tiles += lp.Tiles
		p.Bytes += lp.Bytes
		switch {
		case lp.Done || lp.Error != "":
			done++
		case lp.TilesPlanned > 0:
			done += min(1, float64(lp.Tiles)/float64(lp.TilesPlanned)) * 0.95
		}
	}
	if len(j.order) > 0 {
		p.Percent = 100 * done / float64(len(j.order))
	}
	if j.state == JobSucceeded {
		p.Percent = 100
	}
	return p
}

func (j *Job) emit() {
	if j.opt.Progress == nil {
		return
	}
	j.progressMu.Lock()
	defer j.progressMu.Unlock()
	j.opt.Progress(j.Progress())
}

// updateProgress changes one step's progress and emits a snapshot.
func (j *Job) updateProgress(id string, fn func(lp *LayerProgress)) {
	j.mu.Lock()
	if lp := j.prog[id]; lp != nil {
		fn(lp)
	}
	j.mu.Unlock()
	j.emit()
}

// Run runs the job to its end (or until ctx ends, which leaves it resumable)
// and returns its result. The error is non-nil when the job did not produce
// a package: validation failures, a layer failure with ContinueOnErrors
// false, cancellation, or ctx's end.
func (j *Job) Run(ctx context.Context) (*Result, error) {
	j.started = time.Now()
	if j.opt.Client == nil {
		return nil, errors.New("offline job: no client")
	}
	unlock, err := j.lockDir()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := j.preflight(ctx); err != nil {
		j.setState(JobFailed, err.Error())
		return nil, err
	}
	if res, err := j.stopOnLeftOut(); err != nil {
		return res, err
	}
	if err := j.open(ctx); err != nil {
		return nil, err
	}
	if j.jr.State == JobSucceeded {
		if m, err := ReadManifest(j.dir); err == nil {
			j.setState(JobSucceeded, "")
			return j.result(m), nil
		}
	}
	j.setState(JobRunning, "")
	for {
		runCtx, cancel := context.WithCancel(ctx)
		j.mu.Lock()
		if j.canceled {
			j.mu.Unlock()
			cancel()
			return j.abort(JobCanceled, nil)
		}
		j.cancelRun = cancel
		pauses := j.pauses
		j.mu.Unlock()
		failed := j.runSteps(runCtx)
		cancel()
		j.mu.Lock()
		j.cancelRun = nil
		// A pause cut the steps short even when Resume came before they
		// returned (paused is false again): run them again.
		paused, canceled := j.paused || j.pauses != pauses, j.canceled
		j.mu.Unlock()
		if canceled {
			return j.abort(JobCanceled, nil)
		}
		if err := ctx.Err(); err != nil {
			j.setState(JobPaused, "interrupted: "+err.Error())
			j.jr.update(func() { j.jr.State = JobPaused })
			return j.partialResult(JobPaused), err
		}
		if paused {
			j.jr.update(func() { j.jr.State = j.State() })
			if err := j.waitGate(ctx); err != nil {
				return j.partialResult(JobPaused), err
			}
			continue
		}
		j.mu.Lock()
		full := j.diskFull
		j.mu.Unlock()
		if full != nil {
			// Out of space: keep everything (journal, finished stores) so a
			// run after freeing space resumes; write no manifest.
			j.setState(JobPaused, "out of disk space: "+full.Error())
			j.jr.update(func() { j.jr.State = JobPaused })
			return j.partialResult(JobPaused), fmt.Errorf("offline map job stopped, out of disk space (free space and run it again to resume): %w", full)
		}
		if failed != nil && !j.p.ContinueOnErrors {
			return j.abort(JobFailed, failed)
		}
		break
	}
	j.hook("beforeManifest")
	m, err := j.writePackage(ctx)
	if err != nil {
		j.setState(JobFailed, err.Error())
		var none *NothingOfflineError
		if errors.As(err, &none) {
			return j.partialResult(JobFailed), fmt.Errorf("offline map job: %w", err)
		}
		return j.partialResult(JobFailed), fmt.Errorf("write package %s: %w", j.dir, err)
	}
	j.jr.update(func() { j.jr.State = JobSucceeded })
	os.Remove(filepath.Join(j.dir, JournalFile))
	j.setState(JobSucceeded, "")
	return j.result(m), nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// serviceName is the file-name-safe last name of a service URL.
func serviceName(u string) string {
	ref, ok := ParseServiceURL(u)
	if ok {
		u = ref.URL
	}
	parts := strings.Split(strings.TrimRight(u, "/"), "/")
	name := "layer"
	for i := len(parts) - 1; i >= 0; i-- {
		switch parts[i] {
		case "FeatureServer", "MapServer", "ImageServer", "VectorTileServer", "":
			continue
		}
		name = parts[i]
		break
	}
	return safeName(name, "layer")
}

// safeName is s made file-name-safe (runs of other characters become _,
// no leading or trailing . or _), or fallback when nothing is left.
func safeName(s, fallback string) string {
	if name := strings.Trim(unsafeName.ReplaceAllString(s, "_"), "._"); name != "" {
		return name
	}
	return fallback
}

// initSteps makes sure the journal has a record for every step of the
// overrides (a new journal, or one from an older run) and sets up progress.
func (j *Job) initSteps() {
	var steps []stepPlan
	used := map[string]bool{}
	for _, src := range sources() {
		steps = append(steps, src.steps(j.o, used)...)
	}
	j.jr.mu.Lock()
	defer j.jr.mu.Unlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	j.order = nil
	for _, s := range steps {
		rec := j.jr.Steps[s.id]
		if rec == nil {
			rec = &stepInfo{Key: s.key, Kind: s.kind, Status: stepPending, Store: s.store, ServiceURL: s.url}
			j.jr.Steps[s.id] = rec
		}
		title := serviceName(s.url)
		if e := j.task.Entry(s.key); e != nil && e.Title != "" && s.entryTitle {
			title = e.Title
		}
		j.prog[s.id] = &LayerProgress{Key: s.key, Title: title, Kind: s.kind, Phase: rec.Status,
			Features: rec.Features, Tiles: rec.Tiles, Bytes: rec.Bytes, Done: rec.Status == stepDone}
		if rec.Error != nil {
			j.prog[s.id].Error = rec.Error.Message
		}
		j.order = append(j.order, s.id)
	}
}

// runSteps runs every step not done yet, opt.Concurrency at a time. It
// returns the first step failure (nil when all succeeded or when ctx ended).
// With ContinueOnErrors false the first failure stops the other steps.
func (j *Job) runSteps(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, j.opt.Concurrency)
	var wg stdsync.WaitGroup
	var firstMu stdsync.Mutex
	var first error
	for _, id := range j.order {
		rec := j.jr.step(id)
		if rec.Status == stepDone {
			continue
		}
		if rec.Status == stepFailed && j.p.ContinueOnErrors {
			// A failure recorded by an earlier run is retried once more.
			j.jr.update(func() { j.jr.Steps[id].Status = stepPending; j.jr.Steps[id].Error = nil })
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		if err := j.spaceBeforeStep(id); err != nil {
			j.mu.Lock()
			if j.diskFull == nil {
				j.diskFull = err
			}
			j.mu.Unlock()
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := j.runStep(ctx, id)
			if err == nil {
				return
			}
			firstMu.Lock()
			if first == nil {
				first = err
			}
			firstMu.Unlock()
			if !j.p.ContinueOnErrors || isDiskFull(err) {
				cancel()
			}
		}()
	}
	wg.Wait()
	return first
}

// runStep runs one step, turning authentication failures into the
// needsAuth state and recording other failures. It returns the failure
// (nil on success, pause, cancel or ctx's end).
func (j *Job) runStep(ctx context.Context, id string) error {
	for {
		j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "running"; lp.Error = "" })
		src, err := sourceOfStep(id)
		if err == nil {
			err = src.run(ctx, j, id)
		}
		if err == nil {
			j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = stepDone; lp.Done = true })
			return nil
		}
		if ctx.Err() != nil {
			j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "stopped" })
			return nil
		}
		if isAuthFailure(err) {
			// The client could not renew its token: wait for credentials.
			j.mu.Lock()
			j.state = JobNeedsAuth
			j.message = "needs authentication: " + err.Error()
			if j.gate == nil {
				j.gate = make(chan struct{})
			}
			j.mu.Unlock()
			j.log.Warn("offline job needs authentication", "key", j.jr.step(id).Key, "err", err)
			j.emit()
			if j.waitGate(ctx) != nil {
				return nil
			}
			j.mu.Lock()
			stop := j.canceled || j.paused
			j.mu.Unlock()
			if stop {
				return nil
			}
			continue
		}
		if isDiskFull(err) {
			j.mu.Lock()
			if j.diskFull == nil {
				j.diskFull = err
			}
			j.mu.Unlock()
			j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = "stopped"; lp.Error = err.Error() })
			return err
		}
		j.fail(id, err)
		return err
	}
}

// partialResult is the result of a job that wrote no manifest.
func (j *Job) partialResult(state JobState) *Result {
	r := &Result{Dir: j.dir, State: state, LayerErrors: map[Key]*LayerError{}, TableErrors: map[Key]*LayerError{},
		Elapsed: JSONDuration(time.Since(j.started))}
	j.collectErrors(r.LayerErrors, r.TableErrors)
	r.HasErrors = len(r.LayerErrors)+len(r.TableErrors) > 0
	return r
}

func (j *Job) result(m *Manifest) *Result {
	return &Result{Dir: j.dir, State: JobSucceeded, HasErrors: m.HasErrors, LayerErrors: m.LayerErrors,
		TableErrors: m.TableErrors, Warnings: m.Warnings, Manifest: m, Elapsed: JSONDuration(time.Since(j.started))}
}

// stopOnLeftOut fails a job with ContinueOnErrors false before any server
// work when an entry of the web map can neither go offline nor stay online
// (ArcGIS's rule: with continueOnErrors false, any layer error fails the
// job). A job resumed from its journal has passed this check already.
func (j *Job) stopOnLeftOut() (*Result, error) {
	if j.p.ContinueOnErrors || j.o == nil {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(j.dir, JournalFile)); err == nil {
		return nil, nil
	}
	for _, k := range sortedKeys(j.o.LeftOut) {
		lo := j.o.LeftOut[k]
		if lo == nil || !lo.Error {
			continue
		}
		le := &LayerError{Key: k, Call: "capabilities", Message: lo.Message, Reason: lo.Reason}
		if e := j.task.Entry(k); e != nil {
			le.Layer = e.Title
			if e.HasService {
				le.Service = e.Service.URL
			}
		}
		r := &Result{Dir: j.dir, State: JobFailed, HasErrors: true, LayerErrors: map[Key]*LayerError{}, TableErrors: map[Key]*LayerError{},
			Elapsed: JSONDuration(time.Since(j.started))}
		if e := j.task.Entry(k); e != nil && e.IsTable() {
			r.TableErrors[k] = le
		} else {
			r.LayerErrors[k] = le
		}
		j.setState(JobFailed, le.Error())
		return r, fmt.Errorf("offline map job stopped (continueOnErrors is false): %w", le)
	}
	return nil, nil
}
