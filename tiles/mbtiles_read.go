package tiles

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offlined/offlined/internal/sqlitepool"
	"zombiezen.com/go/sqlite"
)

// tileReaders is the pool of read-only connections AppendTile reads
// through, each with the tile SELECT prepared: database/sql and the driver
// cost a statement lookup, boxed arguments, a rows object and two copies
// of the blob per tile (the driver's and Scan's), about a quarter of the
// tile route's allocations and half its bytes. A connection is taken when
// one is idle or the pool is not full; otherwise, or while a failed open
// is waited out (sqlitepool's backoff), the read goes through database/sql.
type tileReaders = sqlitepool.Pool[*tileConn]

// tileConn is a pooled connection and its prepared tile SELECT.
type tileConn struct {
	c  *sqlite.Conn
	st *sqlite.Stmt
}

// tileReaderCount sizes a store's pool: the local API's gate lets
// GOMAXPROCS tile reads run at once (by default), so as many connections
// keep every admitted read off database/sql; at least 4, for callers
// without the gate on small machines. Each connection's page cache grows
// only with use.
func tileReaderCount() int { return max(4, runtime.GOMAXPROCS(0)) }

// tileReaderBusy is how long a fast reader waits for a lock, as the
// database/sql connections' busy_timeout.
const tileReaderBusy = 10 * time.Second

// newTileReaders returns the tile-reading pool of the file at path; now
// is the clock of its backoff after a failed open.
func newTileReaders(path string, now func() time.Time) *tileReaders {
	return sqlitepool.New(sqlitepool.Options[*tileConn]{
		Max:   tileReaderCount(),
		Open:  func() (*tileConn, error) { return openTileConn(path) },
		Close: (*tileConn).close,
		Now:   now,
	})
}

// openTileConn opens a read-only connection to path with the tile SELECT
// prepared.
func openTileConn(path string) (*tileConn, error) {
	c, err := sqlitepool.OpenReadOnly(path, tileReaderBusy)
	if err != nil {
		return nil, err
	}
	st, err := c.Prepare(tileSQL)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("mbtiles %s: prepare the tile read: %w", path, err)
	}
	return &tileConn{c: c, st: st}, nil
}

// close closes c (Conn.Close finalizes its prepared statement).
func (c *tileConn) close() error { return c.c.Close() }

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
	if c, ok := s.readers.Get(); ok {
		out, found, err := c.read(buf, z, x, row)
		if err != nil {
			s.readers.Discard(c)
			return buf, fmt.Errorf("mbtiles %s: tile %d/%d/%d: %w", s.path, z, x, y, err)
		}
		s.readers.Put(c)
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
