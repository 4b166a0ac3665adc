package geodb

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/whereclause"
)

// An UPPER( nesting deeper than SQLite's expression limit is a where error,
// not an SQLite "Recursion limit" error at run time.
func TestDeepFunctionNestingRefused(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	w := strings.Repeat("UPPER(", 831) + "name" + strings.Repeat(")", 831) + " = 'X'"
	_, err := db.Count(ctx, Query{LayerID: 0, Where: w})
	var we *WhereError
	if !errors.As(err, &we) || !errors.Is(err, ErrWhere) {
		t.Fatalf("err = %v, want a WhereError", err)
	}
	if !strings.Contains(we.Msg, "nesting too deep") {
		t.Fatalf("message %q", we.Msg)
	}
	// At the limit it still works.
	ok := strings.Repeat("UPPER(", whereclause.MaxDepth-1) + "name" + strings.Repeat(")", whereclause.MaxDepth-1) + " = 'P0_4'"
	if n, err := db.Count(ctx, Query{LayerID: 0, Where: ok}); err != nil || n != 1 {
		t.Fatalf("depth %d: n=%d err=%v", whereclause.MaxDepth-1, n, err)
	}
}

// Id lists longer than SQLite's bound-variable limit (32766) work.
func TestHugeIDLists(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	ids := make([]int64, 40000)
	for i := range ids {
		ids[i] = int64(i*3 + 1) // 1, 4, 7, … : 134 of the 400 rows
	}
	n, err := db.Count(ctx, Query{LayerID: 0, ObjectIDs: ids})
	if err != nil || n != 134 {
		t.Fatalf("count n=%d err=%v, want 134", n, err)
	}
	got, err := db.IDs(ctx, Query{LayerID: 0, ObjectIDs: ids, Where: "priority = 3"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range got {
		if (id-1)%3 != 0 {
			t.Fatalf("id %d not in the list", id)
		}
	}
	gids := make([]string, 40000)
	for i := range gids {
		gids[i] = "{00000000-0000-4000-8000-000000000000}"
	}
	if _, err := db.Count(ctx, Query{LayerID: 0, GlobalIDs: gids}); err != nil {
		t.Fatalf("global ids: %v", err)
	}
}

// A write that hits the size limit (as a full disk does) is ErrStorageFull.
func TestStorageFullTyped(t *testing.T) {
	db := openTemp(t, "full.gpkg")
	ctx := testCtx(t)
	var pages int64
	if err := db.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, "PRAGMA max_page_count="+strconv.FormatInt(pages+2, 10)); err != nil {
		t.Fatal(err)
	}
	err := db.SetMeta(ctx, "big", strings.Repeat("x", 1<<20))
	if !errors.Is(err, ErrStorageFull) {
		t.Fatalf("err = %v, want ErrStorageFull", err)
	}
	if storageErr(errors.New("other")) == nil || errors.Is(storageErr(errors.New("other")), ErrStorageFull) {
		t.Fatal("unrelated error classified as storage full")
	}
}

// A large rolled-back write leaves no large -wal behind once checkpointed:
// journal_size_limit truncates it when the log restarts.
func TestWALBoundedAfterRollback(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "wal.gpkg")
	const limit = 1 << 20
	db, err := Open(ctx, path, Options{JournalSizeLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	refused := errors.New("refused")
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		for i := 0; i < 16; i++ {
			if _, err := tx.ExecContext(ctx, `INSERT INTO gpkgext_offlined_meta (key, value) VALUES (?, randomblob(1048576))`, "k"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatal(err)
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() < 4*limit {
		t.Fatalf("the rolled-back write did not spill into the WAL (%d bytes): test is void", st.Size())
	}
	// What the automatic checkpoint does, then the next commit restarts the log.
	if _, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetMeta(ctx, "after", "1"); err != nil {
		t.Fatal(err)
	}
	st, err = os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > limit {
		t.Fatalf("-wal is %d bytes after checkpoint, limit %d", st.Size(), limit)
	}
}

// New GeoPackages and their -wal/-shm are readable by the owner only.
func TestNewFilesPrivate(t *testing.T) {
	db := openTemp(t, "private.gpkg")
	if err := db.SetMeta(testCtx(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{db.Path(), db.Path() + "-wal", db.Path() + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m&0o077 != 0 {
			t.Errorf("%s mode %v, want no group/other access", filepath.Base(p), m)
		}
	}
}

// A long flat OR chain is a deep tree for SQLite (its expression depth limit
// is 1000): refused as a where error, not run into an SQLite error.
func TestLongOrChain(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	w := "priority=1" + strings.Repeat(" OR priority=1", 1100)
	if _, err := db.Count(ctx, Query{LayerID: 0, Where: w}); !errors.Is(err, ErrWhere) {
		t.Fatalf("err = %v, want ErrWhere", err)
	}
	w = "name = 'p0_4'" + strings.Repeat(" OR name = 'x'", 300)
	if n, err := db.Count(ctx, Query{LayerID: 0, Where: w}); err != nil || n != 1 {
		t.Fatalf("300 terms: n=%d err=%v", n, err)
	}
}
