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
	// connectivity probe while offline (default 5 s and 10 min).
	ProbeMin, ProbeMax time.Duration
	// Probe checks connectivity; nil means "try the sync itself".
	Probe  Prober
	Logger *slog.Logger
	// OnSync, if set, is called after every sync attempt.
	OnSync func(rep *Report, err error)
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
	l := opts.Logger
	if l == nil {
		l = e.log
	}
	return &Scheduler{e: e, opts: opts, log: l, now: make(chan chan result)}
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
	fileEvents := make(chan struct{}, 1)
	if w, err := fsnotify.NewWatcher(); err != nil {
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
	var interval <-chan time.Time
	if s.opts.Interval > 0 {
		t := time.NewTicker(s.opts.Interval)
		defer t.Stop()
		interval = t.C
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	probe := time.NewTimer(time.Hour)
	probe.Stop()
	defer probe.Stop()
	backoff := s.opts.ProbeMin
	offline := false
	lastSeq, _ := s.e.db.LastChangeSeq(ctx)
	pendingLocal := func() bool {
		seq, err := s.e.db.LastChangeSeq(ctx)
		if err != nil || seq == lastSeq {
			return false
		}
		return true
	}
	// A journal or pending edits left by an earlier run: sync at start.
	if st, err := ReadStatus(ctx, s.e.db); err == nil && (st.JournalOpen || st.PendingEdits > 0) {
		debounce.Reset(0)
	}
	doSync := func() result {
		seq, _ := s.e.db.LastChangeSeq(ctx)
		rep, err := s.e.Sync(ctx)
		lastSeq = seq
		if s.opts.OnSync != nil {
			s.opts.OnSync(rep, err)
		}
		switch {
		case err == nil:
			offline, backoff = false, s.opts.ProbeMin
			probe.Stop()
		case isOffline(err) && ctx.Err() == nil:
			if !offline {
				offline = true
				backoff = s.opts.ProbeMin
			}
			probe.Reset(backoff)
		case errors.Is(err, ErrNeedsAuth):
			s.log.Warn("sync waits for credentials", "db", s.e.db.Path(), "err", err)
		default:
			s.log.Warn("sync failed", "db", s.e.db.Path(), "err", err)
		}
		return result{rep, err}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case reply := <-s.now:
			reply <- doSync()
		case <-changed:
			if pendingLocal() {
				debounce.Reset(s.opts.Debounce)
			}
		case <-fileEvents:
			if pendingLocal() {
				debounce.Reset(s.opts.Debounce)
			}
		case <-debounce.C:
			if !offline {
				doSync()
			}
		case <-interval:
			if !offline {
				doSync()
			}
		case <-probe.C:
			err := error(nil)
			if s.opts.Probe != nil {
				err = s.opts.Probe(ctx)
			}
			if err == nil {
				offline = false
				doSync() // resets or doubles the backoff
				if offline {
					backoff = min(backoff*2, s.opts.ProbeMax)
					probe.Reset(backoff)
				}
				continue
			}
			backoff = min(backoff*2, s.opts.ProbeMax)
			probe.Reset(backoff)
		}
	}
}
