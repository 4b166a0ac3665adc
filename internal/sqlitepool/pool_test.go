package sqlitepool

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/clock"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// fakeConn is a connection of the fake opener.
type fakeConn struct {
	id     int
	closed bool
}

// opener opens fakeConns; fail, when set, is the next opens' error. It
// counts opens (attempts) and keeps every connection it made.
type opener struct {
	mu    sync.Mutex
	fail  error
	tries int
	conns []*fakeConn
	// When block is set, Open sends on entered, then waits for block
	// to close.
	block, entered chan struct{}
}

func (o *opener) open() (*fakeConn, error) {
	o.mu.Lock()
	block, entered := o.block, o.entered
	o.mu.Unlock()
	if block != nil {
		entered <- struct{}{}
		<-block
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tries++
	if o.fail != nil {
		return nil, o.fail
	}
	c := &fakeConn{id: len(o.conns)}
	o.conns = append(o.conns, c)
	return c, nil
}

func (o *opener) close(c *fakeConn) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if c.closed {
		return fmt.Errorf("connection %d closed twice", c.id)
	}
	c.closed = true
	return nil
}

func (o *opener) isClosed(c *fakeConn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return c.closed
}

func (o *opener) setFail(err error) {
	o.mu.Lock()
	o.fail = err
	o.mu.Unlock()
}

func (o *opener) attempts() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tries
}

// openConns returns how many connections the opener made are not closed.
func (o *opener) openConns() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, c := range o.conns {
		if !c.closed {
			n++
		}
	}
	return n
}

func newTestPool(max int) (*Pool[*fakeConn], *opener, *clock.Fake) {
	o := &opener{}
	clk := clock.NewFake(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	p := New(Options[*fakeConn]{Max: max, Open: o.open, Close: o.close, Now: clk.Now})
	return p, o, clk
}

// The pool opens at most Max connections, hands back idle ones before
// opening more, and keeps every connection put back.
func TestPoolBoundAndReuse(t *testing.T) {
	p, o, _ := newTestPool(3)
	var taken []*fakeConn
	for range 3 {
		c, ok := p.Get()
		if !ok {
			t.Fatalf("Get %d refused under the bound", len(taken))
		}
		taken = append(taken, c)
	}
	if _, ok := p.Get(); ok {
		t.Fatal("Get above Max succeeded")
	}
	if o.attempts() != 3 {
		t.Fatalf("%d opens, want 3 (a full pool must not try)", o.attempts())
	}
	for _, c := range taken {
		p.Put(c)
	}
	for range 3 {
		c, ok := p.Get()
		if !ok {
			t.Fatal("Get refused with idle connections")
		}
		defer p.Put(c)
	}
	if s := p.Stats(); s.Opened != 3 || s.Open != 3 || s.Idle != 0 || o.attempts() != 3 {
		t.Fatalf("stats %+v, %d opens; want 3 opened, 3 open, none idle, no reopen", s, o.attempts())
	}
}

// After a failed open, no open is tried until the backoff has passed; the
// wait doubles with each failure in a row up to MaxBackoff, and a
// successful open resets it.
func TestPoolBackoff(t *testing.T) {
	p, o, clk := newTestPool(2)
	o.setFail(syscall.EMFILE)
	want := FirstBackoff
	for i := 1; i <= 12; i++ {
		if _, ok := p.Get(); ok {
			t.Fatalf("failure %d: Get succeeded", i)
		}
		if o.attempts() != i {
			t.Fatalf("failure %d: %d opens tried", i, o.attempts())
		}
		s := p.Stats()
		if s.Failures != i || !errors.Is(s.LastErr, syscall.EMFILE) || !s.RetryAt.Equal(clk.Now().Add(want)) {
			t.Fatalf("failure %d: stats %+v, want retry in %v", i, s, want)
		}
		// Requests within the backoff do not open.
		for range 5 {
			if _, ok := p.Get(); ok {
				t.Fatal("Get succeeded during the backoff")
			}
		}
		clk.Advance(want - time.Nanosecond)
		if _, ok := p.Get(); ok || o.attempts() != i {
			t.Fatalf("failure %d: an open tried %v before the backoff ended", i, time.Nanosecond)
		}
		clk.Advance(time.Nanosecond)
		want = min(2*want, MaxBackoff)
	}
	if want != MaxBackoff {
		t.Fatalf("backoff %v after 12 failures, want the cap %v", want, MaxBackoff)
	}
	// Heals: the next open succeeds and the count starts again.
	o.setFail(nil)
	c, ok := p.Get()
	if !ok {
		t.Fatal("Get after the failure passed: refused")
	}
	if s := p.Stats(); s.Failures != 0 || s.LastErr != nil || s.Opened != 1 {
		t.Fatalf("after a good open: %+v", s)
	}
	o.setFail(syscall.EMFILE)
	if _, ok := p.Get(); ok {
		t.Fatal("second connection opened while opens fail")
	}
	if s := p.Stats(); s.Failures != 1 || !s.RetryAt.Equal(clk.Now().Add(FirstBackoff)) {
		t.Fatalf("a failure after a success: %+v, want the first backoff again", s)
	}
	// Idle connections are handed out during a backoff.
	p.Put(c)
	if c2, ok := p.Get(); !ok || c2 != c {
		t.Fatalf("idle connection during a backoff: %v %v", c2, ok)
	}
}

// A passing failure heals: after one failed open (EMFILE) and its
// backoff, the pool opens and reuses connections as before.
func TestPoolHealsAfterPassingFailure(t *testing.T) {
	p, o, clk := newTestPool(2)
	o.setFail(fmt.Errorf("open x: %w", syscall.EMFILE))
	if _, ok := p.Get(); ok {
		t.Fatal("Get succeeded on a failing open")
	}
	o.setFail(nil)
	clk.Advance(FirstBackoff)
	a, ok1 := p.Get()
	b, ok2 := p.Get()
	if !ok1 || !ok2 {
		t.Fatal("no connection after the failure passed")
	}
	p.Put(a)
	p.Put(b)
	if s := p.Stats(); s.Opened != 2 || s.Idle != 2 || s.Failures != 0 {
		t.Fatalf("after healing: %+v", s)
	}
}

// An Open error wrapping ErrUnusable switches the pool off for good: no
// more opens, however long one waits.
func TestPoolUnusableStaysOff(t *testing.T) {
	p, o, clk := newTestPool(2)
	o.setFail(fmt.Errorf("file is UTF-16le: %w", ErrUnusable))
	for range 3 {
		if _, ok := p.Get(); ok {
			t.Fatal("Get succeeded on an unusable file")
		}
		clk.Advance(time.Hour)
	}
	o.setFail(nil)
	if _, ok := p.Get(); ok || o.attempts() != 1 || !p.Stats().Off {
		t.Fatalf("after ErrUnusable: Get %v, %d opens, stats %+v; want off after one", ok, o.attempts(), p.Stats())
	}
}

// Close closes the idle connections, a connection put back after Close,
// and one whose open was under way; Get fails after Close; nothing stays
// open and nothing is closed twice.
func TestPoolClose(t *testing.T) {
	p, o, _ := newTestPool(3)
	a, _ := p.Get()
	b, _ := p.Get()
	o.mu.Lock()
	o.block, o.entered = make(chan struct{}), make(chan struct{})
	block, entered := o.block, o.entered
	o.mu.Unlock()
	opening := make(chan bool)
	go func() {
		_, ok := p.Get() // opens a third, blocked in Open
		opening <- ok
	}()
	<-entered
	p.Put(a)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if !a.closed {
		t.Fatal("idle connection not closed by Close")
	}
	if b.closed {
		t.Fatal("a connection in use was closed under its user")
	}
	close(block)
	if <-opening {
		t.Fatal("a connection opened across Close was handed out")
	}
	p.Put(b)
	if !b.closed {
		t.Fatal("connection put back after Close not closed")
	}
	if _, ok := p.Get(); ok {
		t.Fatal("Get after Close succeeded")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := o.openConns(); n != 0 || p.Stats().Open != 0 {
		t.Fatalf("after Close: %d connections open, pool counts %d", n, p.Stats().Open)
	}
	if got := len(o.conns); got != 3 {
		t.Fatalf("%d connections made, want 3", got)
	}
}

// Concurrent Get, Put, Discard, failing opens and Close (run with -race):
// the bound holds throughout and nothing stays open once all is put back.
func TestPoolConcurrent(t *testing.T) {
	p, o, clk := newTestPool(4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	maxOpen := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				c, ok := p.Get()
				if s := p.Stats(); s.Open > 4 {
					mu.Lock()
					maxOpen = max(maxOpen, s.Open)
					mu.Unlock()
				}
				if !ok {
					continue
				}
				if o.isClosed(c) {
					t.Errorf("Get handed out a closed connection")
				}
				switch {
				case i%50 == 0 && g == 0:
					o.setFail(syscall.EMFILE)
				case i%50 == 10 && g == 0:
					o.setFail(nil)
					clk.Advance(MaxBackoff)
				}
				if i%7 == 0 {
					p.Discard(c)
				} else {
					p.Put(c)
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 100 {
			p.Stats()
		}
		p.Close()
	}()
	wg.Wait()
	if maxOpen > 0 {
		t.Fatalf("%d connections open at once, bound 4", maxOpen)
	}
	if n := o.openConns(); n != 0 || p.Stats().Open != 0 {
		t.Fatalf("after Close: %d connections open, pool counts %d", n, p.Stats().Open)
	}
}

// OpenReadOnly opens a real file read-only with the given busy timeout,
// and fails on a missing file.
func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	w, err := sqlite.OpenConn(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteScript(w, "CREATE TABLE t(v); INSERT INTO t VALUES (42);", nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c, err := OpenReadOnly(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var v int64
	if err := sqlitex.Execute(c, "SELECT v FROM t", &sqlitex.ExecOptions{ResultFunc: func(st *sqlite.Stmt) error {
		v = st.ColumnInt64(0)
		return nil
	}}); err != nil || v != 42 {
		t.Fatalf("read %d, %v", v, err)
	}
	if err := sqlitex.Execute(c, "INSERT INTO t VALUES (1)", nil); err == nil {
		t.Fatal("write through a read-only connection succeeded")
	}
	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "missing.db"), time.Second); err == nil {
		t.Fatal("opened a missing file")
	}
}
