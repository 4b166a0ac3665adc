package daemon

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime/debug"
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
	f := &fakeRuntime{gc: 100, limit: math.MaxInt64, ticks: make(chan time.Time), period: make(chan bool), ticker: make(chan struct{}, 8), stops: make(chan struct{}, 8)}
	p := newGCPacer(slog.New(slog.DiscardHandler))
	p.busy = 10
	f.knobsOf(p)
	p.newTicker = func(time.Duration) (<-chan time.Time, func()) {
		f.ticker <- struct{}{}
		return f.ticks, func() { f.stops <- struct{}{} }
	}
	p.periodDone = func(busy bool) { f.period <- busy }
	return p, f
}

// knobsOf makes p set and read f's knobs (a second pacer in the same
// process shares the first one's).
func (f *fakeRuntime) knobsOf(p *gcPacer) {
	p.setGCPercent = func(v int) int { f.mu.Lock(); defer f.mu.Unlock(); old := f.gc; f.gc = v; return old }
	p.setMemoryLimit = func(v int64) int64 { f.mu.Lock(); defer f.mu.Unlock(); old := f.limit; f.limit = v; return old }
	p.settings = func() (int, int64) { f.mu.Lock(); defer f.mu.Unlock(); return f.gc, f.limit }
	p.freeOSMemory = func() { f.mu.Lock(); f.frees++; f.mu.Unlock() }
	p.liveHeap = func() uint64 { f.mu.Lock(); defer f.mu.Unlock(); return f.live }
}

// serve runs p until the test ends, and waits for it to stop (a pacer
// still holding the process-wide settings would keep the next test's
// pacer from raising them).
func serve(t *testing.T, p *gcPacer) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
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
	if gc, limit, frees := f.state(); gc != 100 || limit != math.MaxInt64 || frees != 0 {
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
	if gc, limit, frees := f.state(); gc != 100 || limit != math.MaxInt64 || frees != 1 {
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
	if gc, limit, _ := f.state(); gc != 100 || limit != math.MaxInt64 {
		t.Fatalf("after shutdown: GOGC %d, limit %d; want them restored", gc, limit)
	}
}

// A big live heap (a job holding data) is not given a limit under it.
func TestGCPacerLeavesBigHeapAlone(t *testing.T) {
	p, f := newFakePacer()
	f.live = uint64(p.limit) // over a quarter of the limit
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve(t, p)
	requests(h, 20)
	<-f.ticker
	f.tick(t, true)
	requests(h, 20)
	f.tick(t, true)
	f.tick(t, false)
	<-f.stops
	if gc, limit, frees := f.state(); gc != 100 || limit != math.MaxInt64 || frees != 0 {
		t.Fatalf("GOGC %d, limit %d, %d frees; want untouched", gc, limit, frees)
	}
}

// A live heap that grows past a quarter of the limit while GOGC is raised
// (a job loading data under load) gets the defaults back at the next
// period, not a limit the heap is about to reach.
func TestGCPacerRestoresWhenHeapGrows(t *testing.T) {
	p, f := newFakePacer()
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve(t, p)
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
	if gc, limit, _ := f.state(); gc != 100 || limit != math.MaxInt64 {
		t.Fatalf("heap grew under load: GOGC %d, limit %d; want 100, default", gc, limit)
	}
	requests(h, 20)
	f.tick(t, true)
	f.tick(t, false)
	<-f.stops
	if gc, limit, _ := f.state(); gc != 100 || limit != math.MaxInt64 {
		t.Fatalf("after the load: GOGC %d, limit %d; want 100, default", gc, limit)
	}
}

// GOGC or a memory limit the embedding program set in code (not through
// the environment, which daemon.Run checks) is left alone under load.
func TestGCPacerLeavesProgramSettingsAlone(t *testing.T) {
	for _, c := range []struct {
		name  string
		gc    int
		limit int64
	}{
		{"GOGC 50", 50, math.MaxInt64},
		{"GOGC off", -1, math.MaxInt64},
		{"limit 256 MiB", 100, 256 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, f := newFakePacer()
			f.gc, f.limit = c.gc, c.limit
			h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			serve(t, p)
			requests(h, 20)
			<-f.ticker
			f.tick(t, true)
			requests(h, 20)
			f.tick(t, true)
			if gc, limit, _ := f.state(); gc != c.gc || limit != c.limit {
				t.Fatalf("under load: GOGC %d, limit %d; want the program's %d, %d", gc, limit, c.gc, c.limit)
			}
			f.tick(t, false)
			<-f.stops
			if gc, limit, frees := f.state(); gc != c.gc || limit != c.limit || frees != 0 {
				t.Fatalf("after the load: GOGC %d, limit %d, %d frees; want %d, %d, 0", gc, limit, frees, c.gc, c.limit)
			}
		})
	}
}

// A setting the program changes while the pacer has GOGC raised is the
// program's: the end of the load does not put the pacer's old value over it.
func TestGCPacerKeepsSettingChangedWhileRaised(t *testing.T) {
	p, f := newFakePacer()
	h := p.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve(t, p)
	requests(h, 20)
	<-f.ticker
	f.tick(t, true)
	f.mu.Lock()
	f.gc = 75 // debug.SetGCPercent(75) in the embedding program
	f.mu.Unlock()
	f.tick(t, false)
	<-f.stops
	if gc, _, _ := f.state(); gc != 75 {
		t.Fatalf("after the load: GOGC %d; want the program's 75", gc)
	}
}

// Two daemons in one process share the runtime's settings: one pacer
// raises them at a time, the other waits until they are back at the
// defaults, and when both loads end the defaults are back (interleaved
// save and restore used to leave GOGC raised for good).
func TestGCPacerOneOwnerPerProcess(t *testing.T) {
	pa, f := newFakePacer()
	pb, fb := newFakePacer()
	f.knobsOf(pb) // the same process: the same knobs
	ha := pa.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	hb := pb.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve(t, pa)
	serve(t, pb)
	raised := func(when string) {
		t.Helper()
		if gc, limit, _ := f.state(); gc != pa.gogc || limit != pa.limit {
			t.Fatalf("%s: GOGC %d, limit %d; want %d, %d", when, gc, limit, pa.gogc, pa.limit)
		}
	}
	defaults := func(when string) {
		t.Helper()
		if gc, limit, _ := f.state(); gc != 100 || limit != math.MaxInt64 {
			t.Fatalf("%s: GOGC %d, limit %d; want 100, default", when, gc, limit)
		}
	}

	// A raises; B, under load too, finds them taken.
	requests(ha, 20)
	<-f.ticker
	f.tick(t, true)
	raised("A under load")
	requests(hb, 20)
	<-fb.ticker
	fb.tick(t, true)
	raised("A and B under load")
	// A's load ends: the defaults are back while B still runs.
	f.tick(t, false)
	<-f.stops
	defaults("A idle, B not yet raised")
	// B's next busy period takes them; its end restores them.
	requests(hb, 20)
	fb.tick(t, true)
	raised("B under load")
	fb.tick(t, false)
	<-fb.stops
	defaults("both idle")

	// The other order: A raises, B under load finds them taken and its
	// load ends first; A's end restores the defaults.
	requests(ha, 20)
	<-f.ticker
	f.tick(t, true)
	requests(hb, 20)
	<-fb.ticker
	fb.tick(t, true)
	fb.tick(t, false)
	<-fb.stops
	raised("B idle, A under load")
	f.tick(t, false)
	<-f.stops
	defaults("both idle again")
}

// gcSettings reads what debug.SetGCPercent and SetMemoryLimit set,
// without changing it.
func TestGCSettingsReadsRuntime(t *testing.T) {
	oldGC := debug.SetGCPercent(50)
	oldLimit := debug.SetMemoryLimit(300 << 20)
	defer func() {
		debug.SetGCPercent(oldGC)
		debug.SetMemoryLimit(oldLimit)
	}()
	for range 2 { // the second read sees the same: reading changed nothing
		if gc, limit := gcSettings(); gc != 50 || limit != 300<<20 {
			t.Fatalf("gcSettings() = %d, %d; want 50, %d", gc, limit, 300<<20)
		}
	}
	debug.SetGCPercent(-1)
	if gc, _ := gcSettings(); gc != -1 {
		t.Fatalf("GOGC off reads %d", gc)
	}
}
