package geodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"zombiezen.com/go/sqlite"
)

// fastReaders is a small pool of read-only connections opened through
// zombiezen.com/go/sqlite over the same SQLite library as the database/sql
// pool. Scan uses them for its rows: database/sql and the driver cost
// about 170 ns per column per row (a connection mutex taken on every
// column call, each value boxed and copied), more than SQLite's own work
// on a bbox query. A connection is taken when one is idle or the pool is
// not full; otherwise, and for any query the fast path does not take,
// Scan uses the database/sql pool.
type fastReaders struct {
	mu     sync.Mutex
	idle   []*fastConn
	open   int
	closed bool
	off    bool // the file is not UTF-8: no fast connections
	opens  int  // connections opened so far (tests)
}

// fastConn is a pooled connection and the statements it keeps prepared
// (at most stmtCacheSize; then one is finalized for each new one).
type fastConn struct {
	c     *sqlite.Conn
	stmts map[string]*sqlite.Stmt
}

// prepare returns the prepared statement of text.
func (fc *fastConn) prepare(text string) (*sqlite.Stmt, error) {
	if st := fc.stmts[text]; st != nil {
		return st, nil
	}
	for k, st := range fc.stmts {
		if len(fc.stmts) < stmtCacheSize {
			break
		}
		st.Finalize()
		delete(fc.stmts, k)
	}
	st, err := fc.c.Prepare(text)
	if err != nil {
		return nil, err
	}
	fc.stmts[text] = st
	return st, nil
}

// get returns an idle or new connection to path (at most max open), or
// nil. A new connection waits up to busy for a lock, like the driver's.
func (f *fastReaders) get(path string, max int, busy time.Duration) *fastConn {
	f.mu.Lock()
	if f.closed || f.off {
		f.mu.Unlock()
		return nil
	}
	if n := len(f.idle); n > 0 {
		c := f.idle[n-1]
		f.idle = f.idle[:n-1]
		f.mu.Unlock()
		return c
	}
	if f.open >= max {
		f.mu.Unlock()
		return nil
	}
	f.open++
	f.opens++
	f.mu.Unlock()
	c, err := sqlite.OpenConn(path, sqlite.OpenReadOnly)
	if err != nil {
		f.mu.Lock()
		f.open--
		f.mu.Unlock()
		return nil
	}
	c.SetBusyTimeout(busy)
	if !utf8DB(c) {
		// readCell copies a text's stored bytes; a UTF-16 file (never
		// a GeoPackage) stays on the database/sql path.
		c.Close()
		f.mu.Lock()
		f.open--
		f.off = true
		f.mu.Unlock()
		return nil
	}
	return &fastConn{c: c, stmts: map[string]*sqlite.Stmt{}}
}

// utf8DB reports whether c's database stores text as UTF-8.
func utf8DB(c *sqlite.Conn) bool {
	st, _, err := c.PrepareTransient("PRAGMA encoding")
	if err != nil {
		return false
	}
	defer st.Finalize()
	row, err := st.Step()
	return err == nil && row && st.ColumnText(0) == "UTF-8"
}

// put returns c to the pool, where it stays idle: the pool holds at most
// Readers connections, and a connection's page cache only grows with use,
// so keeping them all idle costs little, while closing one above a smaller
// idle limit made every third or fourth concurrent query reopen (~7 ms).
// It closes c when the pool is closed.
func (f *fastReaders) put(c *fastConn) {
	f.mu.Lock()
	if !f.closed {
		f.idle = append(f.idle, c)
		f.mu.Unlock()
		return
	}
	f.open--
	f.mu.Unlock()
	c.c.Close()
}

// discard closes c, taken from the pool, for good.
func (f *fastReaders) discard(c *fastConn) {
	f.mu.Lock()
	f.open--
	f.mu.Unlock()
	c.c.Close()
}

// close closes the idle connections; those in use close when put back.
func (f *fastReaders) close() error {
	f.mu.Lock()
	idle := f.idle
	f.idle, f.closed = nil, true
	f.open -= len(idle)
	f.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.c.Close())
	}
	return errors.Join(errs...)
}

// timeDecl reports whether modernc.org/sqlite returns the text of a column
// declared decl as time.Time (it compares the whole upper-cased declared
// type with DATE, DATETIME and TIMESTAMP).
func timeDecl(decl string) bool {
	switch strings.ToUpper(decl) {
	case "DATE", "DATETIME", "TIMESTAMP":
		return true
	}
	return false
}

// readDeclTypes sets t's columns' declTime from the types the file
// declares for them.
func readDeclTypes(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, t *Table) error {
	rows, err := q.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?)`, t.Name)
	if err != nil {
		return fmt.Errorf("column types of %s: %w", t.Name, err)
	}
	// scanRows closes rows: the writer has one connection.
	decls, err := scanRows(rows, func(rows *sql.Rows) (d [2]string, err error) {
		err = rows.Scan(&d[0], &d[1])
		return d, err
	})
	if err != nil {
		return fmt.Errorf("column types of %s: %w", t.Name, err)
	}
	for _, d := range decls {
		if c := t.Col(d[0]); c != nil {
			c.declTime = timeDecl(d[1])
		}
	}
	return nil
}

// errNotFast says the fast path did not start the query (before any row):
// Scan runs it on the database/sql pool instead.
var errNotFast = errors.New("not on the fast path")

// scanFast runs sqlText on a fast connection, filling r and calling row
// for every result row; declTime[i] says select-list value i is the text
// of a date-declared column, which it parses as the driver does. It
// returns errNotFast when it could not prepare, bind or start the query;
// errors after the first row are returned.
func (db *DB) scanFast(ctx context.Context, p *plan, sqlText string, args []any, r *RowView, declTime []bool, withGeo bool, row func() (bool, error)) error {
	if db.fastOff {
		return errNotFast
	}
	fc := db.fast.get(db.path, max(db.opts.Readers, 1), db.opts.BusyTimeout)
	if fc == nil {
		return errNotFast
	}
	healthy := false
	defer func() {
		if healthy {
			db.fast.put(fc)
		} else {
			db.fast.discard(fc)
		}
	}()
	if ctx.Done() != nil {
		fc.c.SetInterrupt(ctx.Done())
		defer fc.c.SetInterrupt(nil)
	}
	st, err := fc.prepare(sqlText)
	if err != nil {
		// Refused or interrupted, the connection stays usable (SQLite
		// clears a pending interrupt at the next prepare or step).
		healthy = true
		return errNotFast
	}
	defer func() {
		st.Reset()
		st.ClearBindings()
	}()
	if st.BindParamCount() != len(args) {
		healthy = true
		return errNotFast
	}
	for i, a := range args {
		switch v := a.(type) {
		case nil:
			st.BindNull(i + 1)
		case int:
			st.BindInt64(i+1, int64(v))
		case int64:
			st.BindInt64(i+1, v)
		case float64:
			st.BindFloat(i+1, v)
		case string:
			st.BindText(i+1, v)
		case bool:
			st.BindBool(i+1, v)
		default:
			healthy = true
			return errNotFast
		}
	}
	db.fastQueries.Add(1)
	nv := len(r.raw)
	first := true
	var blob []byte
	for {
		more, err := st.Step()
		if err != nil {
			if ctx.Err() != nil {
				// Interrupted: usable again once reset. Keeping it spares
				// an open for each canceled request (map clients cancel
				// the boxes they pan away from).
				healthy = true
				return fmt.Errorf("query layer %d: %w", r.layer, ctx.Err())
			}
			if first {
				healthy = true
				return errNotFast
			}
			return fmt.Errorf("query layer %d: %w", r.layer, err)
		}
		if !more {
			healthy = true
			return nil
		}
		first = false
		for i := range nv {
			readCell(st, i, declTime[i], &r.raw[i])
		}
		r.blob = nil
		if withGeo && st.ColumnType(nv) == sqlite.TypeBlob {
			if n := st.ColumnLen(nv); n > 0 {
				if cap(blob) < n {
					blob = make([]byte, n)
				}
				blob = blob[:n]
				st.ColumnBytes(nv, blob)
				r.blob = blob
			}
		}
		stop, err := row()
		if err != nil || stop {
			healthy = true
			return err
		}
	}
}

// readCell reads column i of st's row into rc as the database/sql driver
// gives it: the text of a date-declared column (decl) parsed as the driver
// parses it (driverTime).
func readCell(st *sqlite.Stmt, i int, decl bool, rc *rawCell) {
	switch st.ColumnType(i) {
	case sqlite.TypeInteger:
		rc.typ, rc.i = rawInt, st.ColumnInt64(i)
	case sqlite.TypeFloat:
		rc.typ, rc.f = rawFloat, st.ColumnFloat(i)
	case sqlite.TypeText:
		rc.typ = rawText
		readBytes(st, i, rc)
		if decl {
			if tm, ok := driverTime(rc.b); ok {
				rc.typ, rc.tm = rawTime, tm
			}
		}
	case sqlite.TypeBlob:
		rc.typ = rawBlob
		readBytes(st, i, rc)
	default:
		rc.typ = rawNull
	}
}

// readBytes copies column i of st's row into rc.b.
func readBytes(st *sqlite.Stmt, i int, rc *rawCell) {
	// A text's bytes are its UTF-8: fast connections are UTF-8 only
	// (fastReaders.get).
	n := st.ColumnLen(i)
	if cap(rc.b) < n {
		rc.b = make([]byte, n, n+n/4)
	}
	rc.b = rc.b[:n]
	st.ColumnBytes(i, rc.b)
}
