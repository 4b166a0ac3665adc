package tiles

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"zombiezen.com/go/sqlite"
)

// tileReaders is a small pool of read-only connections opened through
// zombiezen.com/go/sqlite (the same SQLite library as the database/sql
// driver), each with the tile SELECT prepared. AppendTile reads through
// them: database/sql and the driver cost a statement lookup, boxed
// arguments, a rows object and two copies of the blob per tile (the
// driver's and Scan's), about a quarter of the tile route's allocations
// and half its bytes. A connection is taken when one is idle or the pool
// is not full; otherwise, or when one cannot be opened, the read goes
// through database/sql.
type tileReaders struct {
	mu     sync.Mutex
	idle   []*tileConn
	open   int
	closed bool
	failed bool // a connection did not open: database/sql from now on
}

// tileConn is a pooled connection and its prepared tile SELECT.
type tileConn struct {
	c  *sqlite.Conn
	st *sqlite.Stmt
}

// maxTileReaders bounds the pool: tile reads run at most GOMAXPROCS at
// once behind the local API's gate; more concurrent readers use database/sql.
const maxTileReaders = 4

// tileReaderBusy is how long a fast reader waits for a lock, as the
// database/sql connections' busy_timeout.
const tileReaderBusy = 10 * time.Second

// get returns an idle or new connection to path, or nil.
func (p *tileReaders) get(path string) *tileConn {
	p.mu.Lock()
	if p.closed || p.failed {
		p.mu.Unlock()
		return nil
	}
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c
	}
	if p.open >= maxTileReaders {
		p.mu.Unlock()
		return nil
	}
	p.open++
	p.mu.Unlock()
	tc, err := openTileConn(path)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.failed = true
		p.mu.Unlock()
		return nil
	}
	return tc
}

// openTileConn opens a read-only connection to path with the tile SELECT
// prepared.
func openTileConn(path string) (*tileConn, error) {
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		return nil, err
	}
	c.SetBusyTimeout(tileReaderBusy)
	st, err := c.Prepare(tileSQL)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &tileConn{c: c, st: st}, nil
}

// put returns c to the pool, or closes it when the pool is closed.
func (p *tileReaders) put(c *tileConn) {
	p.mu.Lock()
	if !p.closed {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.open--
	p.mu.Unlock()
	c.close()
}

// discard closes c, taken from the pool, for good.
func (p *tileReaders) discard(c *tileConn) {
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
	c.close()
}

func (c *tileConn) close() {
	c.st.Finalize()
	c.c.Close()
}

// close closes the idle connections; those in use close when put back.
func (p *tileReaders) close() error {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.open -= len(idle)
	p.mu.Unlock()
	var errs []error
	for _, c := range idle {
		c.st.Finalize()
		errs = append(errs, c.c.Close())
	}
	return errors.Join(errs...)
}

// read appends the tile at the MBTiles address z/x/row to buf; found is
// false when there is none.
func (c *tileConn) read(buf []byte, z, x, row int) (out []byte, found bool, err error) {
	st := c.st
	defer st.Reset()
	st.BindInt64(1, int64(z))
	st.BindInt64(2, int64(x))
	st.BindInt64(3, int64(row))
	ok, err := st.Step()
	if err != nil || !ok {
		return buf, false, err
	}
	n := st.ColumnLen(0)
	buf = growLen(buf, n)
	st.ColumnBytes(0, buf[len(buf)-n:])
	return buf, true, nil
}

// growLen extends b by n bytes (their content undefined).
func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// AppendTile appends tile z/x/y (addressed as Tile does) to buf and
// returns the extended buffer: a caller that reuses its buffer reads a
// tile without allocating. A tile the store does not hold is
// ErrTileNotFound (buf returned as is). ctx is not watched by the read
// itself on the fast path (it takes microseconds); it is passed on to
// database/sql on the other.
func (s *Store) AppendTile(ctx context.Context, buf []byte, z, x, y int) ([]byte, error) {
	row, ok := s.tileRow(z, x, y)
	if !ok {
		return buf, ErrTileNotFound
	}
	if c := s.readers.get(s.path); c != nil {
		out, found, err := c.read(buf, z, x, row)
		if err != nil {
			s.readers.discard(c)
			return buf, fmt.Errorf("mbtiles %s: tile %d/%d/%d: %w", s.path, z, x, y, err)
		}
		s.readers.put(c)
		if !found {
			return buf, ErrTileNotFound
		}
		return out, nil
	}
	b, err := s.Tile(ctx, z, x, y)
	if err != nil {
		return buf, err
	}
	return append(buf, b...), nil
}

// tileRow returns the MBTiles row of tile z/x/y and whether the address
// can hold a tile (Tile and AppendTile check it here).
func (s *Store) tileRow(z, x, y int) (int, bool) {
	if z < 0 || x < 0 || y < 0 || z > 30 {
		return 0, false
	}
	s.mu.RLock()
	xyz := s.xyz
	s.mu.RUnlock()
	if !xyz {
		return y, true
	}
	if x >= 1<<z || y >= 1<<z {
		return 0, false
	}
	return (1 << z) - 1 - y, true
}

// formatCache keeps a store's MBTiles format between metadata writes.
type formatCache struct {
	v   atomic.Pointer[string]
	mu  sync.Mutex
	gen uint64 // metadata writes so far (under mu)
}

// invalidate forgets the format: the metadata changed.
func (c *formatCache) invalidate() {
	c.mu.Lock()
	c.gen++
	c.v.Store(nil)
	c.mu.Unlock()
}

// Format returns the store's MBTiles format (metadata "format", "" when
// unset), read once and kept until the metadata is written again.
func (s *Store) Format(ctx context.Context) (string, error) {
	c := &s.format
	if p := c.v.Load(); p != nil {
		return *p, nil
	}
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	md, err := s.Metadata(ctx)
	if err != nil {
		return "", err
	}
	f := md["format"]
	c.mu.Lock()
	if c.gen == gen { // no write since the read: f is current
		c.v.Store(&f)
	}
	c.mu.Unlock()
	return f, nil
}
