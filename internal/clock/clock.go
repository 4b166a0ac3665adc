// Package clock lets time-driven code (schedulers, token expiry) run on
// the real clock in production and on a fake one, advanced by hand, in
// tests.
package clock

import (
	"slices"
	"sync"
	"time"
)

// Clock tells the time and makes timers.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a resettable one-shot timer, as time.Timer: after Stop or
// Reset returns, no stale value is received from C.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// Real returns the system clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) NewTimer(d time.Duration) Timer {
	return realTimer{time.NewTimer(d)}
}

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time   { return t.t.C }
func (t realTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t realTimer) Stop()                 { t.t.Stop() }

// Fake is a clock that moves only when Advance is called. It is safe for
// concurrent use.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	resets int
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer returns a timer firing when the fake time reaches Now()+d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{f: f, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Armed returns the number of timers waiting to fire.
func (f *Fake) Armed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.timers {
		if t.armed {
			n++
		}
	}
	return n
}

// Resets returns how many times a timer was started or reset: it grows
// each time the code under test arms a timer.
func (f *Fake) Resets() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resets
}

// Advance moves the time forward by d, firing, in deadline order, the
// timers that come due.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	end := f.now.Add(d)
	for {
		due := f.nextLocked()
		if due == nil || due.when.After(end) {
			break
		}
		f.now = due.when
		due.fireLocked()
	}
	f.now = end
}

// Next returns when the earliest armed timer fires; false if none is armed.
func (f *Fake) Next() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t := f.nextLocked(); t != nil {
		return t.when, true
	}
	return time.Time{}, false
}

// AdvanceToNext moves the time to the earliest armed timer and fires it
// (and any other timer due at the same instant); it returns how far the
// time moved and false if no timer was armed.
func (f *Fake) AdvanceToNext() (time.Duration, bool) {
	f.mu.Lock()
	t := f.nextLocked()
	if t == nil {
		f.mu.Unlock()
		return 0, false
	}
	d := t.when.Sub(f.now)
	f.mu.Unlock()
	f.Advance(d)
	return d, true
}

func (f *Fake) nextLocked() *fakeTimer {
	var next *fakeTimer
	for _, t := range f.timers {
		if t.armed && (next == nil || t.when.Before(next.when)) {
			next = t
		}
	}
	return next
}

type fakeTimer struct {
	f     *Fake
	c     chan time.Time
	when  time.Time
	armed bool
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	f := t.f
	f.mu.Lock()
	defer f.mu.Unlock()
	t.drain()
	t.when, t.armed = f.now.Add(d), true
	f.resets++
	if !slices.Contains(f.timers, t) {
		f.timers = append(f.timers, t)
	}
	if d <= 0 {
		t.fireLocked()
	}
}

func (t *fakeTimer) Stop() {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	t.drain()
	t.armed = false
}

func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

func (t *fakeTimer) fireLocked() {
	t.armed = false
	select {
	case t.c <- t.f.now:
	default:
	}
}
