package tiles

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// putRows is how many tiles one multi-row INSERT writes: one statement
// execution (database/sql's locking and argument checks, the driver's bind
// set-up, step, reset) per putRows tiles instead of per tile.
const putRows = 32

// Insert statements of the write path, prepared once on the writer
// connection and reused by every Put.
const (
	insertTiles  = `INSERT OR REPLACE INTO tiles (zoom_level, tile_column, tile_row, tile_data) VALUES `
	insertAbsent = `INSERT OR REPLACE INTO offlined_tile_state (zoom_level, tile_column, tile_row, state) VALUES `
	tileValues   = `(?,?,?,?)`
	absentValues = `(?,?,?,'absent')`
	markComplete = `INSERT OR REPLACE INTO offlined_progress (zoom_level, planned, complete) VALUES (?, ?, 1)`
)

// putStmts are the writer connection's prepared inserts (guarded by
// Store.wmu): by head and row count (putRows or 1).
type putStmts struct {
	stmts map[putKey]*sql.Stmt
	args  []any // reused argument slice; cleared after each statement
}

// putKey names a prepared INSERT: its head and row count.
type putKey struct {
	head string
	n    int
}

// stmt returns the prepared INSERT of n rows of values after head.
func (p *putStmts) stmt(ctx context.Context, conn *sql.Conn, head, values string, n int) (*sql.Stmt, error) {
	key := putKey{head, n}
	if st := p.stmts[key]; st != nil {
		return st, nil
	}
	q := head + strings.TrimSuffix(strings.Repeat(values+",", n), ",")
	st, err := conn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if p.stmts == nil {
		p.stmts = map[putKey]*sql.Stmt{}
	}
	p.stmts[key] = st
	return st, nil
}

// reset drops queued arguments.
func (p *putStmts) reset() {
	clear(p.args)
	p.args = p.args[:0]
}

// close closes the prepared statements.
func (p *putStmts) close() {
	for _, st := range p.stmts {
		st.Close()
	}
	p.stmts = nil
}

// rowWriter queues rows of one table and writes them putRows at a time.
type rowWriter struct {
	p            *putStmts
	conn         *sql.Conn
	head, values string
	width        int // arguments per row
	n            int // rows queued in p.args
}

func (w *rowWriter) add(ctx context.Context, row ...any) error {
	w.p.args = append(w.p.args, row...)
	w.n++
	if w.n == putRows {
		return w.flush(ctx)
	}
	return nil
}

// flush writes the queued rows: one statement of putRows rows, or one
// single-row statement per row for a shorter tail (two prepared statements
// in all rather than one per tail length).
func (w *rowWriter) flush(ctx context.Context) error {
	if w.n == 0 {
		return nil
	}
	defer func() {
		w.p.reset() // drop the references to tile bodies
		w.n = 0
	}()
	rows := 1
	if w.n == putRows {
		rows = putRows
	}
	st, err := w.p.stmt(ctx, w.conn, w.head, w.values, rows)
	if err != nil {
		return err
	}
	for i := 0; i < w.n; i += rows {
		if _, err := st.ExecContext(ctx, w.p.args[i*w.width:(i+rows)*w.width]...); err != nil {
			return err
		}
	}
	return nil
}

// Put writes records in one transaction: tiles into tiles, absent ones into
// offlined_tile_state. It runs without ctx's cancellation once started (the
// driver would start a goroutine per statement to watch a cancellable
// context); ctx is checked before the transaction begins.
func (s *Store) Put(ctx context.Context, recs []TileRecord) error {
	return s.putMarked(ctx, recs, nil)
}

// levelMark is a level whose every tile is settled once a batch commits:
// MarkLevelComplete's record, written in that batch's transaction.
type levelMark struct {
	level   int
	planned int64
}

// putMarked is Put that also records marks as MarkLevelComplete does, in
// the same transaction: a download's level completes with the batch that
// settles its last tiles, one commit (its journal and file syncs) instead of
// two. Either both are written or neither.
func (s *Store) putMarked(ctx context.Context, recs []TileRecord, marks []levelMark) error {
	if len(recs) == 0 && len(marks) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.sizePages(ctx, recs); err != nil {
		return err
	}
	conn, err := s.writer(ctx)
	if err != nil {
		return err
	}
	// BEGIN and COMMIT as statements on the writer connection: a sql.Tx
	// cannot reuse the connection's prepared statements (Tx.Stmt prepares
	// them again for every transaction).
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		return fmt.Errorf("mbtiles %s: begin: %w", s.path, err)
	}
	if err := s.putRecords(ctx, conn, recs); err != nil {
		return errors.Join(err, rollback(ctx, conn))
	}
	for _, m := range marks {
		if _, err := conn.ExecContext(ctx, markComplete, m.level, m.planned); err != nil {
			return errors.Join(fmt.Errorf("mbtiles %s: mark level %d complete: %w", s.path, m.level, err), rollback(ctx, conn))
		}
	}
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		return errors.Join(fmt.Errorf("mbtiles %s: commit: %w", s.path, err), rollback(ctx, conn))
	}
	return nil
}

// rollback ends the transaction open on conn after a failed write; it is
// no error when SQLite already rolled it back.
func rollback(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, `ROLLBACK`)
	if err != nil && strings.Contains(err.Error(), "no transaction is active") {
		return nil
	}
	return err
}

// putRecords inserts recs in the open transaction on conn.
func (s *Store) putRecords(ctx context.Context, conn *sql.Conn, recs []TileRecord) error {
	defer s.put.reset() // rows queued when an error cut the batch short
	tw := rowWriter{p: &s.put, conn: conn, head: insertTiles, values: tileValues, width: 4}
	for i := range recs {
		r := &recs[i]
		z, x, y, err := s.dbAddr(r.Key)
		if err != nil {
			return err
		}
		if r.Absent {
			continue
		}
		if err := tw.add(ctx, z, x, y, r.Data); err != nil {
			return fmt.Errorf("mbtiles %s: insert tiles: %w", s.path, err)
		}
	}
	if err := tw.flush(ctx); err != nil {
		return fmt.Errorf("mbtiles %s: insert tiles: %w", s.path, err)
	}
	aw := rowWriter{p: &s.put, conn: conn, head: insertAbsent, values: absentValues, width: 3}
	for i := range recs {
		r := &recs[i]
		if !r.Absent {
			continue
		}
		z, x, y, _ := s.dbAddr(r.Key)
		if err := aw.add(ctx, z, x, y); err != nil {
			return fmt.Errorf("mbtiles %s: record absent: %w", s.path, err)
		}
	}
	if err := aw.flush(ctx); err != nil {
		return fmt.Errorf("mbtiles %s: record absent: %w", s.path, err)
	}
	return nil
}

// writerCacheKiB is the page cache of a WAL store's writer connection. A
// write transaction whose dirty pages outgrow the cache (2 MB by default)
// spills them into the WAL mid-transaction, and a spilled page written
// again is logged again with the log's checksums rewritten; a cache that
// grows past its size for one transaction frees and reallocates its pages
// on every commit. 16 MiB holds a download batch (handed at 4 MiB, larger
// while the committer lags: at most 12 MiB, Download's defaults). Only a
// store that is written gets this connection; readers keep the default. Every write goes through it: a write by another
// connection makes SQLite drop the writer's whole cache at its next
// transaction.
//
// buildCacheKiB is the writer's cache in the rollback journal (a store
// being built). It holds a download's batch (tiles handed to the
// committer at a third of defaultBatchBytes, plus the pages of the table's
// right edge and the index): a transaction that outgrows the cache
// spills pages into the file before its commit, and the first write to
// the file needs the journal synced first, so a spilled commit synced the
// journal twice more (a second journal segment): 6.5 syncs per commit of a
// 21,845-tile download instead of 5.4 (strace: 582-630 fsyncs, 478 with
// 6 MiB). With 4 MiB, 70% of the download's commits spilled. Bigger costs
// CPU: the cache is memory the writer faults in and clears (every new
// page is zeroed, 64 KiB with big pages): 16 MiB cost 5-6 us more per
// tile than 4 MiB, 8 MiB 1-2 us more (earlier runs of BenchmarkStorePut
// and tilebench). BenchmarkStorePut/dlbatch64k run two at a time, side by
// side: 6 MiB took 4% less CPU and 19% less wall time per tile than 4 MiB
// (the commit's syncs), 8 MiB 1.5 us more CPU than 6 and no less wall.
const (
	writerCacheKiB = 16 << 10
	buildCacheKiB  = defaultBatchBytes / handShare * 3 / 2 >> 10 // 6 MiB
)

// writer returns the connection Put writes through; s.wmu must be held.
func (s *Store) writer(ctx context.Context) (*sql.Conn, error) {
	if s.wconn != nil {
		return s.wconn, nil
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mbtiles %s: writer connection: %w", s.path, err)
	}
	// With the rollback journal (a store being built) only FULL syncs the
	// journal's header before the database is written: with NORMAL a power
	// cut at the wrong moment can corrupt the file. WAL is safe with NORMAL.
	// TRUNCATE ends a transaction by truncating the journal instead of
	// deleting it: no file created, directory synced and unlinked per
	// commit (about 10% less CPU per tile in BenchmarkStorePut), and as
	// safe with FULL. An empty journal is never hot; closeWriter deletes it.
	var journal string
	if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal); err != nil {
		c.Close()
		return nil, fmt.Errorf("mbtiles %s: journal mode: %w", s.path, err)
	}
	pragmas := []string{fmt.Sprintf(`PRAGMA cache_size = -%d`, writerCacheKiB)}
	if !strings.EqualFold(journal, "wal") {
		pragmas = []string{fmt.Sprintf(`PRAGMA cache_size = -%d`, buildCacheKiB), `PRAGMA synchronous = FULL`, `PRAGMA journal_mode = TRUNCATE`}
	}
	for _, q := range pragmas {
		if _, err := c.ExecContext(ctx, q); err != nil {
			c.Close()
			return nil, fmt.Errorf("mbtiles %s: writer: %s: %w", s.path, q, err)
		}
	}
	s.wconn = c
	return c, nil
}

// closeWriter closes Put's statements and the writer connection; s.wmu
// must be held. A writer in the rollback journal goes back to DELETE
// first, which removes the empty journal file TRUNCATE left.
func (s *Store) closeWriter() {
	s.put.close()
	if s.wconn == nil {
		return
	}
	_, _ = s.wconn.ExecContext(context.Background(), `PRAGMA journal_mode = DELETE`)
	s.wconn.Close()
	s.wconn = nil
}
