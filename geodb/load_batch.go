package geodb

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// batchInsert writes rows with multi-row INSERT statements (VALUES (…),
// (…), …): one statement execution per many rows saves the per-call cost
// of database/sql and the driver (locking, argument conversion, binding
// setup, reset, result), which dominates for narrow rows. Rows are written
// in the order they were added, so INSERT OR REPLACE keeps "last wins".
type batchInsert struct {
	ctx   context.Context
	tx    *sql.Tx
	head  string // "INSERT … INTO t (c1, …) VALUES "
	width int    // values per row
	per   int    // rows per full statement
	full  *sql.Stmt
	args  []any
	n     int
}

// maxBatchVars keeps a statement under SQLite's default limit of 32766
// host parameters.
const maxBatchVars = 32000

func newBatchInsert(ctx context.Context, tx *sql.Tx, head string, width, per int) *batchInsert {
	if width > 0 && per*width > maxBatchVars {
		per = max(1, maxBatchVars/width)
	}
	return &batchInsert{ctx: ctx, tx: tx, head: head, width: width, per: per, args: make([]any, 0, per*width)}
}

func (b *batchInsert) sql(rows int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?,", b.width), ",") + ")"
	var q strings.Builder
	q.Grow(len(b.head) + rows*(len(row)+1))
	q.WriteString(b.head)
	for i := 0; i < rows; i++ {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString(row)
	}
	return q.String()
}

// add queues one row (len(row) == width) and writes a full statement's
// worth when there is one.
func (b *batchInsert) add(row ...any) error {
	b.args = append(b.args, row...)
	b.n++
	if b.n >= b.per {
		return b.flush()
	}
	return nil
}

// flush writes the queued rows.
func (b *batchInsert) flush() error {
	if b.n == 0 {
		return nil
	}
	var err error
	n := b.n
	if n == b.per {
		if b.full == nil {
			if b.full, err = b.tx.PrepareContext(b.ctx, b.sql(b.per)); err != nil {
				return err
			}
		}
		_, err = b.full.ExecContext(b.ctx, b.args...)
	} else {
		_, err = b.tx.ExecContext(b.ctx, b.sql(n), b.args...)
	}
	clear(b.args)
	b.args, b.n = b.args[:0], 0
	if err != nil {
		return fmt.Errorf("insert %d rows: %w", n, err)
	}
	return nil
}

// discard drops queued rows and closes the prepared statement.
func (b *batchInsert) discard() {
	clear(b.args)
	b.args, b.n = b.args[:0], 0
	if b.full != nil {
		b.full.Close()
		b.full = nil
	}
}
