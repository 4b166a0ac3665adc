package sync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/testutil"
)

// Bug: the change-log poll (ChangePoll, 2 s) woke every idle scheduler
// every 2 s, 150 times in 5 minutes per map. Idle with the defaults, no
// timer fires sooner than the probe's backoff (ProbeMin) after the one
// before, and the poll backs off to ProbeMax.
func TestSchedulerIdleArmsNoShortTimer(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := SchedulerOptions{Clock: clk, NoFileWatch: true}
	s := NewScheduler(f.eng, opts)
	probeMin := s.opts.ProbeMin
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	end := clk.Now().Add(time.Hour)
	var gaps []time.Duration
	for {
		testutil.Eventually(t, "the scheduler to arm a timer", func() bool { return clk.Armed() > 0 })
		next, _ := clk.Next()
		if next.After(end) {
			break
		}
		gap := next.Sub(clk.Now())
		gaps = append(gaps, gap)
		if gap < probeMin {
			t.Errorf("idle scheduler armed a timer %v after the last one fired, shorter than the probe's backoff %v", gap, probeMin)
		}
		// Every timer an idle scheduler handles (poll, interval) is
		// re-armed as the last step: wait for that before looking again.
		resets := clk.Resets()
		clk.AdvanceToNext()
		testutil.Eventually(t, "the scheduler to re-arm its timer", func() bool { return clk.Resets() > resets })
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	// 5 s doubling to 10 min, plus the 15-minute interval: a handful an
	// hour (the old poll fired 1,800 times).
	if len(gaps) > 20 {
		t.Errorf("%d timer firings in an idle hour (gaps %v), want at most 20", len(gaps), gaps)
	}
	t.Logf("idle hour: %d firings, gaps %v", len(gaps), gaps)
}
