package offline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	stdsync "sync"
	"syscall"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/atomicfile"
	"github.com/offlined/offlined/tiles"
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
	// Hook, when set, is called at named points of the job (for crash
	// tests and diagnostics): "replicaRequested", "replicaSubmitted",
	// "replicaCreated", "replicaFetched", "serviceDone", "tilesBatch",
	// "tilesDone", "beforeManifest".
	Hook func(point string)
}

// Job takes a web map offline into a package directory. Create it with
// Task.NewJob and call Run; Pause, Resume and Cancel may be called from
// other goroutines. The job keeps a journal in the directory: running the
// same job (same source, parameters and overrides) on the same directory
// after a crash resumes it.
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
	canceled   bool
	gate       chan struct{} // non-nil while paused or waiting for authentication
	cancelRun  context.CancelFunc
	diskFull   error // set when a step ran out of space: the job stops resumable
	prog       map[string]*LayerProgress
	order      []string
	message    string
	progressMu stdsync.Mutex

	jr      *journal
	stores  map[string]string // step id → store path (relative)
	started time.Time
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
	p := Progress{State: j.state, Message: j.message}
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

// step ids.
func gdbStepID(k Key) string    { return "gdb:" + string(k) }
func tilesStepID(k Key) string  { return "tiles:" + string(k) }
func vtilesStepID(k Key) string { return "vtiles:" + string(k) }

// Run runs the job to its end (or until ctx ends, which leaves it resumable)
// and returns its result. The error is non-nil when the job did not produce
// a package: validation failures, a layer failure with ContinueOnErrors
// false, cancellation, or ctx's end.
func (j *Job) Run(ctx context.Context) (*Result, error) {
	j.started = time.Now()
	if j.opt.Client == nil {
		return nil, errors.New("offline job: no client")
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
		j.mu.Unlock()
		failed := j.runSteps(runCtx)
		cancel()
		j.mu.Lock()
		j.cancelRun = nil
		paused, canceled := j.paused, j.canceled
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
		return j.partialResult(JobFailed), fmt.Errorf("write package %s: %w", j.dir, err)
	}
	j.jr.update(func() { j.jr.State = JobSucceeded })
	os.Remove(filepath.Join(j.dir, JournalFile))
	j.setState(JobSucceeded, "")
	return j.result(m), nil
}

// open validates the job (a fresh directory) or reloads its journal
// (a directory holding this job's partial content).
func (j *Job) open(ctx context.Context) error {
	fp, err := fingerprint(j.task.Source, j.p, j.o)
	if err != nil {
		return err
	}
	jr, err := loadJournal(j.dir)
	if err != nil {
		return err
	}
	if jr != nil {
		if jr.Fingerprint != fp {
			return &ValidationError{Code: ErrTargetNotEmpty, Message: fmt.Sprintf(
				"target directory %s holds the partial content of another offline map job (different source, parameters or overrides)", j.dir)}
		}
		j.jr = jr
		j.initSteps()
		return nil
	}
	// A kill during the very first journal write leaves only its temporary
	// file: the directory is still this job's, and empty otherwise.
	if names, err := os.ReadDir(j.dir); err == nil && len(names) == 1 && atomicfile.IsTemp(names[0].Name(), JournalFile) {
		if err := os.Remove(filepath.Join(j.dir, names[0].Name())); err != nil {
			return err
		}
	}
	checks := j.opt.Checks
	if checks == nil {
		checks = []Check{TileChecks(j.opt.Client)}
	}
	if err := j.task.Validate(ctx, j.p, j.o, j.dir, checks...); err != nil {
		return err
	}
	if err := os.MkdirAll(j.dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", j.dir, err)
	}
	j.jr = &journal{path: filepath.Join(j.dir, JournalFile), Version: 1, ID: newID(), Fingerprint: fp,
		Created: time.Now().UTC().Truncate(time.Second), State: JobRunning, Steps: map[string]*stepInfo{}}
	j.initSteps()
	return j.jr.save()
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
	name = strings.Trim(unsafeName.ReplaceAllString(name, "_"), "._")
	if name == "" {
		name = "layer"
	}
	return name
}

// initSteps makes sure the journal has a record for every step of the
// overrides (a new journal, or one from an older run) and sets up progress.
func (j *Job) initSteps() {
	type st struct {
		id, kind, store string
		key             Key
		url             string
	}
	var steps []st
	used := map[string]bool{}
	unique := func(base, ext string) string {
		name := base
		for i := 2; used[name]; i++ {
			name = fmt.Sprintf("%s_%d", base, i)
		}
		used[name] = true
		return name + ext
	}
	for _, k := range sortedKeys(j.o.GenerateGeodatabase) {
		g := j.o.GenerateGeodatabase[k]
		kind := KindReplica
		if g.Snapshot {
			kind = KindSnapshot
		}
		steps = append(steps, st{gdbStepID(k), kind, filepath.ToSlash(filepath.Join(DataDir, unique(serviceName(g.ServiceURL), ".gpkg"))), k, g.ServiceURL})
	}
	used = map[string]bool{}
	for _, k := range sortedKeys(j.o.ExportTileCache) {
		p := j.o.ExportTileCache[k]
		steps = append(steps, st{tilesStepID(k), KindRasterTiles, filepath.ToSlash(filepath.Join(TilesDir, unique(serviceName(p.ServiceURL), ".mbtiles"))), k, p.ServiceURL})
	}
	for _, k := range sortedKeys(j.o.ExportVectorTiles) {
		p := j.o.ExportVectorTiles[k]
		steps = append(steps, st{vtilesStepID(k), KindVectorTiles, filepath.ToSlash(filepath.Join(TilesDir, unique(serviceName(p.ServiceURL), ".mbtiles"))), k, p.ServiceURL})
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
		if e := j.task.Entry(s.key); e != nil && e.Title != "" && !strings.HasPrefix(s.id, "gdb:") {
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
		var err error
		switch {
		case strings.HasPrefix(id, "gdb:"):
			err = j.runFeatureService(ctx, id)
		case strings.HasPrefix(id, "tiles:"):
			err = j.runRasterTiles(ctx, id)
		case strings.HasPrefix(id, "vtiles:"):
			err = j.runVectorTiles(ctx, id)
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

// isAuthFailure reports an authentication error that survived the
// client's token renewal.
func isAuthFailure(err error) bool {
	var ae *authError
	if arcgis.IsAuth(err) || errors.As(err, &ae) {
		return true
	}
	var fe *tiles.FatalError
	if !errors.As(err, &fe) {
		return false
	}
	if arcgis.IsAuth(fe.Err) || arcgis.IsForbidden(fe.Err) {
		return true
	}
	var se *tiles.StatusError
	if errors.As(fe.Err, &se) {
		switch se.Code {
		case 401, 403, 498, 499:
			return true
		}
	}
	return false
}

// isDiskFull reports an out-of-space failure (ENOSPC, SQLite's "database or
// disk is full"): not a layer's fault, so the job stops resumable instead of
// finishing a package with the layer missing.
func isDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "disk is full") || strings.Contains(msg, "no space left on device") || strings.Contains(msg, "SQLITE_FULL")
}

// fail records a step's failure in the journal and the progress.
func (j *Job) fail(id string, err error) {
	rec := j.jr.step(id)
	le := &LayerError{Key: rec.Key, Call: "job", Message: err.Error()}
	var se *StepError
	if errors.As(err, &se) {
		le.Service, le.Call = se.Service, se.Call
		le.Message, le.Code = serverMessage(se.Err)
	}
	le.Layer = j.prog[id].Title
	if e := j.task.Entry(rec.Key); e != nil && e.Title != "" {
		le.Layer = e.Title
	}
	j.log.Warn("offline layer failed", "key", rec.Key, "call", le.Call, "err", err)
	// A failed layer leaves no partial files behind.
	path := j.storePath(rec.Store)
	for _, suffix := range []string{"", "-wal", "-shm", "-journal", ".replica.json", ".replica.json.part", ".export"} {
		os.RemoveAll(path + suffix)
	}
	if strings.HasPrefix(id, "vtiles:") {
		os.RemoveAll(strings.TrimSuffix(path, ".mbtiles"))
	}
	j.jr.update(func() {
		s := j.jr.Steps[id]
		s.Status = stepFailed
		s.Error = le
	})
	j.updateProgress(id, func(lp *LayerProgress) { lp.Phase = stepFailed; lp.Error = le.Message })
}

// abort ends a failed or canceled job: replicas registered by the job are
// unregistered and the partial content is removed.
func (j *Job) abort(state JobState, cause error) (*Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := j.partialResult(state)
	j.cleanup(ctx)
	j.setState(state, "")
	r.State = state
	if state == JobCanceled {
		r.Canceled = true
		return r, context.Canceled
	}
	return r, fmt.Errorf("offline map job stopped at the first failure (continueOnErrors is false): %w", cause)
}

// cleanup unregisters the job's replicas and removes what it wrote.
func (j *Job) cleanup(ctx context.Context) {
	c := j.opt.Client
	done := map[string]bool{}
	unregister := func(svcURL, id string) {
		if id == "" || done[id] {
			return
		}
		done[id] = true
		if err := c.UnregisterReplica(ctx, svcURL, id); err != nil && !arcgis.IsNotFound(err) {
			j.log.Warn("unregister replica", "service", svcURL, "replica", id, "err", err)
		}
	}
	for _, r := range j.jr.Replicas {
		unregister(r.ServiceURL, r.ID)
	}
	// Replicas asked for but not known yet: wait for a submitted job to
	// name its replica, and look a requested one up by its unique name.
	for _, id := range j.order {
		s := j.jr.step(id)
		if s.Kind != KindReplica || (s.ReplicaPhase != replicaRequested && s.ReplicaPhase != replicaSubmitted) {
			continue
		}
		svcURL := j.o.GenerateGeodatabase[s.Key].ServiceURL
		if s.StatusURL != "" {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if st, err := c.WaitReplicaJob(wctx, s.StatusURL, j.opt.PollInterval, nil); err == nil {
				unregister(svcURL, st.ReplicaID)
			}
			cancel()
		}
		for attempt := 0; attempt < 3; attempt++ {
			refs, err := c.Replicas(ctx, svcURL)
			found := false
			for _, r := range refs {
				if r.ReplicaName == s.ReplicaName {
					unregister(svcURL, r.ReplicaID)
					found = true
				}
			}
			if err != nil || found || s.StatusURL != "" {
				break
			}
			// createReplica may still be running on the server after the
			// client gave up on it.
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, name := range []string{DataDir, TilesDir, MapFile, ItemInfoFile, ManifestFile, JournalFile} {
		os.RemoveAll(filepath.Join(j.dir, name))
	}
	if m, _ := filepath.Glob(filepath.Join(j.dir, "thumbnail.*")); len(m) > 0 {
		for _, f := range m {
			os.Remove(f)
		}
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
		TableErrors: m.TableErrors, Manifest: m, Elapsed: JSONDuration(time.Since(j.started))}
}

// collectErrors spreads each failed step's error over the layers and
// tables it covers, keyed like the parameters.
func (j *Job) collectErrors(layers, tables map[Key]*LayerError) {
	if j.jr == nil {
		return
	}
	j.jr.mu.Lock()
	defer j.jr.mu.Unlock()
	for id, s := range j.jr.Steps {
		if s.Error == nil {
			continue
		}
		if strings.HasPrefix(id, "gdb:") {
			g := j.o.GenerateGeodatabase[s.Key]
			if g == nil {
				continue
			}
			for _, lid := range g.LayerIDs() {
				k := LayerKey(g.ServiceURL, lid)
				le := *s.Error
				le.Key = k
				if e := j.task.Entry(k); e != nil {
					le.Layer = e.Title
					if e.IsTable() {
						tables[k] = &le
						continue
					}
				}
				layers[k] = &le
			}
			continue
		}
		le := *s.Error
		layers[s.Key] = &le
	}
}

// AbandonJob gives up an interrupted job in dir: the replicas it registered
// (or was creating) are unregistered and its partial content removed, so
// the directory is empty again. A directory holding a complete package or
// no job journal is left alone.
func AbandonJob(ctx context.Context, dir string, c *arcgis.Client) error {
	jr, err := loadJournal(dir)
	if err != nil {
		return err
	}
	if jr == nil {
		return fmt.Errorf("%s holds no interrupted offline map job", dir)
	}
	if _, err := ReadManifest(dir); err == nil {
		return fmt.Errorf("%s holds a complete package: delete it with Package.Delete", dir)
	}
	j := &Job{dir: dir, jr: jr, opt: JobOptions{Client: c}, log: slog.New(slog.DiscardHandler),
		o: &Overrides{GenerateGeodatabase: map[Key]*GenerateGeodatabaseParameters{}}}
	// The steps' service URLs: the journal keys are service keys, and the
	// replicas list carries the URLs used.
	for id, s := range jr.Steps {
		j.order = append(j.order, id)
		if s.Kind == KindReplica {
			j.o.GenerateGeodatabase[s.Key] = &GenerateGeodatabaseParameters{ServiceURL: s.ServiceURL}
		}
	}
	sort.Strings(j.order)
	j.cleanup(ctx)
	return nil
}
