package sync

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/testutil"
)

// hungServer serves the fixture's emulator on another port and, while
// hold is set, holds every synchronizeReplica request without answering
// (a server that stops answering, like one under SIGSTOP).
type hungServer struct {
	hold    atomic.Bool
	release chan struct{}
	url     string
}

func startHungServer(t *testing.T, f *fixture) (*hungServer, *arcgis.Client) {
	t.Helper()
	h := &hungServer{release: make(chan struct{})}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.hold.Load() && strings.Contains(r.URL.Path, "synchronizeReplica") {
			select {
			case <-h.release:
			case <-r.Context().Done():
			}
			return
		}
		f.em.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		close(h.release)
		hs.Close()
	})
	h.url = hs.URL
	c, err := arcgis.New(arcgis.WithPortal(hs.URL+"/sharing/rest"), arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}),
		arcgis.WithRetryPolicy(fastRetry()), arcgis.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cfg, _ := LoadConfig(ctx, f.db)
	cfg.ServiceURL = hs.URL + "/arcgis/rest/services/" + svcName + "/FeatureServer"
	if err := SaveConfig(ctx, f.db, cfg); err != nil {
		t.Fatal(err)
	}
	return h, c
}

// A server that stops answering: the sync notes the wait in lastError
// while it waits, ends with a clear error at the step deadline, the status
// says so, and nothing is lost. The deadlines run on a fake clock, so the
// wait is seen however slowly the machine schedules the test (on the real
// clock the status said "waiting" only between 150 and 600 ms).
func TestHungServerStepDeadline(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	h, c := startHungServer(t, f)
	var mu stdsync.Mutex
	var events []Progress
	const deadline, slowAfter = 600 * time.Millisecond, 150 * time.Millisecond
	clk := clock.NewFake(time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC))
	held := make(chan struct{}, 1)
	eng := New(f.db, c, Options{StepTimeout: deadline, SlowAfter: slowAfter, Clock: clk, OnProgress: func(p Progress) {
		mu.Lock()
		events = append(events, p)
		mu.Unlock()
		if p.Step == "synchronizeReplica" && p.WaitingMs == 0 {
			select {
			case held <- struct{}{}:
			default:
			}
		}
	}})
	gids := addLocal(t, f, 1, "hung")
	h.hold.Store(true)
	done := make(chan error, 1)
	go func() { _, err := eng.Sync(ctx); done <- err }()
	<-held // the step's deadlines are armed; the server holds the request
	if n := clk.Armed(); n != 2 {
		t.Fatalf("%d timers armed on the engine's clock during the step, want its 2 deadlines", n)
	}
	clk.Advance(slowAfter)
	testutil.Eventually(t, "the wait noted in the status", func() bool {
		st, _ := eng.Status(ctx)
		return st.State == StateSyncing && strings.Contains(st.LastError, "waiting for the server: no progress on synchronizeReplica for 150ms")
	})
	select {
	case err := <-done:
		t.Fatalf("sync ended before its step deadline: %v", err)
	default:
	}
	clk.Advance(deadline - slowAfter)
	err := <-done
	var se *StalledError
	if !errors.As(err, &se) || se.Step != "synchronizeReplica" || se.After != deadline {
		t.Fatalf("sync error %v, want a StalledError on synchronizeReplica after %v", err, deadline)
	}
	st, _ := eng.Status(ctx)
	if st.State != StateOffline || !strings.Contains(st.LastError, "no progress on synchronizeReplica") || st.PendingEdits != 1 {
		t.Errorf("status %+v", st)
	}
	mu.Lock()
	waited := false
	for _, p := range events {
		waited = waited || (p.Step == "synchronizeReplica" && p.WaitingMs == slowAfter.Milliseconds())
	}
	mu.Unlock()
	if !waited {
		t.Errorf("no waiting progress event of %v: %+v", slowAfter, events)
	}
	// The server answers again: the edit lands exactly once.
	h.hold.Store(false)
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	assertOnServerOnce(t, f, 0, gids)
	if st, _ := eng.Status(ctx); st.State != StateIdle || st.LastError != "" {
		t.Errorf("status after recovery %+v", st)
	}
}

// A sync waiting on a hung server can be cancelled.
func TestHungServerCancel(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	h, c := startHungServer(t, f)
	started := make(chan struct{}, 10)
	eng := New(f.db, c, Options{StepTimeout: time.Hour, OnProgress: func(p Progress) {
		if p.Step == "synchronizeReplica" {
			started <- struct{}{}
		}
	}})
	addLocal(t, f, 1, "cancel")
	h.hold.Store(true)
	done := make(chan error, 1)
	go func() { _, err := eng.Sync(ctx); done <- err }()
	<-started
	if !eng.Cancel() {
		t.Fatal("Cancel found no running sync")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled sync: %v", err)
	}
	if st, _ := eng.Status(ctx); st.State == StateSyncing || st.PendingEdits != 1 {
		t.Errorf("status after cancel %+v", st)
	}
	if eng.Cancel() {
		t.Error("Cancel with no sync running reported one")
	}
}
