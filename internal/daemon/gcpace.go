package daemon

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// gcPacer lets the garbage collector run less often while the local API
// is under load, and puts it back once the load ends. The daemon's live
// heap is a few MB, so with the default GOGC a collection starts every
// ~1.5 MB allocated: under a tile load and a feature query loop that was
// 15 collections a second, each taking one of the two cores for its mark
// phase and making allocating goroutines (the feature query) assist it,
// which is most of the query's latency tail. A higher GOGC only while
// requests pour in costs memory only then: the idle daemon keeps the
// default and gives the extra memory back (a collection and a scavenge
// once the load ends). An operator's GOGC or GOMEMLIMIT turns it off.
//
// It wakes on the first request after a quiet spell (no timer while idle),
// then counts requests every period: at least busy requests in a period
// raise GOGC to gogc with a soft memory limit of limit bytes, unless the
// live heap is over a quarter of limit (the default GOGC then leaves room
// enough, and the limit must not sit under the heap; checked every
// period); a period with fewer ends it.
type gcPacer struct {
	reqs     atomic.Uint64
	watching atomic.Bool   // a watch runs (or a wake is on its way)
	wake     chan struct{} // the first request while not watching
	seen     uint64        // reqs when the last period ended (Serve's goroutine only)

	period time.Duration
	busy   uint64
	gogc   int
	limit  int64
	log    *slog.Logger

	// The runtime's knobs, replaced by tests.
	setGCPercent   func(int) int
	setMemoryLimit func(int64) int64
	freeOSMemory   func()
	liveHeap       func() uint64
	newTicker      func(time.Duration) (<-chan time.Time, func())
	// periodDone, when set (tests), is called after each period's decision.
	periodDone func(busy bool)
}

// newGCPacer returns a pacer with the daemon's settings: 500 ms periods,
// 250 requests in one (500 a second) count as load, GOGC 400 under load
// with a 64 MiB soft limit.
func newGCPacer(log *slog.Logger) *gcPacer {
	return &gcPacer{wake: make(chan struct{}, 1), period: 500 * time.Millisecond, busy: 250, gogc: 400, limit: 64 << 20, log: log,
		setGCPercent: debug.SetGCPercent, setMemoryLimit: debug.SetMemoryLimit, freeOSMemory: debug.FreeOSMemory, liveHeap: liveHeap,
		newTicker: func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}}
}

// Handler counts next's requests for the pacer.
func (p *gcPacer) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.reqs.Add(1)
		if !p.watching.Load() && p.watching.CompareAndSwap(false, true) {
			p.wake <- struct{}{} // never blocks: one wake per watch
		}
		next.ServeHTTP(w, r)
	})
}

// operatorSet reports whether GOGC or GOMEMLIMIT is set for the process:
// the pacer then leaves the collector alone.
func operatorSet() bool {
	return os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != ""
}

// Serve implements Service: it paces the collector until ctx ends and
// leaves the runtime's settings as it found them.
func (p *gcPacer) Serve(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.wake:
		}
		p.watch(ctx)
	}
}

// watch counts requests each period while they keep coming, raising GOGC
// while there are at least busy a period; it returns once a period has
// fewer (or ctx ends), with the settings restored.
func (p *gcPacer) watch(ctx context.Context) {
	tick, stop := p.newTicker(p.period)
	defer stop()
	raised := false
	var oldGC int
	var oldLimit int64
	restore := func() {
		raised = false
		p.setGCPercent(oldGC)
		p.setMemoryLimit(oldLimit)
	}
	defer func() {
		p.watching.Store(false) // the next request wakes the pacer again
		if raised {
			restore()
			p.freeOSMemory() // the idle daemon's memory back to its size
			p.log.Debug("gc pacing: load ended, default GOGC restored")
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		// The first period also counts the requests that woke the pacer.
		n := p.reqs.Load()
		busy := n-p.seen >= p.busy
		p.seen = n
		if !busy {
			p.done(false)
			return
		}
		// A live heap that grew over a quarter of the limit while raised
		// (a job's data) puts the defaults back: a limit near or under
		// the live heap would make the collector run all the time.
		small := p.liveHeap() <= uint64(p.limit)/4
		switch {
		case !raised && small:
			raised = true
			oldGC = p.setGCPercent(p.gogc)
			oldLimit = p.setMemoryLimit(p.limit)
			p.log.Debug("gc pacing: under load, GOGC raised", "gogc", p.gogc, "limit", p.limit)
		case raised && !small:
			restore()
			p.log.Debug("gc pacing: live heap grew, default GOGC restored")
		}
		p.done(true)
	}
}

// done calls the periodDone hook, if any.
func (p *gcPacer) done(busy bool) {
	if p.periodDone != nil {
		p.periodDone(busy)
	}
}

// liveHeap is the heap the last collection found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
