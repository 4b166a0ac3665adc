package geodb

import (
	"context"
	"database/sql"
	"fmt"
)

// execAll runs stmts in tx in order; an error says what was being done.
func execAll(ctx context.Context, tx *sql.Tx, what string, stmts ...string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	return nil
}

// dropTriggers drops the triggers named prefix+suffix that exist.
func dropTriggers(ctx context.Context, tx *sql.Tx, prefix string, suffixes ...string) error {
	for _, s := range suffixes {
		if _, err := tx.ExecContext(ctx, "DROP TRIGGER IF EXISTS "+qid(prefix+s)); err != nil {
			return err
		}
	}
	return nil
}

// scanRows reads every row of rows with scan and closes rows.
func scanRows[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
