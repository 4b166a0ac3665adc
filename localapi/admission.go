package localapi

import (
	"context"
	"fmt"
	"runtime"
)

// admission lets at most a fixed number of requests of one kind do their
// work at once; the others wait, parked in arrival order, until a slot
// frees or their request is cancelled. On the tile route, whose work is
// CPU-bound and short, a limit near GOMAXPROCS keeps its throughput while
// a request of another route (a feature query) is no longer queued behind
// dozens of runnable tile handlers. A nil *admission admits everything.
type admission struct {
	slots chan struct{}
	// waiting, when set (tests), is called when a request starts to wait.
	waiting func()
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
	return &admission{slots: make(chan struct{}, n)}
}

// enter waits for a slot; it fails only when ctx ends first. Every
// successful enter is paired with one leave.
func (a *admission) enter(ctx context.Context) error {
	if a == nil {
		return nil
	}
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	if a.waiting != nil {
		a.waiting()
	}
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for a free slot: %w", context.Cause(ctx))
	}
}

// leave frees the slot taken by enter.
func (a *admission) leave() {
	if a != nil {
		<-a.slots
	}
}
