// Package geodb is offlined's feature store: a GeoPackage per feature service
// with the service schema, a streaming bulk loader, the RTree spatial index,
// safe queries, validated edits, attachments in media tables, a trigger-fed
// change log, server-change application with conflict records and schema
// evolution. Bookkeeping lives in gpkgext_offlined_* tables.
package geodb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
)

func init() {
	// The GeoPackage RTree triggers call these; SQLite has no built-ins for
	// them, so every connection the "sqlite" driver opens gets them.
	reg := func(name string, fn func(h BlobHeader) (driver.Value, error)) {
		sqlite.MustRegisterDeterministicScalarFunction(name, 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			b, ok := args[0].([]byte)
			if !ok {
				return nil, nil
			}
			h, err := ParseBlobHeader(b)
			if err != nil {
				return nil, nil
			}
			return fn(h)
		})
	}
	bound := func(i int) func(h BlobHeader) (driver.Value, error) {
		return func(h BlobHeader) (driver.Value, error) {
			env := h.Envelope
			if env == nil {
				g, err := DecodeWKB(h.WKB)
				if err != nil || g.IsEmpty() {
					return nil, nil
				}
				minx, maxx, miny, maxy, ok := g.Bounds()
				if !ok {
					return nil, nil
				}
				env = []float64{minx, maxx, miny, maxy}
			}
			return env[i], nil
		}
	}
	reg("ST_MinX", bound(0))
	reg("ST_MaxX", bound(1))
	reg("ST_MinY", bound(2))
	reg("ST_MaxY", bound(3))
	reg("ST_IsEmpty", func(h BlobHeader) (driver.Value, error) {
		if h.Empty {
			return int64(1), nil
		}
		if h.Envelope != nil && !math.IsNaN(h.Envelope[0]) {
			return int64(0), nil
		}
		g, err := DecodeWKB(h.WKB)
		if err != nil {
			return nil, nil
		}
		if g.IsEmpty() {
			return int64(1), nil
		}
		return int64(0), nil
	})
}

// Options tune a DB. The zero value is usable.
type Options struct {
	// BusyTimeout is how long a statement waits for another writer's lock
	// (default 10 s).
	BusyTimeout time.Duration
	// MaxAttachmentSize limits one attachment in bytes (default 2 GiB).
	MaxAttachmentSize int64
	// Readers is the size of the read connection pool (default 4).
	Readers int
	// JournalSizeLimit caps the -wal file left behind once its frames are
	// checkpointed (PRAGMA journal_size_limit, default 32 MiB): a large
	// refused or rolled-back write does not keep its space until Close.
	JournalSizeLimit int64
}

// DB is one open GeoPackage. It keeps one writer connection (writes are
// serialised, BEGIN IMMEDIATE) and a pool of reader connections; WAL mode
// lets readers run while a writer, here or in another process, commits.
type DB struct {
	// chunkBufs recycles the chunkSize buffers attachment writes read into.
	chunkBufs sync.Pool
	path      string
	w         *sql.DB
	r         *sql.DB
	opts      Options
	mu        sync.RWMutex
	tables    map[string]*Table // by table name
	byID      map[int]*Table
	stmts     stmtCache    // prepared reader statements (query.go)
	fast      *fastReaders // Scan's connections (row_fast.go)
	fastOff   bool         // tests: Scan on database/sql only
	// fastQueries counts the queries Scan started on its fast path.
	fastQueries atomic.Int64

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
}

func dsn(path string, o Options, writer bool) string {
	q := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_pragma=journal_size_limit(%d)",
		o.BusyTimeout.Milliseconds(), o.JournalSizeLimit)
	if writer {
		q += "&_txlock=immediate"
	}
	// Escape the path: SQLite decodes %XX in file: URIs, and '?' or '#'
	// would end the path early.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q
}

// Open opens (creating when absent) the GeoPackage at path, sets it up as a
// GeoPackage 1.3 with the offlined bookkeeping tables, and repairs spatial
// indexes or change triggers an interrupted bulk load left missing.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.MaxAttachmentSize <= 0 {
		opts.MaxAttachmentSize = 2 << 30
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.JournalSizeLimit <= 0 {
		opts.JournalSizeLimit = 32 << 20
	}
	// A new file is created private (0600); SQLite gives its -wal and -shm
	// the database file's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	}
	w, err := sql.Open("sqlite", dsn(path, opts, true))
	if err != nil {
		return nil, fmt.Errorf("open geopackage %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	db := &DB{path: path, w: w, opts: opts, tables: map[string]*Table{}, byID: map[int]*Table{}, subs: map[chan struct{}]struct{}{}}
	db.fast = db.newFastReaders(time.Now)
	if err := db.initSchema(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open geopackage %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, opts, false)+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open geopackage %s readers: %w", path, err)
	}
	r.SetMaxOpenConns(opts.Readers)
	db.r = r
	if err := db.loadTables(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open geopackage %s: %w", path, err)
	}
	if err := db.repair(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open geopackage %s: %w", path, err)
	}
	return db, nil
}

// Path returns the file path.
func (db *DB) Path() string { return db.path }

// Close closes all connections.
func (db *DB) Close() error {
	errs := []error{db.stmts.close(), db.fast.Close()}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	errs = append(errs, db.w.Close())
	return errors.Join(errs...)
}

// Checkpoint folds the WAL into the main file and switches the file to
// rollback-journal mode when handoff is true, so it can be copied as one
// self-contained .gpkg.
func (db *DB) Checkpoint(ctx context.Context, handoff bool) error {
	if _, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return fmt.Errorf("checkpoint %s: %w", db.path, err)
	}
	if handoff {
		if _, err := db.w.ExecContext(ctx, "PRAGMA journal_mode=DELETE"); err != nil {
			return fmt.Errorf("checkpoint %s: %w", db.path, err)
		}
	}
	return nil
}

// writeTx runs fn in one write transaction (BEGIN IMMEDIATE) and notifies
// Changed subscribers after a commit that changed something. A full disk
// or database is reported as ErrStorageFull.
func (db *DB) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return storageErr(err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return storageErr(err)
	}
	if err := tx.Commit(); err != nil {
		return storageErr(err)
	}
	db.notify()
	return nil
}

// Changed returns a channel that receives a value (coalesced, never
// blocking the writer) after every in-process commit, and a function that
// ends the subscription. Writes by other processes are not signalled: watch
// the file (and its -wal) for those.
func (db *DB) Changed() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	db.subMu.Lock()
	db.subs[ch] = struct{}{}
	db.subMu.Unlock()
	return ch, func() {
		db.subMu.Lock()
		delete(db.subs, ch)
		db.subMu.Unlock()
	}
}

func (db *DB) notify() {
	db.subMu.Lock()
	defer db.subMu.Unlock()
	for ch := range db.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func qid(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func qstr(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
