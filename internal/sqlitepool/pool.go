// Package sqlitepool keeps a small, bounded pool of read-only SQLite
// connections to one file, opened through zombiezen.com/go/sqlite (the
// same SQLite library as the modernc.org/sqlite database/sql driver). Read
// paths that pay for database/sql's per-row and per-column costs take one
// (geodb's Scan, the tile store's AppendTile); when none is idle and the
// pool is full, or none can be opened, they read through database/sql:
// Get never waits for a connection to be put back.
//
// A connection that fails to open is retried after a backoff, so a
// passing failure (too many open files, a lock held past the busy
// timeout) heals while a file that never opens costs one open per
// interval, not one per request. An Open error wrapping ErrUnusable stops
// the pool for good.
package sqlitepool

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"zombiezen.com/go/sqlite"
)

// ErrUnusable, wrapped in an error returned by Options.Open, says the file
// can never be read through the pool (for example its text is not UTF-8):
// the pool opens no more connections.
var ErrUnusable = errors.New("sqlitepool: file not readable through the pool")

// Backoff after failed opens: the first retry waits FirstBackoff, each
// further failure in a row doubles the wait, up to MaxBackoff. A
// successful open resets it.
const (
	FirstBackoff = 100 * time.Millisecond
	MaxBackoff   = 10 * time.Second
)

// Options configure a Pool.
type Options[C any] struct {
	// Max bounds the connections open at once, taken and idle (at least 1).
	Max int
	// Open opens one connection (OpenReadOnly and the caller's set-up).
	Open func() (C, error)
	// Close closes one connection.
	Close func(C) error
	// Now is the clock the backoff reads (default time.Now).
	Now func() time.Time
}

// Pool holds up to Options.Max connections of type C. It is safe for
// concurrent use.
type Pool[C any] struct {
	open  func() (C, error)
	close func(C) error
	now   func() time.Time
	max   int

	mu       sync.Mutex
	idle     []C
	n        int  // open connections, taken and idle
	opened   int  // successful opens so far
	closed   bool // Close was called
	off      bool // an Open error wrapped ErrUnusable
	failures int  // failed opens in a row
	retryAt  time.Time
	lastErr  error
}

// New returns an empty pool; it opens connections as Get needs them.
func New[C any](o Options[C]) *Pool[C] {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Pool[C]{open: o.Open, close: o.Close, now: o.Now, max: max(o.Max, 1)}
}

// OpenReadOnly opens a read-only connection to the file at path that
// waits up to busy for another connection's lock.
func OpenReadOnly(path string, busy time.Duration) (*sqlite.Conn, error) {
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	c.SetBusyTimeout(busy)
	return c, nil
}

// Get returns an idle connection, or a new one when the pool is not full,
// not closed, not off and not waiting out a backoff; ok is false
// otherwise. A connection taken is returned with Put or Discard. Opening
// runs in the caller (up to the busy timeout Open sets); idle connections
// are handed out even while the pool waits out a backoff or is off.
func (p *Pool[C]) Get() (c C, ok bool) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c = p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, true
	}
	if p.closed || p.off || p.n >= p.max || (p.failures > 0 && p.now().Before(p.retryAt)) {
		p.mu.Unlock()
		return c, false
	}
	p.n++
	p.mu.Unlock()
	c, err := p.open()
	p.mu.Lock()
	if err != nil {
		p.n--
		p.lastErr = err
		if errors.Is(err, ErrUnusable) {
			p.off = true
		} else {
			p.failures++
			p.retryAt = p.now().Add(backoff(p.failures))
		}
		p.mu.Unlock()
		var zero C
		return zero, false
	}
	p.failures, p.lastErr = 0, nil
	p.opened++
	if p.closed { // closed while opening
		p.n--
		p.mu.Unlock()
		p.close(c)
		var zero C
		return zero, false
	}
	p.mu.Unlock()
	return c, true
}

// backoff is the wait after the given number of failed opens in a row.
func backoff(failures int) time.Duration {
	d := FirstBackoff
	for i := 1; i < failures && d < MaxBackoff; i++ {
		d *= 2
	}
	return min(d, MaxBackoff)
}

// Put returns c, taken by Get, to the pool, where it stays idle: a pool
// holds at most Max connections, and a connection's page cache only grows
// with use, so keeping them costs little, while closing one above a
// smaller idle limit made busy readers reopen (~7 ms each). Put closes c
// when the pool is closed.
func (p *Pool[C]) Put(c C) {
	p.mu.Lock()
	if !p.closed {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.n--
	p.mu.Unlock()
	p.close(c)
}

// Discard closes c, taken by Get, for good (it failed in a way that may
// have left it unusable).
func (p *Pool[C]) Discard(c C) {
	p.mu.Lock()
	p.n--
	p.mu.Unlock()
	p.close(c)
}

// Close closes the idle connections and makes Get fail from now on;
// connections taken close when they are put back. Closing twice is a
// no-op.
func (p *Pool[C]) Close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.n -= len(idle)
	p.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, p.close(c))
	}
	return errors.Join(errs...)
}

// Stats is a snapshot of a pool's state.
type Stats struct {
	Open     int       // connections open, taken and idle
	Idle     int       // connections idle
	Opened   int       // successful opens so far
	Closed   bool      // Close was called
	Off      bool      // an Open error wrapped ErrUnusable
	Failures int       // failed opens in a row
	RetryAt  time.Time // no open before this time (when Failures > 0)
	LastErr  error     // the last failed open's error, nil after a success
}

// Stats returns the pool's counts.
func (p *Pool[C]) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Open: p.n, Idle: len(p.idle), Opened: p.opened, Closed: p.closed, Off: p.off,
		Failures: p.failures, RetryAt: p.retryAt, LastErr: p.lastErr}
}

// Idle returns the idle connections, which stay in the pool: for tests
// and inspection while no one else uses the pool.
func (p *Pool[C]) Idle() []C {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]C(nil), p.idle...)
}
