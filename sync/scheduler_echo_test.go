package sync

import (
	"context"
	"errors"
	"log/slog"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/testutil"
)

// Bug: a store with nothing to send (the daemon's Reference_Data) woke 8
// times in the 10 minutes after each interval's sync: the sync wrote the store's
// status, the file event of that write counted as activity, and the change
// poll went back to 2 s and backed off again from there (2, 4, 8… s), with
// a debounce 2 s after the sync besides. The store's own writes are no
// activity: after the interval's sync only the interval and the poll,
// still on its backoff, wake the store, never sooner than ProbeMin after
// the wakeup before. The same holds online, where the sync succeeds.
func TestSchedulerOwnWritesAreNoActivity(t *testing.T) {
	for _, name := range []string{"offline", "online"} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			eng := f.eng
			if name == "offline" {
				eng = offlineEngine(t, f)
			}
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			log := &wakeLog{clk: clk}
			var mu stdsync.Mutex
			var syncErrs []error
			var s *Scheduler
			// The daemon's defaults (interval 15 min, poll 2 s, debounce 2 s,
			// backoff 5 s to 10 min); no real file watching on a fake clock:
			// every sync sends the file event its own status write causes.
			s = NewScheduler(eng, SchedulerOptions{Clock: clk, NoFileWatch: true, Logger: slog.New(log),
				OnSync: func(_ *Report, err error) {
					mu.Lock()
					syncErrs = append(syncErrs, err)
					mu.Unlock()
					select {
					case s.fileEvents <- struct{}{}:
					default:
					}
				}})
			syncs := func() int { mu.Lock(); defer mu.Unlock(); return len(syncErrs) }
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			// Run arms the interval first and the poll last.
			testutil.Eventually(t, "the interval and the poll armed", func() bool { return clk.Armed() == 2 })
			// Lock step: fire the next timer only once the scheduler has
			// handled the one before (its wakeup logged, its timer re-armed,
			// its sync done and the sync's file event taken), so the fake
			// clock never moves while the scheduler works.
			end := clk.Now().Add(5*s.opts.Interval + time.Minute)
			for {
				testutil.Eventually(t, "the scheduler to arm a timer", func() bool { return clk.Armed() > 0 })
				if next, _ := clk.Next(); next.After(end) {
					break
				}
				woke, resets, synced := len(log.snapshot()), clk.Resets(), syncs()
				clk.AdvanceToNext()
				testutil.Eventually(t, "the scheduler to wake", func() bool { return len(log.snapshot()) > woke })
				switch w := log.snapshot(); w[len(w)-1].timer {
				case "interval":
					testutil.Eventually(t, "the interval's sync", func() bool { return syncs() > synced })
					testutil.Eventually(t, "the sync's file event taken", func() bool { return len(s.fileEvents) == 0 })
				case "poll":
					testutil.Eventually(t, "the poll re-armed", func() bool { return clk.Resets() > resets })
				}
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("Run returned %v", err)
			}
			mu.Lock()
			errs := append([]error(nil), syncErrs...)
			mu.Unlock()
			if len(errs) != 5 {
				t.Fatalf("%d syncs in 76 minutes, want 5 (the interval's)", len(errs))
			}
			for _, err := range errs {
				if (name == "offline") != isOffline(err) || (name == "online" && err != nil) {
					t.Fatalf("sync error %v, want %s", err, name)
				}
			}
			var after []wake
			for _, w := range log.snapshot() {
				if len(after) > 0 || w.timer == "interval" {
					after = append(after, w)
				}
			}
			polls := 0
			for i, w := range after {
				if i > 0 {
					if gap := w.at.Sub(after[i-1].at); gap < s.opts.ProbeMin {
						t.Errorf("%s woke %v after the %s wakeup at %v, sooner than the probe's backoff %v",
							w.timer, gap, after[i-1].timer, after[i-1].at.Format("15:04:05"), s.opts.ProbeMin)
					}
				}
				switch w.timer {
				case "interval":
					polls = 0
				case "poll":
					// at the cap (10 min) by the first interval: at most two
					// between two intervals 15 min apart
					if polls++; polls > 2 {
						t.Errorf("poll wakeup %d between two intervals at %v", polls, w.at.Format("15:04:05"))
					}
				default:
					t.Errorf("%s wakeup at %v with nothing to send", w.timer, w.at.Format("15:04:05"))
				}
			}
			for _, w := range after {
				t.Logf("woke at %v: %s", w.at.Format("15:04:05"), w.timer)
			}
		})
	}
}

// snapshot returns the wakeups logged so far.
func (w *wakeLog) snapshot() []wake {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]wake(nil), w.wakes...)
}
