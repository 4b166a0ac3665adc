package geodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// LoadOptions tune a bulk load.
type LoadOptions struct {
	// BatchSize is the number of rows per transaction (default 20000).
	BatchSize int
	// FetchAttachment opens the content of an attachment the replica lists
	// by URL. When nil, such attachments are counted as skipped.
	FetchAttachment func(ctx context.Context, layerID int, a *arcgis.AttachmentInfo) (io.ReadCloser, error)
}

// LoadStats counts what a load wrote.
type LoadStats struct {
	Features           int64
	Attachments        int64
	AttachmentsSkipped int64
	PerLayer           map[int]int64
	// Warnings lists what a tolerant load changed: widened columns, dropped
	// values, geometries or features (see LoadWarning).
	Warnings []LoadWarning
}

// LoadReplica streams a replica JSON document (createReplica's JSON result
// or a synchronizeReplica data response: {"replicaID",…,"layers":[{"id",
// "features":[…],"attachments":[…]}]}) from r into the existing tables.
// Memory stays flat: features are decoded one at a time and committed in
// batches; the RTree and triggers are rebuilt once per table at the end, and
// loaded rows are not recorded in the change log. It returns the replica's
// top-level members (layers omitted). The layer "id" must precede its
// "features" in each layer object.
func (db *DB) LoadReplica(ctx context.Context, r io.Reader, opts LoadOptions) (*arcgis.Replica, LoadStats, error) {
	l := db.newLoader(ctx, opts)
	rep, err := l.replica(r)
	if ferr := l.finish(err); err == nil {
		err = ferr
	}
	if err == nil {
		err = db.saveWarnings(context.WithoutCancel(ctx), l.stats.Warnings)
	}
	if err != nil {
		return nil, l.stats, fmt.Errorf("load replica into %s: %w", db.path, storageErr(err))
	}
	return rep, l.stats, nil
}

// LoadFeatures streams a query response ({"features":[…], …}) for one
// layer from r, like LoadReplica.
func (db *DB) LoadFeatures(ctx context.Context, layerID int, r io.Reader, opts LoadOptions) (LoadStats, error) {
	l := db.newLoader(ctx, opts)
	err := l.featureSet(r, layerID)
	if ferr := l.finish(err); err == nil {
		err = ferr
	}
	if err == nil {
		err = db.saveWarnings(context.WithoutCancel(ctx), l.stats.Warnings)
	}
	if err != nil {
		return l.stats, fmt.Errorf("load layer %d into %s: %w", layerID, db.path, storageErr(err))
	}
	return l.stats, nil
}

// bulkCacheKiB is the writer's page cache during bulk loads. The RTree is
// packed bottom-up and rows are appended, so a small cache does: 16 MiB
// (the earlier figure, for per-row RTree updates) cost 65 MB more peak RSS
// and more CPU on 200k points than 4 MiB.
const bulkCacheKiB = 4 << 10

type loader struct {
	ctx     context.Context
	db      *DB
	opts    LoadOptions
	stats   LoadStats
	tx      *sql.Tx
	inBatch int
	// ins queues rows per table for multi-row INSERTs in tx.
	ins map[*Table]*batchInsert
	// execCtx is ctx without its cancellation: the driver starts a watcher
	// per statement for a cancellable context, so inserts run without one
	// and flush checks ctx instead.
	execCtx context.Context
	touched map[*Table]bool
	order   []*Table
	// ext tracks the extent of geometries loaded into tables that were
	// empty before the load (nil entry: unknown, compute in SQL).
	ext map[*Table]*[4]float64
	// committed is set once a batch is committed (bulk mode is then on disk).
	committed bool
	// gidIndexed marks tables whose GlobalID index was rebuilt early because
	// attachments need to find their parents by GlobalID.
	gidIndexed map[*Table]bool
	// attBytes counts attachment bytes written in the open transaction.
	attBytes int64
	// suppressed: change logging is off in the open transaction (set at
	// its first attachment, cleared before it commits).
	suppressed bool
	// warned marks table.field.kind warnings already logged.
	warned map[string]bool
	// rt collects the RTree entries of tables that were empty before the
	// load, so the index is built without reading the table back.
	rt map[*Table]*rtCollector
}

// Attachments are written in the loader's transaction, committed every
// attachBatchCount attachments or attachBatchBytes bytes, whichever first.
const (
	attachBatchCount = 500
	attachBatchBytes = 64 << 20
)

func (db *DB) newLoader(ctx context.Context, opts LoadOptions) *loader {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 20000
	}
	// A page cache a little above the default for the GlobalID index sort;
	// memory stays bounded.
	if _, err := db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size=-%d", bulkCacheKiB)); err != nil {
		slog.Debug("geodb: cache_size", "err", err)
	}
	// One checkpoint at the end instead of one (with fsyncs) per 4 MB of WAL.
	if _, err := db.w.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		slog.Debug("geodb: wal_autocheckpoint", "err", err)
	}
	return &loader{ctx: ctx, db: db, opts: opts, stats: LoadStats{PerLayer: map[int]int64{}},
		ins: map[*Table]*batchInsert{}, execCtx: context.WithoutCancel(ctx), touched: map[*Table]bool{}, ext: map[*Table]*[4]float64{},
		gidIndexed: map[*Table]bool{}, warned: map[string]bool{}, rt: map[*Table]*rtCollector{}}
}

func (l *loader) begin() error {
	if l.tx != nil {
		return nil
	}
	tx, err := l.db.w.BeginTx(l.ctx, nil)
	if err != nil {
		return err
	}
	l.tx = tx
	return nil
}

// flush writes the queued rows of every table.
func (l *loader) flush() error {
	if err := l.ctx.Err(); err != nil {
		return err
	}
	for t, b := range l.ins {
		if err := b.flush(); err != nil {
			return fmt.Errorf("insert into %s: %w", t.Name, err)
		}
	}
	return nil
}

// dropInserts discards queued rows and the statements of the transaction.
func (l *loader) dropInserts() {
	for t, b := range l.ins {
		b.discard()
		delete(l.ins, t)
	}
}

func (l *loader) commit() error {
	if l.tx == nil {
		return nil
	}
	if err := l.flush(); err != nil {
		return err
	}
	if l.suppressed {
		if err := suppress(l.ctx, l.tx, false); err != nil {
			return err
		}
	}
	l.dropInserts()
	err := l.tx.Commit()
	l.tx, l.inBatch, l.attBytes, l.suppressed = nil, 0, 0, false
	if err == nil {
		l.committed = true
	}
	return err
}

func (l *loader) finish(loadErr error) error {
	var commitErr error
	if l.tx != nil && loadErr == nil {
		commitErr = l.commit()
		loadErr = commitErr
	}
	// A failed commit has already let go of its transaction.
	if l.tx != nil && loadErr != nil {
		l.dropInserts()
		l.tx.Rollback()
		l.tx, l.suppressed = nil, false
	}
	defer func() {
		for _, c := range l.rt {
			c.close()
		}
	}()
	defer func() {
		ctx := context.WithoutCancel(l.ctx)
		l.db.w.ExecContext(ctx, "PRAGMA cache_size=-2000")
		l.db.w.ExecContext(ctx, "PRAGMA wal_autocheckpoint=1000")
		l.db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	}()
	if len(l.order) == 0 || (loadErr != nil && !l.committed) {
		return commitErr // nothing reached the file: triggers and index are intact
	}
	// Even after an error, put the index and triggers back for what landed.
	ctx := context.WithoutCancel(l.ctx)
	err := l.db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, t := range l.order {
			ext := l.ext[t]
			if ext != nil && math.IsInf(ext[0], 1) {
				ext = nil // no geometries
			}
			var known *rtCollector
			if loadErr == nil {
				known = l.rt[t] // after an error, read back what landed
			}
			if err := finishBulk(ctx, tx, t, ext, known); err != nil {
				return fmt.Errorf("index %s: %w", t.Name, err)
			}
		}
		return nil
	})
	return errors.Join(commitErr, err)
}

func (l *loader) touch(t *Table) error {
	if l.touched[t] {
		return nil
	}
	if err := l.begin(); err != nil {
		return err
	}
	if err := startBulk(l.ctx, l.tx, t); err != nil {
		return err
	}
	var exists bool
	if err := l.tx.QueryRowContext(l.ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s)", qid(t.Name))).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		// Into an empty table: build the GlobalID index once at the end
		// (sorting beats updating it per row) and track the extent here.
		if _, err := l.tx.ExecContext(l.ctx, "DROP INDEX IF EXISTS "+qid(t.Name+"_gid")); err != nil {
			return err
		}
		if t.GeomCol != "" {
			l.ext[t] = &[4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
			l.rt[t] = newRTCollector(t, collectRunSize)
		}
	}
	l.touched[t] = true
	l.order = append(l.order, t)
	return nil
}

func insertSQL(t *Table, cols []string, orReplace bool) string {
	var q strings.Builder
	verb := "INSERT"
	if orReplace {
		verb = "INSERT OR REPLACE"
	}
	fmt.Fprintf(&q, "%s INTO %s (", verb, qid(t.Name))
	for i, c := range cols {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(qid(c))
	}
	q.WriteString(") VALUES (")
	for i := range cols {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("?")
	}
	q.WriteString(")")
	return q.String()
}

func allCols(t *Table) []string {
	cols := make([]string, 0, len(t.Cols)+1)
	for _, c := range t.Cols {
		cols = append(cols, c.Name)
	}
	if t.GeomCol != "" {
		cols = append(cols, t.GeomCol)
	}
	return cols
}

// insertRows is the number of rows per multi-row INSERT of a bulk load.
const insertRows = 64

// insertArgs queues one converted row (values for allCols(t)).
func (l *loader) insertArgs(t *Table, args []any, g *Geom) error {
	if err := l.touch(t); err != nil {
		return err
	}
	if err := l.begin(); err != nil {
		return err
	}
	b := l.ins[t]
	if b == nil {
		cols := allCols(t)
		q := make([]string, len(cols))
		for i, c := range cols {
			q[i] = qid(c)
		}
		head := fmt.Sprintf("INSERT OR REPLACE INTO %s (%s) VALUES ", qid(t.Name), strings.Join(q, ", "))
		b = newBatchInsert(l.execCtx, l.tx, head, len(cols), insertRows)
		l.ins[t] = b
	}
	if e := l.ext[t]; e != nil && g != nil {
		if minx, maxx, miny, maxy, ok := g.Bounds(); ok {
			e[0], e[1] = math.Min(e[0], minx), math.Min(e[1], miny)
			e[2], e[3] = math.Max(e[2], maxx), math.Max(e[3], maxy)
			if c := l.rt[t]; c != nil && args[len(args)-1] != nil {
				if err := c.add(args, minx, maxx, miny, maxy); err != nil {
					return err
				}
			}
		}
	}
	if c := l.rt[t]; c != nil {
		c.rows++
	}
	if err := b.add(args...); err != nil {
		return fmt.Errorf("insert into %s: %w", t.Name, err)
	}
	l.stats.Features++
	l.stats.PerLayer[t.LayerID]++
	l.inBatch++
	if l.inBatch >= l.opts.BatchSize {
		return l.commit()
	}
	return nil
}
