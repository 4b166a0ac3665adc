package tiles

import (
	"context"
	"sync"
	"time"
)

// limiter is an adaptive concurrency limit (AIMD): it halves on throttling
// (429/503, honouring Retry-After as a pause), steps down by one when latency
// climbs well above the best seen, and grows by one after a window of
// successes, between min and max.
type limiter struct {
	mu        sync.Mutex
	changed   chan struct{}
	limit     int
	min, max  int
	inflight  int
	waiters   int // acquire calls waiting on changed
	successes int
	base      time.Duration // best observed latency
	ewma      float64       // smoothed latency, ns
	lastDrop  time.Time
	pause     time.Time
	// defaultPause is the pause after a throttled answer without Retry-After.
	defaultPause time.Duration
}

func newLimiter(min, max int, defaultPause time.Duration) *limiter {
	if min < 1 {
		min = 1
	}
	if max < min {
		max = min
	}
	return &limiter{changed: make(chan struct{}), limit: max, min: min, max: max, defaultPause: defaultPause}
}

// notify wakes the acquire calls waiting; l.mu must be held. Without
// waiters it does nothing: a new channel per request cost an allocation
// per tile.
func (l *limiter) notify() {
	if l.waiters == 0 {
		return
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// acquire blocks until a slot is free and no pause is in force.
func (l *limiter) acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		// The clock is read only while a pause is set.
		var now time.Time
		if !l.pause.IsZero() {
			if now = time.Now(); !now.Before(l.pause) {
				l.pause = time.Time{}
			}
		}
		if l.inflight < l.limit && l.pause.IsZero() {
			l.inflight++
			l.mu.Unlock()
			return nil
		}
		ch := l.changed
		wait := 100 * time.Millisecond
		if !l.pause.IsZero() {
			wait = l.pause.Sub(now)
		}
		l.waiters++
		l.mu.Unlock()
		t := time.NewTimer(wait)
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-ch:
		case <-t.C:
		}
		t.Stop()
		l.mu.Lock()
		l.waiters--
		l.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// release returns a slot with the request's outcome.
func (l *limiter) release(lat time.Duration, throttled bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	switch {
	case throttled:
		now := time.Now()
		if now.Sub(l.lastDrop) > 200*time.Millisecond {
			l.limit = max(l.min, l.limit/2)
			l.lastDrop = now
		}
		if retryAfter <= 0 {
			retryAfter = l.defaultPause
		}
		if p := now.Add(retryAfter); p.After(l.pause) {
			l.pause = p
		}
		l.successes = 0
	case lat > 0:
		if l.base == 0 || lat < l.base {
			l.base = lat
		}
		if l.ewma == 0 {
			l.ewma = float64(lat)
		} else {
			l.ewma = 0.9*l.ewma + 0.1*float64(lat)
		}
		floor := max(l.base, 5*time.Millisecond)
		drop := false
		if l.ewma > 4*float64(floor) && l.limit > l.min {
			// The clock is read only when the latency calls for a drop.
			if now := time.Now(); now.Sub(l.lastDrop) > time.Second {
				drop, l.lastDrop = true, now
			}
		}
		if drop {
			l.limit--
			l.successes = 0
		} else if l.successes++; l.successes >= l.limit && l.limit < l.max {
			l.limit++
			l.successes = 0
		}
	}
	l.notify()
}

// current returns the limit in force.
func (l *limiter) current() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit
}
