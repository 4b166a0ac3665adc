package daemon

import (
	"context"
	"errors"
	"path/filepath"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/testutil"
	editsync "github.com/offlined/offlined/sync"
)

// flakyUnregisterer fails while offline is set and counts its calls.
type flakyUnregisterer struct {
	mu      stdsync.Mutex
	offline bool
	calls   int
}

func (f *flakyUnregisterer) UnregisterReplica(context.Context, string, string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.offline {
		return errors.New("dial tcp: connection refused")
	}
	return nil
}

func (f *flakyUnregisterer) set(offline bool) {
	f.mu.Lock()
	f.offline = offline
	f.mu.Unlock()
}

// Bug: the unregister service ticked every sync interval (15 min) for as
// long as the daemon ran, an idle wakeup and a read of the queue file with
// nothing queued. Now its timer runs only while replicas are left; a
// replica queued later arms it again.
func TestUnregisterServiceIdlesWithEmptyQueue(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	fu := &flakyUnregisterer{offline: true}
	q := editsync.OpenUnregisterQueue(filepath.Join(root, UnregisterFile), fu)
	reg, err := OpenRegistry(root, RegistryOptions{Unregister: q})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := q.Add("https://example.com/FeatureServer", "r1"); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	const every = 15 * time.Minute
	tried := make(chan struct{}, 1)
	svc := &unregisterService{reg: reg, every: every, clk: clk, retried: func() { tried <- struct{}{} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Serve(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	wantNext := func(what string, armed bool) {
		t.Helper()
		next, ok := clk.Next()
		switch {
		case ok != armed:
			t.Errorf("%s: timer armed %v (next %v), want %v", what, ok, next, armed)
		case armed && !next.Equal(clk.Now().Add(every)):
			t.Errorf("%s: next try at %v, want one interval on (%v)", what, next, clk.Now().Add(every))
		}
	}
	// At start the server is unreachable: the replica stays, the retry is
	// an interval away.
	<-tried
	wantNext("a replica left after the first try", true)
	fu.set(false)
	clk.AdvanceToNext()
	<-tried
	if p := reg.Pending(); len(p) != 0 {
		t.Fatalf("queue after a successful retry: %+v", p)
	}
	wantNext("queue empty", false)
	// A replica queued later (a package deleted offline) arms it again.
	if err := q.Add("https://example.com/FeatureServer", "r2"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the timer armed for the new replica", func() bool { return clk.Armed() == 1 })
	wantNext("a replica queued", true)
	clk.AdvanceToNext()
	<-tried
	wantNext("queue empty again", false)
	fu.mu.Lock()
	defer fu.mu.Unlock()
	if fu.calls != 3 {
		t.Errorf("%d unregister calls, want 3 (a failed one, then one per replica)", fu.calls)
	}
}
