package localapi

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
)

// RunFunc runs (or resumes) an offline map job into dir, reporting progress.
// It must return promptly when ctx is canceled, leaving dir resumable: a
// later call with the same job and dir continues where it stopped.
type RunFunc func(ctx context.Context, job JobInfo, dir string, progress func(JobProgress)) error

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
	hub *Hub
	log *slog.Logger

	mu   stdsync.Mutex
	base context.Context
	jobs map[string]*jobEntry
	wg   stdsync.WaitGroup
}

type jobEntry struct {
	info   JobInfo
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// NewJobManager loads the jobs stored in root/jobs.
func NewJobManager(root string, reg *Registry, hub *Hub, run RunFunc, log *slog.Logger) (*JobManager, error) {
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
		var info JobInfo
		if err := json.Unmarshal(b, &info); err != nil {
			log.Warn("skipping unreadable job record", "file", filepath.Base(f), "err", err)
			continue
		}
		m.jobs[info.ID] = &jobEntry{info: info}
	}
	return m, nil
}

// Start resumes every job that was queued or running when the daemon
// stopped; ctx bounds all job work (cancel it, then call Wait).
func (m *JobManager) Start(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.base = ctx
	for _, e := range m.sortedLocked() {
		if e.info.State == JobQueued || e.info.State == JobRunning {
			m.log.Info("resuming interrupted job", "job", e.info.ID, "map", e.info.MapID)
			m.startLocked(e)
		}
	}
}

// Shutdown stops running jobs (they are checkpointed by their runner and
// stay queued for the next start) and waits for them.
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
func (m *JobManager) Create(ctx context.Context, req JobRequest) (JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.base == nil {
		return JobInfo{}, errors.New("job manager not started")
	}
	if req.MapID == "" {
		req.MapID = "map-" + newID()
	}
	if _, err := os.Stat(m.reg.Dir(req.MapID)); err == nil {
		return JobInfo{}, &Error{Status: http.StatusConflict, Code: "exists", Field: "mapId", Message: fmt.Sprintf("map %q already exists", req.MapID)}
	}
	for _, e := range m.jobs {
		if e.info.MapID == req.MapID && !terminal(e.info.State) {
			return JobInfo{}, &Error{Status: http.StatusConflict, Code: "exists", Field: "mapId", Message: fmt.Sprintf("job %s already writes map %q", e.info.ID, req.MapID)}
		}
	}
	e := &jobEntry{info: JobInfo{ID: newID(), MapID: req.MapID, State: JobQueued, Request: req, Created: now(), Updated: now()}}
	m.jobs[e.info.ID] = e
	if err := m.saveLocked(e); err != nil {
		delete(m.jobs, e.info.ID)
		return JobInfo{}, err
	}
	m.startLocked(e)
	return e.info, nil
}

func terminal(state string) bool {
	return state == JobSucceeded || state == JobFailed || state == JobCanceled
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
func (m *JobManager) setStateLocked(e *jobEntry, state string, jerr *Error) {
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
	e.info.Attempts++
	m.setStateLocked(e, JobRunning, nil)
	info := e.info
	done := e.done
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer close(done)
		dir := m.reg.Dir(info.MapID)
		err := m.run(ctx, info, dir, func(p JobProgress) { m.progress(info.ID, p) })
		m.finish(info.ID, err, context.Cause(ctx))
		cancel(nil)
	}()
}

func (m *JobManager) progress(id string, p JobProgress) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.jobs[id]
	if e == nil || e.info.State != JobRunning {
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
	switch {
	case err == nil:
		if rerr := m.reg.Register(e.info.MapID); rerr != nil {
			m.setStateLocked(e, JobFailed, &Error{Code: "register", Message: rerr.Error()})
			return
		}
		e.info.Progress.Percent = 100
		m.setStateLocked(e, JobSucceeded, nil)
	case errors.Is(cause, errPaused):
		m.setStateLocked(e, JobPaused, nil)
	case errors.Is(cause, errCanceled):
		if rerr := os.RemoveAll(m.reg.Dir(e.info.MapID)); rerr != nil {
			m.log.Warn("cleanup of canceled job", "job", id, "err", rerr)
		}
		m.setStateLocked(e, JobCanceled, nil)
	case errors.Is(cause, errShutdown) || m.base.Err() != nil:
		// Checkpointed by the runner; resumed at the next start.
		m.setStateLocked(e, JobQueued, nil)
	default:
		m.setStateLocked(e, JobFailed, &Error{Code: "jobFailed", Message: err.Error()})
	}
}

func (m *JobManager) entry(id string) (*jobEntry, error) {
	e := m.jobs[id]
	if e == nil {
		return nil, notFound("job", "no job %q", id)
	}
	return e, nil
}

// Get implements Jobs.
func (m *JobManager) Get(ctx context.Context, id string) (JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.entry(id)
	if err != nil {
		return JobInfo{}, err
	}
	return e.info, nil
}

// List implements Jobs.
func (m *JobManager) List(ctx context.Context) ([]JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []JobInfo
	for _, e := range m.sortedLocked() {
		out = append(out, e.info)
	}
	return out, nil
}

// stop cancels a running job with cause and waits until its runner returned.
func (m *JobManager) stop(ctx context.Context, id string, cause error, allowed ...string) (JobInfo, error) {
	m.mu.Lock()
	e, err := m.entry(id)
	if err != nil {
		m.mu.Unlock()
		return JobInfo{}, err
	}
	ok := false
	for _, a := range allowed {
		ok = ok || e.info.State == a
	}
	if !ok {
		st := e.info.State
		m.mu.Unlock()
		return JobInfo{}, &Error{Status: http.StatusConflict, Code: "badState", Field: "state", Message: fmt.Sprintf("job is %s", st)}
	}
	done := e.done
	if e.cancel != nil {
		e.cancel(cause)
		m.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return JobInfo{}, ctx.Err()
		}
		m.mu.Lock()
	} else if errors.Is(cause, errCanceled) {
		// Paused or queued without a runner: cancel directly.
		os.RemoveAll(m.reg.Dir(e.info.MapID))
		m.setStateLocked(e, JobCanceled, nil)
	}
	info := e.info
	m.mu.Unlock()
	return info, nil
}

// Pause implements Jobs.
func (m *JobManager) Pause(ctx context.Context, id string) (JobInfo, error) {
	return m.stop(ctx, id, errPaused, JobRunning)
}

// Cancel implements Jobs: the runner stops and the partial package is
// removed.
func (m *JobManager) Cancel(ctx context.Context, id string) (JobInfo, error) {
	return m.stop(ctx, id, errCanceled, JobRunning, JobPaused, JobQueued)
}

// Resume implements Jobs.
func (m *JobManager) Resume(ctx context.Context, id string) (JobInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, err := m.entry(id)
	if err != nil {
		return JobInfo{}, err
	}
	if e.info.State != JobPaused && e.info.State != JobFailed {
		return JobInfo{}, &Error{Status: http.StatusConflict, Code: "badState", Field: "state", Message: "job is " + e.info.State}
	}
	if m.base == nil {
		return JobInfo{}, errors.New("job manager not started")
	}
	m.startLocked(e)
	return e.info, nil
}
