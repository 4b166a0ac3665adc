package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/internal/atomicfile"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/offline"
)

// RunFunc runs (or resumes) an offline map job into dir, reporting to rep.
// It must return promptly when ctx is canceled, leaving dir resumable: a
// later call with the same job and dir continues where it stopped.
type RunFunc func(ctx context.Context, job localapi.JobInfo, dir string, rep JobReporter) error

// JobControl pauses and resumes a running job in place; *offline.Job
// implements it. A job paused in place keeps its runner and its progress.
type JobControl interface {
	Pause()
	Resume()
}

// JobReporter receives a running job's progress (and its state changes,
// such as needsAuth) and, from runners that can pause in place, the job's
// control. A runner that attaches none is paused by stopping it (its next
// run resumes from its checkpoints).
type JobReporter interface {
	Progress(localapi.JobProgress)
	Attach(JobControl)
}

var (
	errPaused   = errors.New("job paused")
	errCanceled = errors.New("job canceled")
	errShutdown = errors.New("daemon shutting down")
)

// JobManager implements Jobs: it persists jobs under <root>/jobs/<id>.json,
// runs them with a RunFunc, publishes their events to "job/<id>", registers
// finished packages, and resumes interrupted jobs on Start.
type JobManager struct {
	dir string
	reg *Registry
	run RunFunc
	hub *localapi.Hub
	log *slog.Logger

	mu   stdsync.Mutex
	base context.Context
	jobs map[string]*jobEntry
	wg   stdsync.WaitGroup
}

type jobEntry struct {
	info   localapi.JobInfo
	cancel context.CancelCauseFunc
	done   chan struct{}
	ctl    JobControl // set while a runner that pauses in place runs
}

// reporter is the JobReporter of one run of a job.
type reporter struct {
	m  *JobManager
	id string
}

func (r reporter) Progress(p localapi.JobProgress) { r.m.progress(r.id, p) }

func (r reporter) Attach(c JobControl) {
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if e := r.m.jobs[r.id]; e != nil && e.cancel != nil {
		e.ctl = c
	}
}

// NewJobManager loads the jobs stored in root/jobs.
func NewJobManager(root string, reg *Registry, hub *localapi.Hub, run RunFunc, log *slog.Logger) (*JobManager, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &JobManager{dir: filepath.Join(root, "jobs"), reg: reg, run: run, hub: hub, log: log, jobs: map[string]*jobEntry{}}
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	files, _ := filepath.Glob(filepath.Join(m.dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		var info localapi.JobInfo
		if err := json.Unmarshal(b, &info); err != nil {
			log.Warn("skipping unreadable job record", "file", filepath.Base(f), "err", err)
			continue
		}
		if info.State == "queued" { // written by an older version
			info.State = offline.JobPending
		}
		m.jobs[info.ID] = &jobEntry{info: info}
	}
	return m, nil
}

// Start resumes every job that was pending, running or waiting for
// sign-in when the daemon stopped; ctx bounds all job work (cancel it,
// then call Shutdown).
func (m *JobManager) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.base = ctx
	for _, e := range m.sortedLocked() {
		if st := e.info.State; st == offline.JobPending || st == offline.JobRunning || st == offline.JobNeedsAuth {
			m.log.Info("resuming interrupted job", "job", e.info.ID, "map", e.info.MapID)
			m.startLocked(e)
		}
	}
}

// Shutdown stops running jobs (they are checkpointed by their runner and
// stay pending for the next start; jobs paused in place stay paused) and
// waits for them.
func (m *JobManager) Shutdown() {
	m.mu.Lock()
	for _, e := range m.jobs {
		if e.cancel != nil {
			e.cancel(errShutdown)
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func (m *JobManager) sortedLocked() []*jobEntry {
	out := make([]*jobEntry, 0, len(m.jobs))
	for _, e := range m.jobs {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].info.Created < out[j].info.Created })
	return out
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// Create implements Jobs.
func (m *JobManager) Create(ctx context.Context, req localapi.JobRequest) (localapi.JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base == nil {
		return localapi.JobInfo{}, errors.New("job manager not started")
	}
	if req.MapID == "" {
		req.MapID = "map-" + newID()
	}
	if _, err := os.Stat(m.reg.Dir(req.MapID)); err == nil {
		return localapi.JobInfo{}, &localapi.Error{Status: http.StatusConflict, Code: "exists", Field: "mapId", Message: fmt.Sprintf("map %q already exists", req.MapID)}
	}
	for _, e := range m.jobs {
		if e.info.MapID == req.MapID && !terminal(e.info.State) {
			return localapi.JobInfo{}, &localapi.Error{Status: http.StatusConflict, Code: "exists", Field: "mapId", Message: fmt.Sprintf("job %s already writes map %q", e.info.ID, req.MapID)}
		}
	}
	e := &jobEntry{info: localapi.JobInfo{ID: newID(), MapID: req.MapID, State: offline.JobPending, Request: req, Created: now(), Updated: now()}}
	m.jobs[e.info.ID] = e
	if err := m.saveLocked(e); err != nil {
		delete(m.jobs, e.info.ID)
		return localapi.JobInfo{}, err
	}
	m.startLocked(e)
	return e.info, nil
}

func terminal(state offline.JobState) bool {
	return state == offline.JobSucceeded || state == offline.JobFailed || state == offline.JobCanceled
}

func (m *JobManager) saveLocked(e *jobEntry) error {
	b, err := json.MarshalIndent(e.info, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(m.dir, e.info.ID+".json")
	if err := atomicfile.WriteFile(p, b, 0o600); err != nil {
		return fmt.Errorf("save job %s: %w", e.info.ID, err)
	}
	return nil
}

// setStateLocked changes state, persists and publishes it.
func (m *JobManager) setStateLocked(e *jobEntry, state offline.JobState, jerr *localapi.Error) {
	e.info.State = state
	e.info.Error = jerr
	e.info.Updated = now()
	if err := m.saveLocked(e); err != nil {
		m.log.Error("persist job", "job", e.info.ID, "err", err)
	}
	m.hub.Publish("job/"+e.info.ID, "state", e.info)
	if terminal(state) {
		m.hub.Close("job/" + e.info.ID)
	}
}

func (m *JobManager) startLocked(e *jobEntry) {
	ctx, cancel := context.WithCancelCause(m.base)
	e.cancel = cancel
	e.done = make(chan struct{})
	e.ctl = nil
	e.info.Attempts++
	m.setStateLocked(e, offline.JobRunning, nil)
	info := e.info
	done := e.done
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(done)
		dir := m.reg.Dir(info.MapID)
		err := m.run(ctx, info, dir, reporter{m: m, id: info.ID})
		m.finish(info.ID, err, context.Cause(ctx))
		cancel(nil)
	}()
}

func (m *JobManager) progress(id string, p localapi.JobProgress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.jobs[id]
	if e == nil {
		return
	}
	switch {
	case p.State == offline.JobNeedsAuth && e.info.State == offline.JobRunning:
		e.info.Progress = p
		m.setStateLocked(e, offline.JobNeedsAuth, nil)
		return
	case p.State == offline.JobRunning && e.info.State == offline.JobNeedsAuth:
		m.setStateLocked(e, offline.JobRunning, nil)
	}
	if e.info.State != offline.JobRunning {
		return
	}
	e.info.Progress = p
	e.info.Updated = now()
	m.hub.Publish("job/"+id, "progress", p)
}

func (m *JobManager) finish(id string, err, cause error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.jobs[id]
	e.cancel = nil
	e.ctl = nil
	switch {
	case err == nil:
		if rerr := m.reg.Register(e.info.MapID); rerr != nil {
			m.setStateLocked(e, offline.JobFailed, &localapi.Error{Code: "register", Message: rerr.Error()})
			return
		}
		e.info.Progress.Percent = 100
		m.setStateLocked(e, offline.JobSucceeded, nil)
	case errors.Is(cause, errPaused):
		m.setStateLocked(e, offline.JobPaused, nil)
	case errors.Is(cause, errCanceled):
		if rerr := os.RemoveAll(m.reg.Dir(e.info.MapID)); rerr != nil {
			m.log.Warn("cleanup of canceled job", "job", id, "err", rerr)
		}
		m.setStateLocked(e, offline.JobCanceled, nil)
	case errors.Is(cause, errShutdown) || m.base.Err() != nil:
		// Checkpointed by the runner; resumed at the next start (a job
		// paused in place stays paused).
		if e.info.State != offline.JobPaused {
			m.setStateLocked(e, offline.JobPending, nil)
		}
	default:
		m.setStateLocked(e, offline.JobFailed, &localapi.Error{Code: "jobFailed", Message: err.Error()})
	}
}

func (m *JobManager) entry(id string) (*jobEntry, error) {
	e := m.jobs[id]
	if e == nil {
		return nil, localapi.NotFound("job", "no job %q", id)
	}
	return e, nil
}

// Get implements Jobs.
func (m *JobManager) Get(ctx context.Context, id string) (localapi.JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.entry(id)
	if err != nil {
		return localapi.JobInfo{}, err
	}
	return e.info, nil
}

// List implements Jobs.
func (m *JobManager) List(ctx context.Context) ([]localapi.JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []localapi.JobInfo
	for _, e := range m.sortedLocked() {
		out = append(out, e.info)
	}
	return out, nil
}

// stop cancels a running job with cause and waits until its runner returned.
func (m *JobManager) stop(ctx context.Context, id string, cause error, allowed ...offline.JobState) (localapi.JobInfo, error) {
	m.mu.Lock()
	e, err := m.entry(id)
	if err != nil {
		m.mu.Unlock()
		return localapi.JobInfo{}, err
	}
	ok := false
	for _, a := range allowed {
		ok = ok || e.info.State == a
	}
	if !ok {
		st := e.info.State
		m.mu.Unlock()
		return localapi.JobInfo{}, &localapi.Error{Status: http.StatusConflict, Code: "badState", Field: "state", Message: fmt.Sprintf("job is %s", st)}
	}
	done := e.done
	if e.cancel != nil {
		e.cancel(cause)
		m.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return localapi.JobInfo{}, ctx.Err()
		}
		m.mu.Lock()
	} else if errors.Is(cause, errCanceled) {
		// Paused or pending without a runner: cancel directly.
		os.RemoveAll(m.reg.Dir(e.info.MapID))
		m.setStateLocked(e, offline.JobCanceled, nil)
	}
	info := e.info
	m.mu.Unlock()
	return info, nil
}

// Pause implements Jobs: a runner that pauses in place (the offline job)
// keeps its progress and goes on at Resume; others are stopped at a
// checkpoint and run again at Resume.
func (m *JobManager) Pause(ctx context.Context, id string) (localapi.JobInfo, error) {
	m.mu.Lock()
	if e := m.jobs[id]; e != nil && e.ctl != nil && e.info.State == offline.JobRunning {
		e.ctl.Pause()
		m.setStateLocked(e, offline.JobPaused, nil)
		info := e.info
		m.mu.Unlock()
		return info, nil
	}
	m.mu.Unlock()
	return m.stop(ctx, id, errPaused, offline.JobRunning, offline.JobNeedsAuth)
}

// Cancel implements Jobs: the runner stops and the partial package is
// removed.
func (m *JobManager) Cancel(ctx context.Context, id string) (localapi.JobInfo, error) {
	return m.stop(ctx, id, errCanceled, offline.JobRunning, offline.JobPaused, offline.JobPending, offline.JobNeedsAuth)
}

// Resume implements Jobs: a paused job goes on (in place when its runner
// still runs), a job waiting for sign-in tries again (after "offlined
// login"), a failed one runs again from its checkpoints.
func (m *JobManager) Resume(ctx context.Context, id string) (localapi.JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.entry(id)
	if err != nil {
		return localapi.JobInfo{}, err
	}
	st := e.info.State
	if st != offline.JobPaused && st != offline.JobFailed && st != offline.JobNeedsAuth {
		return localapi.JobInfo{}, &localapi.Error{Status: http.StatusConflict, Code: "badState", Field: "state", Message: "job is " + string(st)}
	}
	if e.ctl != nil {
		e.ctl.Resume()
		m.setStateLocked(e, offline.JobRunning, nil)
		return e.info, nil
	}
	if e.cancel != nil {
		// Still stopping (a pause by cancel in flight).
		return localapi.JobInfo{}, &localapi.Error{Status: http.StatusConflict, Code: "badState", Field: "state", Message: "job is stopping; try again"}
	}
	if m.base == nil {
		return localapi.JobInfo{}, errors.New("job manager not started")
	}
	m.startLocked(e)
	return e.info, nil
}

// ResumeNeedsAuth resumes every job waiting for sign-in (called when the
// credentials change).
func (m *JobManager) ResumeNeedsAuth() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.jobs {
		if e.info.State == offline.JobNeedsAuth && e.ctl != nil {
			m.log.Info("credentials changed; resuming job", "job", e.info.ID)
			e.ctl.Resume()
			m.setStateLocked(e, offline.JobRunning, nil)
		}
	}
}
