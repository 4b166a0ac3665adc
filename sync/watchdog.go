package sync

import (
	"context"
	"errors"
	"fmt"
	"io"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
)

// Default progress deadlines (Options.StepTimeout, Options.SlowAfter).
const (
	DefaultStepTimeout = 2 * time.Minute
	DefaultSlowAfter   = 15 * time.Second
)

// StalledError ends a sync whose server made no progress on one step (no
// answer, no byte of a body, no job status) within the step deadline.
// Everything is kept: the next sync finds out what landed.
type StalledError struct {
	Step  string
	After time.Duration
}

func (e *StalledError) Error() string {
	return fmt.Sprintf("the server made no progress on %s for %v (step deadline): it may be hung or overloaded; edits are kept and sent again", e.Step, e.After)
}

// Progress is one progress event of a sync.
type Progress struct {
	// Step is the server call under way (synchronizeReplica, download,
	// upload, query, …).
	Step string `json:"step"`
	// WaitingMs is set while the step has made no progress for a while
	// (SlowAfter): how long it has waited so far, in milliseconds.
	WaitingMs int64  `json:"waitingMs,omitempty"`
	Message   string `json:"message,omitempty"`
}

// stepTimeout and slowAfter return the engine's progress deadlines.
func (e *Engine) stepTimeout() time.Duration {
	if e.opts.StepTimeout > 0 {
		return e.opts.StepTimeout
	}
	return DefaultStepTimeout
}

func (e *Engine) slowAfter() time.Duration {
	if e.opts.SlowAfter > 0 {
		return e.opts.SlowAfter
	}
	return min(DefaultSlowAfter, e.stepTimeout()/2)
}

func (e *Engine) progress(p Progress) {
	if e.opts.OnProgress != nil {
		e.opts.OnProgress(p)
	}
}

// stall is the progress deadline of one step: it cancels the step's context
// when nothing moves for the engine's step timeout, and notes the wait in
// the status (lastError) and a progress event after SlowAfter. Its timers
// run on the engine's clock; one goroutine per step waits on them and ends
// with the step.
type stall struct {
	e       *Engine
	step    string
	ctx     context.Context
	cancel  context.CancelCauseFunc
	mu      stdsync.Mutex
	last    time.Time
	dead    clock.Timer
	slow    clock.Timer
	stopped bool
	done    chan struct{} // closed when the watch goroutine returns
}

func (e *Engine) beginStep(ctx context.Context, step string) (context.Context, *stall) {
	ctx, cancel := context.WithCancelCause(ctx)
	clk := e.opts.Clock
	s := &stall{e: e, step: step, ctx: ctx, cancel: cancel, last: clk.Now(), done: make(chan struct{})}
	s.dead = clk.NewTimer(e.stepTimeout())
	s.slow = clk.NewTimer(e.slowAfter())
	go s.watch()
	e.progress(Progress{Step: step})
	return ctx, s
}

// watch fires the deadlines until the step ends (its context is done).
func (s *stall) watch() {
	defer close(s.done)
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.dead.C():
			s.mu.Lock()
			stopped := s.stopped
			s.mu.Unlock()
			if !stopped {
				d := s.e.stepTimeout()
				s.cancel(&StalledError{Step: s.step, After: d})
			}
			return
		case <-s.slow.C():
			s.noteSlow()
		}
	}
}

// kick records progress: the deadlines start again.
func (s *stall) kick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.last = s.e.opts.Clock.Now()
	s.dead.Reset(s.e.stepTimeout())
	s.slow.Reset(s.e.slowAfter())
}

func (s *stall) noteSlow() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	waited := s.e.opts.Clock.Now().Sub(s.last)
	if waited >= time.Second {
		waited = waited.Round(time.Second)
	} else {
		waited = waited.Round(10 * time.Millisecond)
	}
	msg := fmt.Sprintf("waiting for the server: no progress on %s for %v (gives up after %v)", s.step, waited, s.e.stepTimeout())
	ctx := context.Background()
	if st, err := ReadStatus(ctx, s.e.db); err == nil && st.State == StateSyncing {
		st.LastError = msg
		_ = writeStatus(ctx, s.e.db, st)
	}
	s.e.log.Warn("sync waits for the server", "db", s.e.db.Path(), "step", s.step, "waited", waited)
	s.e.progress(Progress{Step: s.step, WaitingMs: waited.Milliseconds(), Message: msg})
	s.slow.Reset(s.e.slowAfter())
}

// end stops the deadlines and returns err, or the StalledError when the
// deadline cut the step.
func (s *stall) end(ctx context.Context, err error) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return err
	}
	s.stopped = true
	s.dead.Stop()
	s.slow.Stop()
	s.mu.Unlock()
	var se *StalledError
	if err != nil && errors.As(context.Cause(ctx), &se) {
		err = fmt.Errorf("%w (%v)", se, err)
	}
	s.cancel(nil)
	<-s.done
	return err
}

// watchdog wraps the engine's client with progress deadlines per call.
type watchdog struct {
	c Client
	e *Engine
}

func (w *watchdog) SynchronizeReplica(ctx context.Context, svcURL string, p arcgis.SyncReplicaParams) (*arcgis.SyncResult, error) {
	ctx, s := w.e.beginStep(ctx, "synchronizeReplica")
	r, err := w.c.SynchronizeReplica(ctx, svcURL, p)
	return r, s.end(ctx, err)
}

func (w *watchdog) WaitReplicaJob(ctx context.Context, statusURL string, interval time.Duration, progress func(*arcgis.ReplicaJobStatus)) (*arcgis.ReplicaJobStatus, error) {
	ctx, s := w.e.beginStep(ctx, "synchronizeReplica job")
	r, err := w.c.WaitReplicaJob(ctx, statusURL, interval, func(st *arcgis.ReplicaJobStatus) {
		s.kick() // every status answer is progress
		if progress != nil {
			progress(st)
		}
	})
	return r, s.end(ctx, err)
}

func (w *watchdog) UnregisterReplica(ctx context.Context, svcURL, replicaID string) error {
	ctx, s := w.e.beginStep(ctx, "unregisterReplica")
	return s.end(ctx, w.c.UnregisterReplica(ctx, svcURL, replicaID))
}

func (w *watchdog) Query(ctx context.Context, layerURL string, p arcgis.QueryParams) (*arcgis.FeatureSet, error) {
	ctx, s := w.e.beginStep(ctx, "query")
	r, err := w.c.Query(ctx, layerURL, p)
	return r, s.end(ctx, err)
}

func (w *watchdog) QueryAll(ctx context.Context, layerURL string, layer *arcgis.Layer, p arcgis.QueryParams, fn func(*arcgis.FeatureSet) error) error {
	ctx, s := w.e.beginStep(ctx, "query")
	return s.end(ctx, w.c.QueryAll(ctx, layerURL, layer, p, func(fs *arcgis.FeatureSet) error {
		s.kick() // a page came
		return fn(fs)
	}))
}

func (w *watchdog) QueryAttachments(ctx context.Context, layerURL string, p arcgis.QueryAttachmentsParams) ([]arcgis.AttachmentGroup, error) {
	ctx, s := w.e.beginStep(ctx, "queryAttachments")
	r, err := w.c.QueryAttachments(ctx, layerURL, p)
	return r, s.end(ctx, err)
}

func (w *watchdog) AttachmentData(ctx context.Context, layerURL string, objectID, attachmentID int64) (io.ReadCloser, string, error) {
	ctx, s := w.e.beginStep(ctx, "attachment download")
	rc, ct, err := w.c.AttachmentData(ctx, layerURL, objectID, attachmentID)
	if err != nil {
		return nil, "", s.end(ctx, err)
	}
	return &kickReader{r: rc, s: s, ctx: ctx}, ct, nil
}

func (w *watchdog) Upload(ctx context.Context, svcURL, fileName string, r io.Reader, description string) (*arcgis.UploadItem, error) {
	ctx, s := w.e.beginStep(ctx, "upload")
	it, err := w.c.Upload(ctx, svcURL, fileName, &kickReader{r: r, s: s}, description)
	return it, s.end(ctx, err)
}

func (w *watchdog) RegisterUpload(ctx context.Context, svcURL, itemName, description string) (*arcgis.UploadItem, error) {
	ctx, s := w.e.beginStep(ctx, "upload")
	it, err := w.c.RegisterUpload(ctx, svcURL, itemName, description)
	return it, s.end(ctx, err)
}

func (w *watchdog) UploadPart(ctx context.Context, svcURL, itemID string, partID int, r io.Reader) error {
	ctx, s := w.e.beginStep(ctx, "upload")
	return s.end(ctx, w.c.UploadPart(ctx, svcURL, itemID, partID, &kickReader{r: r, s: s}))
}

func (w *watchdog) CommitUpload(ctx context.Context, svcURL, itemID string, parts []int) (*arcgis.UploadItem, error) {
	ctx, s := w.e.beginStep(ctx, "upload")
	it, err := w.c.CommitUpload(ctx, svcURL, itemID, parts)
	return it, s.end(ctx, err)
}

func (w *watchdog) Download(ctx context.Context, fileURL string) (io.ReadCloser, error) {
	ctx, s := w.e.beginStep(ctx, "download")
	rc, err := w.c.Download(ctx, fileURL)
	if err != nil {
		return nil, s.end(ctx, err)
	}
	return &kickReader{r: rc, s: s, ctx: ctx}, nil
}

func (w *watchdog) ApplyServiceEdits(ctx context.Context, svcURL string, edits []arcgis.LayerEdits, useGlobalIDs bool, rollbackOnFailure *bool) ([]arcgis.LayerEditResults, error) {
	ctx, s := w.e.beginStep(ctx, "applyEdits")
	r, err := w.c.ApplyServiceEdits(ctx, svcURL, edits, useGlobalIDs, rollbackOnFailure)
	return r, s.end(ctx, err)
}

func (w *watchdog) Layer(ctx context.Context, layerURL string) (*arcgis.Layer, error) {
	ctx, s := w.e.beginStep(ctx, "layer")
	r, err := w.c.Layer(ctx, layerURL)
	return r, s.end(ctx, err)
}

// kickReader counts every read as progress of its step; a body (ctx set)
// ends the step when closed, and a read the deadline cut says so.
type kickReader struct {
	r   io.Reader
	s   *stall
	ctx context.Context
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	if n > 0 {
		k.s.kick()
	}
	if err != nil && err != io.EOF && k.ctx != nil {
		var se *StalledError
		if errors.As(context.Cause(k.ctx), &se) {
			err = fmt.Errorf("%w (%v)", se, err)
		}
	}
	return n, err
}

func (k *kickReader) Close() error {
	var err error
	if c, ok := k.r.(io.Closer); ok {
		err = c.Close()
	}
	if k.ctx != nil {
		k.s.end(k.ctx, nil)
	}
	return err
}
