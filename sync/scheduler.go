package sync

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	stdsync "sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/offlined/offlined/internal/clock"
)

// Prober checks cheaply whether the server is reachable.
type Prober func(ctx context.Context) error

// HTTPProber probes url with a GET (any HTTP answer means reachable).
func HTTPProber(hc *http.Client, url string) Prober {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
}

// SchedulerOptions tune a Scheduler. Zero values take the defaults.
type SchedulerOptions struct {
	// Interval between periodic syncs (default 15 min; negative: none).
	Interval time.Duration
	// Debounce delays a sync after a local change (default 2 s).
	Debounce time.Duration
	// ProbeMin and ProbeMax bound the exponential backoff of the
	// connectivity probe while offline (default 5 s and 10 min): the delay
	// doubles after each failed probe or sync and goes back to ProbeMin
	// only after a sync succeeds.
	ProbeMin, ProbeMax time.Duration
	// Probe checks connectivity; nil means "try the sync itself".
	Probe  Prober
	Logger *slog.Logger
	// Clock drives the timers (default the real clock; tests pass a fake).
	Clock clock.Clock
	// OnSync, if set, is called after every sync attempt.
	OnSync func(rep *Report, err error)
	// OnStart, if set, is called when a sync starts.
	OnStart func()
	// ChangePoll is how soon after activity (a write by another process,
	// seen as a file event; not this process's own writes, such as a
	// sync's status) the change log's sequence counter is read again to find
	// edits whose file event was missed or came before their commit was
	// visible (default 2 s; negative: never). While nothing changes the
	// poll backs off, doubling up to ProbeMax; idle, it starts at ProbeMin,
	// so an idle scheduler arms no timer shorter than the probe's backoff.
	ChangePoll time.Duration
	// NoFileWatch turns off fsnotify on the GeoPackage: writes by other
	// processes are then seen on the interval only. Tests on a fake Clock
	// set it, since real file events arrive in real time.
	NoFileWatch bool
}

// Scheduler runs an engine's syncs in the background: on local change
// (geodb notifications and fsnotify on the GeoPackage files for writes by
// other processes, debounced), on an interval, when connectivity returns
// and on SyncNow. One sync runs at a time.
type Scheduler struct {
	e    *Engine
	opts SchedulerOptions
	log  *slog.Logger
	now  chan chan result
	wg   stdsync.WaitGroup
	// fileEvents carries writes to the GeoPackage seen by fsnotify (tests
	// without file watching send on it to model them).
	fileEvents chan struct{}
}

type result struct {
	rep *Report
	err error
}

// NewScheduler returns a scheduler for e; call Run to start it.
func NewScheduler(e *Engine, opts SchedulerOptions) *Scheduler {
	if opts.Interval == 0 {
		opts.Interval = 15 * time.Minute
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 2 * time.Second
	}
	if opts.ProbeMin <= 0 {
		opts.ProbeMin = 5 * time.Second
	}
	if opts.ProbeMax <= 0 {
		opts.ProbeMax = 10 * time.Minute
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.ChangePoll == 0 {
		opts.ChangePoll = 2 * time.Second
	}
	l := opts.Logger
	if l == nil {
		l = e.log
	}
	return &Scheduler{e: e, opts: opts, log: l, now: make(chan chan result), fileEvents: make(chan struct{}, 1)}
}

// SyncNow asks the running scheduler for a sync and waits for its result.
func (s *Scheduler) SyncNow(ctx context.Context) (*Report, error) {
	reply := make(chan result, 1)
	select {
	case s.now <- reply:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case r := <-reply:
		return r.rep, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run schedules syncs until ctx ends; every goroutine it starts has
// stopped when it returns.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		s.wg.Wait()
	}()
	changed, unsub := s.e.db.Changed()
	defer unsub()
	fileEvents := s.fileEvents
	if s.opts.NoFileWatch {
		// writes by other processes are seen on the interval only
	} else if w, err := fsnotify.NewWatcher(); err != nil {
		s.log.Warn("no file watching; writes by other processes are seen on the interval only", "err", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(s.e.db.Path())); err != nil {
			s.log.Warn("watch package directory", "err", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			base := filepath.Base(s.e.db.Path())
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.Events:
					if !ok {
						return
					}
					if n := filepath.Base(ev.Name); (n == base || n == base+"-wal") && ev.Has(fsnotify.Write) {
						select {
						case fileEvents <- struct{}{}:
						default:
						}
					}
				case _, ok := <-w.Errors:
					if !ok {
						return
					}
				}
			}
		}()
	}
	clk := s.opts.Clock
	var interval <-chan time.Time
	var intervalTimer clock.Timer
	if s.opts.Interval > 0 {
		intervalTimer = clk.NewTimer(s.opts.Interval)
		defer intervalTimer.Stop()
		interval = intervalTimer.C()
	}
	debounce := clk.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	probe := clk.NewTimer(time.Hour)
	probe.Stop()
	defer probe.Stop()
	probeArmed := false
	backoff := s.opts.ProbeMin
	offline := false
	// lastSeq is the change counter when the last sync cut its batch:
	// pending local work is a counter past it, whatever the file events
	// said (an event can come before its commit is visible, or be lost).
	lastSeq, _ := s.e.db.ChangeCounter(ctx)
	// own is the files' stamp after this process's last write that the
	// scheduler saw (its syncs, and commits announced on changed): a file
	// event finding them so is that write's own echo, bookkeeping such as
	// a sync's status, and no activity. (An outside write in the instant
	// between a write and its stamp is taken for it; the change poll still
	// finds its edits.)
	own := stampOf(s.e.db.Path())
	pendingLocal := func() bool {
		seq, err := s.e.db.ChangeCounter(ctx)
		return err == nil && seq > lastSeq
	}
	var poll <-chan time.Time
	var pollTimer clock.Timer
	// pollDelay is the change poll's next delay: ChangePoll after activity,
	// doubling while polls find nothing, at most max(ProbeMax, ChangePoll).
	pollDelay := max(s.opts.ChangePoll, s.opts.ProbeMin)
	pollMax := max(s.opts.ProbeMax, s.opts.ChangePoll)
	if s.opts.ChangePoll > 0 {
		pollTimer = clk.NewTimer(pollDelay)
		defer pollTimer.Stop()
		poll = pollTimer.C()
	}
	// activity polls again soon: a file event or change can come before
	// the write it announces is visible.
	activity := func() {
		if pollTimer != nil && pollDelay > s.opts.ChangePoll {
			pollDelay = s.opts.ChangePoll
			pollTimer.Reset(pollDelay)
		}
	}
	// hasWork: local edits to send (an interrupted upload keeps its edits
	// pending until the server acknowledges them). A journal alone, left by
	// a failed download, waits for the interval like any download.
	hasWork := func() bool {
		if pendingLocal() {
			return true
		}
		st, err := ReadStatus(ctx, s.e.db)
		return err == nil && st.PendingEdits > 0
	}
	// syncDue: the debounce timer runs for known work; otherwise it runs
	// for a file event, whose write is checked when it fires (an event can
	// arrive before the other process's transaction is committed).
	syncDue := false
	// A journal or pending edits left by an earlier run: sync at start.
	if st, err := ReadStatus(ctx, s.e.db); err == nil && (st.JournalOpen || st.PendingEdits > 0) {
		syncDue = true
		debounce.Reset(0)
	}
	// waiting: offline with work to send and a probe armed for it. The
	// sync the probe starts sends every pending edit, whoever wrote it, so
	// meanwhile file events (the failed sync's own status writes among
	// them) and the change poll have nothing to add: they would wake the
	// scheduler more often than the probe's backoff.
	waiting := func() bool { return offline && probeArmed }
	pollPaused := false
	// armProbe waits backoff before the next probe while offline, but only
	// when there is something to send: with nothing pending the interval
	// (or the next local change) tries again, so an idle device offline
	// does not wake up every few seconds.
	armProbe := func() {
		if hasWork() {
			probe.Reset(backoff)
			probeArmed = true
			if pollTimer != nil {
				pollTimer.Stop()
				pollPaused = true
			}
			return
		}
		probe.Stop()
		probeArmed = false
	}
	doSync := func() result {
		seq, _ := s.e.db.ChangeCounter(ctx)
		if s.opts.OnStart != nil {
			s.opts.OnStart()
		}
		rep, err := s.e.Sync(ctx)
		lastSeq = seq
		own = stampOf(s.e.db.Path())
		if s.opts.OnSync != nil {
			s.opts.OnSync(rep, err)
		}
		switch {
		case err == nil:
			offline, backoff = false, s.opts.ProbeMin
			probe.Stop()
			probeArmed = false
		case isOffline(err) && ctx.Err() == nil:
			if offline {
				backoff = min(backoff*2, s.opts.ProbeMax)
			} else {
				offline, backoff = true, s.opts.ProbeMin
			}
			armProbe()
		case errors.Is(err, ErrNeedsAuth):
			offline = false
			s.log.Warn("sync waits for credentials", "db", s.e.db.Path(), "err", err)
		default:
			offline = false
			s.log.Warn("sync failed", "db", s.e.db.Path(), "err", err)
		}
		return result{rep, err}
	}
	// probeThenSync syncs if the probe (when there is one) finds the server;
	// a failed probe doubles the backoff like a failed sync.
	probeThenSync := func() {
		if s.opts.Probe != nil {
			s.log.Debug("sync probe sent", "db", s.e.db.Path())
			if err := s.opts.Probe(ctx); err != nil {
				if ctx.Err() == nil {
					backoff = min(backoff*2, s.opts.ProbeMax)
					armProbe()
				}
				return
			}
		}
		doSync()
	}
	for {
		// The poll paused while waiting for the probe resumes once the
		// wait ends (a sync went through, or nothing is left to send).
		if pollPaused && !waiting() {
			pollPaused = false
			pollDelay = s.opts.ChangePoll
			pollTimer.Reset(pollDelay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case reply := <-s.now:
			reply <- doSync()
		case <-changed:
			own = stampOf(s.e.db.Path())
			if pendingLocal() {
				syncDue = true
				debounce.Reset(s.opts.Debounce)
			}
		case <-fileEvents:
			if waiting() {
				continue
			}
			if pendingLocal() {
				// a visible outside edit: as a local change
				syncDue = true
				debounce.Reset(s.opts.Debounce)
				continue
			}
			if stampOf(s.e.db.Path()).same(own) {
				// The echo of this process's own write (the last sync's
				// status among them): nothing for the poll or the
				// debounce to find, so no timer is armed for it.
				continue
			}
			activity()
			debounce.Reset(s.opts.Debounce)
		case <-poll:
			s.log.Debug("sync scheduler woke", "timer", "poll", "db", s.e.db.Path())
			if waiting() {
				pollPaused = true // resumed below once the wait ends
				continue
			}
			if !syncDue && pendingLocal() {
				syncDue = true
				debounce.Reset(s.opts.Debounce)
				pollDelay = s.opts.ChangePoll
			} else {
				pollDelay = min(pollDelay*2, pollMax)
			}
			pollTimer.Reset(pollDelay)
		case <-debounce.C():
			s.log.Debug("sync scheduler woke", "timer", "debounce", "db", s.e.db.Path())
			due := syncDue || pendingLocal()
			syncDue = false
			switch {
			case !due:
			case !offline:
				doSync()
			case !probeArmed:
				armProbe()
			}
		case <-interval:
			s.log.Debug("sync scheduler woke", "timer", "interval", "db", s.e.db.Path())
			intervalTimer.Reset(s.opts.Interval)
			if offline {
				if !probeArmed {
					probeThenSync()
				}
				continue
			}
			doSync()
		case <-probe.C():
			s.log.Debug("sync scheduler woke", "timer", "probe", "db", s.e.db.Path())
			probeArmed = false
			probeThenSync()
		}
	}
}
