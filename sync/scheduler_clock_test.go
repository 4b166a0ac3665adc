package sync

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/testutil"
)

// offlineEngine returns an engine on f's store whose feature service is a
// closed port: every sync fails as offline.
func offlineEngine(t *testing.T, f *fixture) *Engine {
	t.Helper()
	ctx := context.Background()
	dead, err := arcgis.New(arcgis.WithPortal("http://127.0.0.1:1/sharing/rest"), arcgis.WithRetryPolicy(fastRetry()))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(ctx, f.db)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServiceURL = "http://127.0.0.1:1/arcgis/rest/services/Field_Survey/FeatureServer"
	if err := SaveConfig(ctx, f.db, cfg); err != nil {
		t.Fatal(err)
	}
	return New(f.db, dead, Options{})
}

// These tests model the interval, debounce and probe timers only: the
// change-log poll (ChangePoll) is off.

// simRun runs s on a fake clock for the simulated duration d, firing each
// timer the scheduler arms; it returns once Run has returned.
func simRun(t *testing.T, s *Scheduler, clk *clock.Fake, d time.Duration, before func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	before(ctx)
	end := clk.Now().Add(d)
	for {
		// The scheduler re-arms a timer as the last step of handling one;
		// none armed means it is still working (or, past the first step,
		// has nothing left to wait for, which the caller asserts).
		testutil.Eventually(t, "the scheduler to arm a timer", func() bool { return clk.Armed() > 0 })
		next, _ := clk.Next()
		if next.After(end) {
			break
		}
		clk.AdvanceToNext()
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
}

func gaps(ts []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]))
	}
	return out
}

// The doubling backoff while offline, capped at ProbeMax: 5 s … 10 min.
var wantGaps = []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
	160 * time.Second, 320 * time.Second, 600 * time.Second, 600 * time.Second, 600 * time.Second, 600 * time.Second}

// Bug: a probe that finds the portal while the sync still fails as offline
// (or no probe at all) reset the backoff, so the daemon ran a full sync
// every 2×ProbeMin (10 s) for as long as it was offline.
func TestSchedulerBackoffGrowsWhenProbeSucceedsButSyncFails(t *testing.T) {
	for name, probe := range map[string]Prober{
		"probe reaches the portal": func(context.Context) error { return nil },
		"no probe":                 nil,
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			eng := offlineEngine(t, f)
			clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			var syncs []time.Time
			s := NewScheduler(eng, SchedulerOptions{Interval: -1, Debounce: time.Second, Clock: clk, Probe: probe, ChangePoll: -1, NoFileWatch: true,
				OnSync: func(_ *Report, err error) {
					syncs = append(syncs, clk.Now())
					if !isOffline(err) {
						t.Errorf("sync error %v, want offline", err)
					}
				}})
			simRun(t, s, clk, time.Hour, func(context.Context) { addLocal(t, f, 1, "offline") })
			// No file watching: a real fsnotify event (the test's and the
			// sync's own writes, arriving in real time) armed the debounce
			// at a fake-clock moment that depended on the machine's load
			// and shifted a retry by 1 s under -race.
			if got := gaps(syncs); !slices.Equal(got, wantGaps) {
				t.Errorf("%d syncs in a simulated hour offline, gaps %v; want %d with gaps %v", len(syncs), got, len(wantGaps)+1, wantGaps)
			}
		})
	}
}

// A failing probe doubles the backoff too and costs no sync.
func TestSchedulerFailingProbeBacksOff(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	eng := offlineEngine(t, f)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var probes []time.Time
	syncs := 0
	s := NewScheduler(eng, SchedulerOptions{Interval: -1, Debounce: time.Second, Clock: clk, ChangePoll: -1, NoFileWatch: true,
		Probe: func(context.Context) error {
			probes = append(probes, clk.Now())
			return errors.New("dial tcp: connection refused")
		},
		OnSync: func(*Report, error) { syncs++ }})
	simRun(t, s, clk, time.Hour, func(context.Context) { addLocal(t, f, 1, "offline") })
	if syncs != 1 {
		t.Errorf("%d syncs, want 1 (the first attempt; then only probes)", syncs)
	}
	// The first probe comes ProbeMin after the failed sync.
	if got := gaps(probes); !slices.Equal(got, wantGaps[1:]) {
		t.Errorf("%d probes, gaps %v; want gaps %v", len(probes), got, wantGaps[1:])
	}
	if st, _ := eng.Status(context.Background()); st.State != StateOffline || st.PendingEdits != 1 {
		t.Errorf("status %+v, want offline with the edit kept", st)
	}
}

// Offline with nothing to send: no probe is armed (the interval or the
// next local change tries again).
func TestSchedulerNoProbesWithNothingToSync(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	eng := offlineEngine(t, f)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var probes []time.Time
	start := clk.Now()
	// The debounce (file events from the sync's own writes) is set past the
	// window so the only timers are the interval and a probe, if armed.
	s := NewScheduler(eng, SchedulerOptions{Interval: 15 * time.Minute, Debounce: 2 * time.Hour, Clock: clk, ChangePoll: -1, NoFileWatch: true,
		Probe: func(context.Context) error {
			probes = append(probes, clk.Now())
			return errors.New("dial tcp: connection refused")
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	if _, err := s.SyncNow(ctx); !isOffline(err) {
		t.Errorf("SyncNow: %v, want offline", err)
	}
	// SyncNow has answered, so the scheduler is idle: the next timer is the
	// interval, not a probe a few seconds away.
	if next, _ := clk.Next(); !next.Equal(start.Add(15 * time.Minute)) {
		t.Errorf("next timer at %v after a failed sync with nothing to send, want the interval at %v (no probe)", next, start.Add(15*time.Minute))
	}
	// Three intervals; each is re-armed before its probe runs.
	for i := 1; i <= 3; i++ {
		want := start.Add(time.Duration(i) * 15 * time.Minute)
		testutil.Eventually(t, "the interval armed for "+want.String(), func() bool { n, _ := clk.Next(); return n.Equal(want) })
		clk.AdvanceToNext()
	}
	testutil.Eventually(t, "the last interval re-armed", func() bool { n, _ := clk.Next(); return n.Equal(start.Add(time.Hour)) })
	cancel()
	<-done
	// Only the interval tries again: 15, 30 and 45 minutes.
	if len(probes) != 3 {
		t.Errorf("probes at %v in 45 minutes offline with nothing to send, want one per interval (3)", probes)
	}
}
