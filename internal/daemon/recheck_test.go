package daemon

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/testutil"
	editsync "github.com/offlined/offlined/sync"
)

// Bug: RunSchedulers rechecked the registry on a 10 s ticker, 30 wakeups
// in 5 idle minutes, more often than the offline probe's backoff. Now the
// recheck doubles up to the probe's cap while nothing is registered, and a
// registration wakes it at once (and starts the delay over).
func TestRunSchedulersRecheckBacksOff(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, false)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.syncer.RunSchedulers(ctx, editsync.SchedulerOptions{Interval: time.Hour, Clock: clk}, 10*time.Second)
	}()
	defer func() {
		cancel()
		<-done
	}()
	var gaps []time.Duration
	for range 8 {
		testutil.Eventually(t, "the recheck armed", func() bool { return clk.Armed() > 0 })
		resets := clk.Resets()
		next, _ := clk.Next()
		gaps = append(gaps, next.Sub(clk.Now()))
		clk.AdvanceToNext()
		testutil.Eventually(t, "the recheck re-armed", func() bool { return clk.Resets() > resets })
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 320 * time.Second, 10 * time.Minute, 10 * time.Minute}
	if !slices.Equal(gaps, want) {
		t.Errorf("recheck gaps %v, want %v", gaps, want)
	}
	// A registration rechecks at once and starts the delay over.
	resets := clk.Resets()
	if err := os.MkdirAll(e.reg.Dir("late"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Register("late"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the recheck re-armed after a registration", func() bool { return clk.Resets() > resets })
	if next, _ := clk.Next(); next.Sub(clk.Now()) != 10*time.Second {
		t.Errorf("after a registration the next recheck is in %v, want 10s", next.Sub(clk.Now()))
	}
}
