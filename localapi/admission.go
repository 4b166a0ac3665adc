package localapi

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	stdsync "sync"
)

// admission lets at most a fixed number of tile reads do their work at
// once; the others wait, parked in arrival order, until a slot frees or
// their request is cancelled. The tile route's work is CPU-bound and
// short: a limit near GOMAXPROCS keeps its throughput while a request of
// another route is no longer queued behind dozens of runnable tile
// handlers.
//
// Interactive requests (feature queries, see interactive) are never held
// by the gate, but each one in flight takes a slot away from the tile
// reads, down to one slot that tiles always keep: with the default limit
// on 2 cores, a running query leaves the tiles one core and tiles never
// starve however many queries run. A nil *admission admits everything.
type admission struct {
	n int // slots when no interactive request runs

	mu          stdsync.Mutex
	running     int       // tile reads holding a slot
	interactive int       // interactive requests in flight
	queue       []*waiter // tile reads waiting, in arrival order from head
	head        int

	// Test hooks, set before use: waiting is called when a tile read
	// starts to wait; interactiveHook runs inside an interactive request,
	// once it counts, before its handler.
	waiting         func()
	interactiveHook func()
}

// waiter is a tile read parked in the queue; ready is closed once it holds
// a slot (admitted, under admission.mu).
type waiter struct {
	ready    chan struct{}
	admitted bool
}

// newAdmission returns a gate of n slots: n == 0 means GOMAXPROCS, n < 0
// no limit (nil).
func newAdmission(n int) *admission {
	if n < 0 {
		return nil
	}
	if n == 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &admission{n: n}
}

// limitLocked is the number of slots tile reads may hold now: one fewer
// per interactive request in flight, never under one.
func (a *admission) limitLocked() int { return max(a.n-a.interactive, 1) }

// enter waits for a slot; it fails only when ctx ends first. Every
// successful enter is paired with one leave.
func (a *admission) enter(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	if a.head == len(a.queue) && a.running < a.limitLocked() {
		a.running++
		a.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{})}
	if a.head > 0 && len(a.queue) == cap(a.queue) { // full: drop the served prefix
		n := copy(a.queue, a.queue[a.head:])
		clear(a.queue[n:])
		a.queue, a.head = a.queue[:n], 0
	}
	a.queue = append(a.queue, w)
	a.mu.Unlock()
	if a.waiting != nil {
		a.waiting()
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	if w.admitted { // a slot came with the cancellation: hand it on
		a.running--
		a.admitLocked()
	} else if i := slices.Index(a.queue[a.head:], w); i >= 0 {
		a.queue = slices.Delete(a.queue, a.head+i, a.head+i+1)
	}
	a.mu.Unlock()
	return fmt.Errorf("waiting for a free slot: %w", context.Cause(ctx))
}

// leave frees the slot taken by enter.
func (a *admission) leave() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.running--
	a.admitLocked()
	a.mu.Unlock()
}

// admitLocked gives free slots to the waiting tile reads, first come
// first served.
func (a *admission) admitLocked() {
	for a.head < len(a.queue) && a.running < a.limitLocked() {
		w := a.queue[a.head]
		a.queue[a.head] = nil
		a.head++
		w.admitted = true
		a.running++
		close(w.ready)
	}
	if a.head == len(a.queue) { // drained: reuse the array from its start
		a.queue, a.head = a.queue[:0], 0
	}
}

// beginInteractive counts an interactive request in flight: tile reads
// admitted from now on get one slot fewer (slots held are not taken back).
func (a *admission) beginInteractive() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.interactive++
	a.mu.Unlock()
}

// endInteractive ends what beginInteractive began and admits the tile
// reads its slot lets in.
func (a *admission) endInteractive() {
	if a == nil {
		return
	}
	a.mu.Lock()
	a.interactive--
	a.admitLocked()
	a.mu.Unlock()
}

// interactive wraps the handler of a feature query: while it runs (or
// panics) it counts as interactive, so tile reads leave it a core, and
// its answer goes out in one write (heldWriter).
func (s *Server) interactive(h HandlerFunc) HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		a := s.tileGate
		a.beginInteractive()
		defer a.endInteractive()
		if a != nil && a.interactiveHook != nil {
			a.interactiveHook()
		}
		hw := &heldWriter{ResponseWriter: w, buf: s.heldBufs.get()}
		defer s.heldBufs.put(hw.buf, 2*maxHeldBody)
		err := h(hw, r)
		hw.finish(err)
		return err
	}
}
