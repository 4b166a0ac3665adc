package geodb

import (
	"database/sql"
	"errors"
	"testing"
)

// TestLoadFinishCommitFails: when the final commit of a load fails, finish
// returns the commit's error (it used to panic rolling back the transaction
// commit had already let go of).
func TestLoadFinishCommitFails(t *testing.T) {
	ctx := testCtx(t)
	db := openTemp(t, "commitfail.gpkg")
	l := db.newLoader(ctx, LoadOptions{})
	if err := l.begin(); err != nil {
		t.Fatal(err)
	}
	// End the transaction behind the loader's back: its Commit then fails.
	if err := l.tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	err := l.finish(nil)
	if !errors.Is(err, sql.ErrTxDone) {
		t.Fatalf("finish after a failed commit: err = %v, want sql.ErrTxDone", err)
	}
	if l.tx != nil {
		t.Fatal("finish left the failed transaction in place")
	}
}
