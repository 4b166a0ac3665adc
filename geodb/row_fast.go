package geodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/sqlitepool"
	"zombiezen.com/go/sqlite"
)

// fastReaders is the pool of read-only connections Scan reads its rows
// through (sqlitepool): database/sql and the driver cost about 170 ns per
// column per row (a connection mutex taken on every column call, each
// value boxed and copied), more than SQLite's own work on a bbox query. A
// connection is taken when one is idle or the pool is not full; otherwise,
// while a failed open is waited out, and for any query the fast path does
// not take, Scan uses the database/sql pool.
type fastReaders = sqlitepool.Pool[*fastConn]

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

// close closes fc (Conn.Close finalizes its statements).
func (fc *fastConn) close() error { return fc.c.Close() }

// newFastReaders returns db's pool of Readers fast connections; now is the
// clock of its backoff after a failed open.
func (db *DB) newFastReaders(now func() time.Time) *fastReaders {
	return sqlitepool.New(sqlitepool.Options[*fastConn]{
		Max:   db.opts.Readers,
		Open:  db.openFast,
		Close: (*fastConn).close,
		Now:   now,
	})
}

// openFast opens a fast connection to db's file. A file whose text is not
// UTF-8 (never a GeoPackage) stays on the database/sql path for good:
// readCell copies a text's stored bytes. An error reading the encoding
// (busy past the timeout, say) only delays the next open.
func (db *DB) openFast() (*fastConn, error) {
	c, err := sqlitepool.OpenReadOnly(db.path, db.opts.BusyTimeout)
	if err != nil {
		return nil, err
	}
	enc, err := encoding(c)
	if err == nil && enc != "UTF-8" {
		err = fmt.Errorf("text encoding %s: %w", enc, sqlitepool.ErrUnusable)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("fast reader %s: %w", db.path, err)
	}
	return &fastConn{c: c, stmts: map[string]*sqlite.Stmt{}}, nil
}

// encoding returns the text encoding of c's database (PRAGMA encoding:
// UTF-8, UTF-16le or UTF-16be).
func encoding(c *sqlite.Conn) (string, error) {
	st, _, err := c.PrepareTransient("PRAGMA encoding")
	if err != nil {
		return "", fmt.Errorf("PRAGMA encoding: %w", err)
	}
	defer st.Finalize()
	row, err := st.Step()
	if err != nil {
		return "", fmt.Errorf("PRAGMA encoding: %w", err)
	}
	if !row {
		return "", errors.New("PRAGMA encoding: no answer")
	}
	return st.ColumnText(0), nil
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
	fc, ok := db.fast.Get()
	if !ok {
		return errNotFast
	}
	healthy := false
	defer func() {
		if healthy {
			db.fast.Put(fc)
		} else {
			db.fast.Discard(fc)
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
	// (openFast).
	n := st.ColumnLen(i)
	if cap(rc.b) < n {
		rc.b = make([]byte, n, n+n/4)
	}
	rc.b = rc.b[:n]
	st.ColumnBytes(i, rc.b)
}
