package geodb

import (
	"context"
	"database/sql"
	"errors"
)

// ChangeCounter returns the change log's sequence counter: the sequence
// number of the newest change ever logged. Unlike LastChangeSeq it does not
// fall back when acknowledged rows are deleted, so it grows with every
// change, made in this process or by another one (0 if none yet).
func (db *DB) ChangeCounter(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'gpkgext_offlined_changes'`).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}
