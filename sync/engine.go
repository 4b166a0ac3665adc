package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
)

// ErrNeedsAuth is returned (wrapped) when the server rejects the
// credentials and they cannot be renewed. Every edit is kept.
var ErrNeedsAuth = errors.New("sync needs authentication")

// ErrBusy is returned by TrySync when a sync of the same replica runs.
var ErrBusy = errors.New("sync already running")

// Step names a point of a sync where Hooks.At is called.
type Step string

// Steps, in order.
const (
	StepBeforeUpload Step = "beforeUpload" // journal written, nothing sent
	StepAfterSend    Step = "afterSend"    // server answered, nothing applied
	StepBeforeApply  Step = "beforeApply"  // answer decoded, about to commit
	StepAfterApply   Step = "afterApply"   // committed
)

// Hooks inject failures in tests: a non-nil error from At aborts the sync
// at that step as a crash would.
type Hooks struct {
	At func(ctx context.Context, s Step) error
}

// Options configure an Engine.
type Options struct {
	Logger *slog.Logger
	Hooks  Hooks
	// PollInterval for async jobs (0: the client's).
	PollInterval time.Duration
	// DefaultPolicy is the conflict policy of a store whose configuration
	// names none (empty: LastSyncWins).
	DefaultPolicy Policy
	// Defaults are the daemon-wide sync direction and rollbackOnFailure of
	// stores whose configuration sets none.
	Defaults Defaults
	// StepTimeout is the progress deadline of one server step (a request,
	// a body without a byte, an async job without a status): past it the
	// sync ends with a *StalledError (default DefaultStepTimeout).
	StepTimeout time.Duration
	// SlowAfter is how long a step may make no progress before the wait
	// is noted in the status's lastError and a progress event (default
	// DefaultSlowAfter, at most half of StepTimeout).
	SlowAfter time.Duration
	// OnProgress, if set, receives the progress events of every sync
	// (manual or background).
	OnProgress func(Progress)
	// Clock drives the step deadlines (StepTimeout, SlowAfter); default the
	// real clock, tests pass a fake.
	Clock clock.Clock
}

// Engine syncs one GeoPackage (one replica or one service) with its
// feature service. One sync runs at a time.
type Engine struct {
	db   *geodb.DB
	c    Client
	opts Options
	log  *slog.Logger
	mu   stdsync.Mutex

	runMu     stdsync.Mutex
	cancelRun context.CancelFunc // of the running sync
}

// New returns an engine for db using client c.
func New(db *geodb.DB, c Client, opts Options) *Engine {
	l := opts.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	e := &Engine{db: db, opts: opts, log: l}
	e.c = &watchdog{c: c, e: e}
	return e
}

// Cancel ends the running sync, if any (it fails with context.Canceled;
// its edits are kept). It reports whether one was running.
func (e *Engine) Cancel() bool {
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.cancelRun == nil {
		return false
	}
	e.cancelRun()
	return true
}

// DB returns the engine's GeoPackage.
func (e *Engine) DB() *geodb.DB { return e.db }

func (e *Engine) hook(ctx context.Context, s Step) error {
	if e.opts.Hooks.At == nil {
		return nil
	}
	if err := e.opts.Hooks.At(ctx, s); err != nil {
		return fmt.Errorf("hook at %s: %w", s, err)
	}
	return nil
}

// Status returns the persisted sync status.
func (e *Engine) Status(ctx context.Context) (Status, error) { return ReadStatus(ctx, e.db) }

// TrySync runs Sync unless one is already running (then ErrBusy).
func (e *Engine) TrySync(ctx context.Context) (*Report, error) {
	if !e.mu.TryLock() {
		return nil, ErrBusy
	}
	defer e.mu.Unlock()
	return e.syncLocked(ctx)
}

// Sync uploads pending edits and attachments and downloads server changes.
// It waits for a running sync of the same engine to end first.
func (e *Engine) Sync(ctx context.Context) (*Report, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.syncLocked(ctx)
}

// SetPolicy stores p as the conflict policy in the store's sync
// configuration (kept across restarts); it takes effect from the next sync.
func (e *Engine) SetPolicy(ctx context.Context, p Policy) error {
	if _, err := ParsePolicy(string(p)); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cfg, err := LoadConfig(ctx, e.db)
	if err != nil {
		return err
	}
	cfg.Policy = p
	return SaveConfig(ctx, e.db, cfg)
}

// Policy returns the conflict policy the next sync uses.
func (e *Engine) Policy(ctx context.Context) (Policy, error) {
	cfg, err := LoadConfig(ctx, e.db)
	if err != nil {
		return "", err
	}
	if cfg.Policy == "" {
		cfg.Policy = e.opts.DefaultPolicy
	}
	return cfg.withDefaults().Policy, nil
}

func (e *Engine) syncLocked(ctx context.Context) (*Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	e.runMu.Lock()
	e.cancelRun = cancel
	e.runMu.Unlock()
	defer func() {
		e.runMu.Lock()
		e.cancelRun = nil
		e.runMu.Unlock()
		cancel()
	}()
	st, _ := ReadStatus(ctx, e.db)
	st.State, st.LastAttempt = StateSyncing, time.Now().UTC()
	_ = writeStatus(ctx, e.db, st)
	rep := &Report{}
	failures, err := e.run(ctx, rep)
	st.EditErrors = failures
	st.LastReport = rep
	switch {
	case err == nil:
		st.State, st.LastSuccess, st.LastError = StateIdle, time.Now().UTC(), ""
	case errors.Is(err, ErrNeedsAuth):
		st.State, st.LastError = StateNeedsAuth, err.Error()
	case isOffline(err):
		st.State, st.LastError = StateOffline, err.Error()
	default:
		st.State, st.LastError = StateError, err.Error()
	}
	if failures == nil && err != nil {
		if prev, _ := ReadStatus(context.WithoutCancel(ctx), e.db); prev.EditErrors != nil {
			st.EditErrors = prev.EditErrors
		}
	}
	if werr := writeStatus(context.WithoutCancel(ctx), e.db, st); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return rep, fmt.Errorf("sync %s: %w", e.db.Path(), err)
	}
	return rep, nil
}

// run is one sync. It returns the per-edit failures of the upload.
func (e *Engine) run(ctx context.Context, rep *Report) ([]EditFailure, error) {
	c, err := LoadConfig(ctx, e.db)
	if err != nil {
		return nil, err
	}
	c = e.opts.Defaults.effective(c)
	if c.Policy == "" {
		c.Policy = e.opts.DefaultPolicy
	}
	cfg := c.withDefaults()
	if err := e.checkSchema(ctx, &cfg, rep); err != nil {
		return nil, classify(err)
	}
	if cfg.Mode == ModeSnapshot {
		return nil, classify(e.refreshSnapshot(ctx, &cfg, rep))
	}
	round := e.runReplica
	if cfg.Mode == ModeApplyEdits {
		round = e.runApplyEdits
	}
	failures, err := round(ctx, &cfg, rep)
	if err != nil || !(rep.Recovered || rep.resumed) {
		return failures, err
	}
	// The first round finished an interrupted batch; edits made after it
	// was cut go up in a second round of the same sync.
	more := &Report{}
	failures2, err := round(ctx, &cfg, more)
	rep.merge(more)
	return append(failures, failures2...), err
}

// classify turns authentication failures into ErrNeedsAuth.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if arcgis.IsAuth(err) || arcgis.IsForbidden(err) {
		return fmt.Errorf("%w: %w", ErrNeedsAuth, err)
	}
	return err
}

// isOffline reports a failure to reach the server at all.
func isOffline(err error) bool {
	var se *StalledError
	if errors.As(err, &se) {
		return true // a hung server: retried with the offline backoff
	}
	var ae *arcgis.Error
	if errors.As(err, &ae) {
		return false
	}
	var he *arcgis.HTTPError
	if errors.As(err, &he) {
		return false
	}
	return !errors.Is(err, ErrNeedsAuth) && !errors.Is(err, context.Canceled) && isNetErr(err)
}
