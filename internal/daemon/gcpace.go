package daemon

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
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
// once the load ends). An operator's GOGC or GOMEMLIMIT turns it off, and
// so does a program embedding the daemon that set either in code
// (debug.SetGCPercent, debug.SetMemoryLimit): the pacer raises only
// from the runtime's defaults, and one pacer in the process at a time
// (gcOwner).
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
	settings       func() (gogc int, limit int64) // the current settings, unchanged
	freeOSMemory   func()
	liveHeap       func() uint64
	newTicker      func(time.Duration) (<-chan time.Time, func())
	// periodDone, when set (tests), is called after each period's decision.
	periodDone func(busy bool)

	leftAlone bool // the program's settings were found and logged (Serve's goroutine only)
}

// newGCPacer returns a pacer with the daemon's settings: 500 ms periods,
// 250 requests in one (500 a second) count as load, GOGC 400 under load
// with a 64 MiB soft limit.
func newGCPacer(log *slog.Logger) *gcPacer {
	return &gcPacer{wake: make(chan struct{}, 1), period: 500 * time.Millisecond, busy: 250, gogc: 400, limit: 64 << 20, log: log,
		setGCPercent: debug.SetGCPercent, setMemoryLimit: debug.SetMemoryLimit, settings: gcSettings, freeOSMemory: debug.FreeOSMemory, liveHeap: liveHeap,
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
	defer func() {
		p.watching.Store(false) // the next request wakes the pacer again
		if raised {
			p.release()
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
			if raised = p.acquire(); raised {
				p.log.Debug("gc pacing: under load, GOGC raised", "gogc", p.gogc, "limit", p.limit)
			}
		case raised && !small:
			raised = false
			p.release()
			p.log.Debug("gc pacing: live heap grew, default GOGC restored")
		}
		p.done(true)
	}
}

// gcOwner is the pacer that has raised the collector's settings, with
// the settings it found. It is package-level state, unlike the rest of
// the daemon, because what it guards is: GOGC and the memory limit are
// one pair per process, so two daemons in one process must take turns
// (one raising while the other restores would leave the raised values
// for good). One owner at a time; the others stay at the defaults until
// it lets go.
var gcOwner struct {
	mu       sync.Mutex
	p        *gcPacer
	oldGC    int
	oldLimit int64
}

// acquire raises GOGC and sets the soft limit if the settings are the
// runtime's defaults and no other pacer holds them; it reports whether
// p now owns them. Settings that are not the defaults were chosen by the
// program (GOGC or GOMEMLIMIT in code) and are left alone.
func (p *gcPacer) acquire() bool {
	gcOwner.mu.Lock()
	defer gcOwner.mu.Unlock()
	if gcOwner.p != nil {
		return false
	}
	if gc, limit := p.settings(); gc != defaultGOGC || limit != math.MaxInt64 {
		if !p.leftAlone {
			p.leftAlone = true
			p.log.Debug("gc pacing: GOGC or the memory limit set by the program, left alone", "gogc", gc, "limit", limit)
		}
		return false
	}
	gcOwner.p = p
	gcOwner.oldGC = p.setGCPercent(p.gogc)
	gcOwner.oldLimit = p.setMemoryLimit(p.limit)
	return true
}

// release puts back the settings acquire found, unless the program
// changed them meanwhile (its settings are then the ones to keep).
func (p *gcPacer) release() {
	gcOwner.mu.Lock()
	defer gcOwner.mu.Unlock()
	if gcOwner.p != p {
		return
	}
	gcOwner.p = nil
	if gc, limit := p.settings(); gc != p.gogc || limit != p.limit {
		p.log.Debug("gc pacing: settings changed by the program while raised, kept", "gogc", gc, "limit", limit)
		return
	}
	p.setGCPercent(gcOwner.oldGC)
	p.setMemoryLimit(gcOwner.oldLimit)
}

// defaultGOGC is the runtime's GOGC when neither the environment nor the
// program sets one.
const defaultGOGC = 100

// gcSettings reads the current GOGC and memory limit without changing them.
func gcSettings() (gogc int, limit int64) {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	gogc = defaultGOGC
	if s[0].Value.Kind() == metrics.KindUint64 {
		// GOGC=off reads as -1 converted to uint64: any value not 100
		// counts as set.
		gogc = int(int64(s[0].Value.Uint64()))
	}
	return gogc, debug.SetMemoryLimit(-1) // a negative limit only reads it
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
