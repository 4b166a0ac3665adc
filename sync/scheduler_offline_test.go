package sync

import (
	"context"
	"errors"
	"log/slog"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
)

// wakeLog records the scheduler's "sync scheduler woke" debug lines with
// the fake clock's time.
type wakeLog struct {
	clk   *clock.Fake
	mu    stdsync.Mutex
	wakes []wake
}

type wake struct {
	at    time.Time
	timer string
}

func (w *wakeLog) Enabled(context.Context, slog.Level) bool { return true }
func (w *wakeLog) WithAttrs([]slog.Attr) slog.Handler       { return w }
func (w *wakeLog) WithGroup(string) slog.Handler            { return w }
func (w *wakeLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "sync scheduler woke" {
		return nil
	}
	wk := wake{at: w.clk.Now()}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "timer" {
			wk.timer = a.Value.String()
		}
		return true
	})
	w.mu.Lock()
	w.wakes = append(w.wakes, wk)
	w.mu.Unlock()
	return nil
}

// Bug: offline with pending edits, each failed sync's own status write
// reached the scheduler as a file event, which re-armed the debounce and
// reset the change poll to 2 s (then 4, 8, 16 s…): between two probes the
// daemon woke several times, more often than the probe's backoff. While a
// probe waits for the server, only the probe's timer fires.
func TestSchedulerOfflineWakesOnlyForProbes(t *testing.T) {
	for name, probe := range map[string]Prober{
		"probe fails":   func(context.Context) error { return errors.New("dial tcp: connection refused") },
		"sync as probe": nil, // the daemon without a portal: each probe is a sync attempt
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			eng := offlineEngine(t, f)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			log := &wakeLog{clk: clk}
			var s *Scheduler
			var firstSync time.Time
			syncs := 0
			// Defaults for the poll (2 s), debounce and backoff, as in the
			// daemon; no real file watching on a fake clock: every sync
			// attempt sends the file event its status write causes.
			s = NewScheduler(eng, SchedulerOptions{Interval: -1, Clock: clk, NoFileWatch: true, Probe: probe, Logger: slog.New(log),
				OnSync: func(_ *Report, err error) {
					if !isOffline(err) {
						t.Errorf("sync error %v, want offline", err)
					}
					if syncs == 0 {
						firstSync = clk.Now()
					}
					syncs++
					select {
					case s.fileEvents <- struct{}{}:
					default:
					}
				}})
			simRun(t, s, clk, time.Hour, func(context.Context) { addLocal(t, f, 1, "offline") })
			if syncs == 0 {
				t.Fatal("no sync attempted")
			}
			var probes []time.Time
			others := map[string]int{}
			for _, w := range log.wakes {
				switch {
				case !w.at.After(firstSync):
				case w.timer == "probe":
					probes = append(probes, w.at)
				default:
					others[w.timer]++
				}
			}
			if len(others) > 0 {
				t.Errorf("offline with a probe armed, the scheduler also woke for %v in an hour; want probe wakeups only", others)
			}
			// Gaps between probes: the first probe waited ProbeMin, so the
			// second waits twice that, doubling up to the cap. (The gap from
			// the first sync to the first probe is not exact: the fake clock
			// may move on while the sync runs, as the real one does.)
			if len(probes) == 0 || probes[0].Sub(firstSync) < s.opts.ProbeMin {
				t.Errorf("first probe %v after the first sync, want at least %v", probes, s.opts.ProbeMin)
			}
			got := gaps(probes)
			if len(got) < 7 || got[0] != 2*s.opts.ProbeMin || got[len(got)-1] != s.opts.ProbeMax {
				t.Errorf("probe gaps %v, want doubling from %v to the cap %v", got, 2*s.opts.ProbeMin, s.opts.ProbeMax)
			}
			for i := 1; i < len(got); i++ {
				if want := min(2*got[i-1], s.opts.ProbeMax); got[i] != want {
					t.Errorf("probe gap %d is %v after %v, want %v", i, got[i], got[i-1], want)
				}
			}
		})
	}
}
