package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeRuntime records the pacer's calls on the runtime's knobs.
type fakeRuntime struct {
	mu     sync.Mutex
	gc     int
	limit  int64
	frees  int
	live   uint64
	ticks  chan time.Time
	period chan bool     // a period was decided: busy or not
	ticker chan struct{} // a ticker was made (the pacer is watching)
	stops  chan struct{} // a ticker was stopped (the watch ended)
}

func newFakePacer() (*gcPacer, *fakeRuntime) {
	f := &fakeRuntime{gc: 100, limit: 1 << 62, ticks: make(chan time.Time), period: make(chan bool), ticker: make(chan struct{}, 8), stops: make(chan struct{}, 8)}
	p := newGCPacer(slog.New(slog.DiscardHandler))
	p.busy = 10
	p.setGCPercent = func(v int) int { f.mu.Lock(); defer f.mu.Unlock(); old := f.gc; f.gc = v; return old }
	p.setMemoryLimit = func(v int64) int64 { f.mu.Lock(); defer f.mu.Unlock(); old := f.limit; f.limit = v; return old }
	p.freeOSMemory = func() { f.mu.Lock(); f.frees++; f.mu.Unlock() }
	p.liveHeap = func() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.live }
	p.newTicker = func(time.Duration) (<-chan time.Time, func()) {
		f.ticker <- struct{}{}
		return f.ticks, func() { f.stops <- struct{}{} }
	}
	p.periodDone = func(busy bool) { f.period <- busy }
	return p, f
}

// tick ends a period and returns the pacer's verdict on it.
func (f *fakeRuntime) tick(t *testing.T, wantBusy bool) {
	t.Helper()
	f.ticks <- time.Time{}
	if busy := <-f.period; busy != wantBusy {
		t.Fatalf("period busy=%v, want %v", busy, wantBusy)
	}
}

func (f *fakeRuntime) state() (int, int64, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gc, f.limit, f.frees
}

// requests sends n requests through the pacer's handler.
func requests(h http.Handler, n int) {
	for range n {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}
}

// Under load GOGC goes up with a soft limit; when the load ends the
// settings come back and the memory is given back; a few requests (a map
// panning) change nothing; an idle pacer has no ticker.
func TestGCPacerRaisesOnlyUnderLoad(t *testing.T) {
	p, f := newFakePacer()
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()

	// A few requests: a watch starts and ends at the first tick, nothing raised.
	requests(h, 3)
	<-f.ticker
	f.tick(t, false)
	<-f.stops
	if gc, limit, frees := f.state(); gc != 100 || limit != 1<<62 || frees != 0 {
		t.Fatalf("after 3 requests: GOGC %d, limit %d, %d frees; want untouched", gc, limit, frees)
	}

	// Load: raised at the first busy period, kept while busy.
	requests(h, 20)
	<-f.ticker
	f.tick(t, true)
	requests(h, 20)
	f.tick(t, true)
	if gc, limit, _ := f.state(); gc != p.gogc || limit != p.limit {
		t.Fatalf("under load: GOGC %d, limit %d; want %d, %d", gc, limit, p.gogc, p.limit)
	}
	// The load ends: restored and freed.
	f.tick(t, false)
	<-f.stops
	if gc, limit, frees := f.state(); gc != 100 || limit != 1<<62 || frees != 1 {
		t.Fatalf("after the load: GOGC %d, limit %d, %d frees; want 100, default, 1", gc, limit, frees)
	}
	select {
	case <-f.ticker:
		t.Fatal("a ticker runs with no request since the load")
	default:
	}

	// Load again, then shutdown while raised: restored.
	requests(h, 20)
	<-f.ticker
	f.tick(t, true)
	requests(h, 20)
	f.tick(t, true)
	if gc, _, _ := f.state(); gc != p.gogc {
		t.Fatalf("under load again: GOGC %d", gc)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if gc, limit, _ := f.state(); gc != 100 || limit != 1<<62 {
		t.Fatalf("after shutdown: GOGC %d, limit %d; want them restored", gc, limit)
	}
}

// A big live heap (a job holding data) is not given a limit under it.
func TestGCPacerLeavesBigHeapAlone(t *testing.T) {
	p, f := newFakePacer()
	f.live = uint64(p.limit) // over a quarter of the limit
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go p.Serve(ctx)
	requests(h, 20)
	<-f.ticker
	f.tick(t, true)
	requests(h, 20)
	f.tick(t, true)
	f.tick(t, false)
	<-f.stops
	if gc, limit, frees := f.state(); gc != 100 || limit != 1<<62 || frees != 0 {
		t.Fatalf("GOGC %d, limit %d, %d frees; want untouched", gc, limit, frees)
	}
}

// A live heap that grows past a quarter of the limit while GOGC is raised
// (a job loading data under load) gets the defaults back at the next
// period, not a limit the heap is about to reach.
func TestGCPacerRestoresWhenHeapGrows(t *testing.T) {
	p, f := newFakePacer()
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go p.Serve(ctx)
	requests(h, 20)
	<-f.ticker
	f.tick(t, true)
	if gc, limit, _ := f.state(); gc != p.gogc || limit != p.limit {
		t.Fatalf("under load: GOGC %d, limit %d; want %d, %d", gc, limit, p.gogc, p.limit)
	}
	f.mu.Lock()
	f.live = uint64(p.limit) / 2
	f.mu.Unlock()
	requests(h, 20)
	f.tick(t, true)
	if gc, limit, _ := f.state(); gc != 100 || limit != 1<<62 {
		t.Fatalf("heap grew under load: GOGC %d, limit %d; want 100, default", gc, limit)
	}
	requests(h, 20)
	f.tick(t, true)
	f.tick(t, false)
	<-f.stops
	if gc, limit, _ := f.state(); gc != 100 || limit != 1<<62 {
		t.Fatalf("after the load: GOGC %d, limit %d; want 100, default", gc, limit)
	}
}
