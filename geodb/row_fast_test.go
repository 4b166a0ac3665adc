package geodb

import (
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/sqlitepool"
	"zombiezen.com/go/sqlite"
	"zombiezen.com/go/sqlite/sqlitex"
)

// TestScanFastEvolvedDateField: a Date field the server changed to String
// keeps its DATETIME column (Evolve), whose text database/sql returns as a
// time; Scan gives the same values on both paths, before and after
// reopening the file.
func TestScanFastEvolvedDateField(t *testing.T) {
	ctx := testCtx(t)
	db := loadedDB(t)
	ls, _ := readLayers(t)
	l := ls[0]
	l.Fields = append([]arcgis.Field(nil), l.Fields...)
	for i := range l.Fields {
		if l.Fields[i].Name == "seen" {
			l.Fields[i].Type = arcgis.FieldString
			l.Fields[i].Length = 64
		}
	}
	if _, err := db.CreateLayer(ctx, &l, nil); err != nil { // existing id → evolve
		t.Fatal(err)
	}
	if c := db.TableByID(0).Col("seen"); c == nil || c.kind != kString {
		t.Fatalf("evolved column: %+v", c)
	}
	same := func(db *DB) {
		t.Helper()
		for _, q := range []Query{{LayerID: 0}, {LayerID: 0, OutFields: []string{"seen"}, NoGeometry: true}} {
			db.fastOff = true
			want, werr := scanAll(t, db, q)
			db.fastOff = false
			got, gerr := scanAll(t, db, q)
			if werr != nil || gerr != nil {
				t.Fatal(werr, gerr)
			}
			seen := false
			for _, r := range want {
				for _, v := range r.Values {
					if v != nil {
						seen = true
					}
				}
			}
			if !seen {
				t.Fatalf("query %+v: no values to compare", q)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("query %+v: fast path\n%+v\ndatabase/sql\n%+v", q, got, want)
			}
		}
	}
	same(db)
	path := db.Path()
	db.Close()
	db2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	same(db2)
}

// TestScanFastTextDateKinds: TimeOnly and TimestampOffset fields are
// declared TEXT, which the driver does not convert: queries returning them
// run on the fast path, with the same values.
func TestScanFastTextDateKinds(t *testing.T) {
	db := loadedDB(t)
	q := Query{LayerID: 0, OutFields: []string{"clock", "stamp"}}
	db.fastOff = true
	want, werr := scanAll(t, db, q)
	db.fastOff = false
	before := db.fastQueries.Load()
	got, gerr := scanAll(t, db, q)
	if werr != nil || gerr != nil || len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Fatalf("fast %+v %v, database/sql %+v %v", got, gerr, want, werr)
	}
	if db.fastQueries.Load() == before {
		t.Fatal("TEXT-declared time fields did not run on the fast path")
	}
}

// concurrentScans runs n queries at once: each holds its connection until
// all n have their first row.
func concurrentScans(t *testing.T, db *DB, n int) {
	t.Helper()
	var started, done sync.WaitGroup
	started.Add(n)
	release := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			first := true
			errs <- db.Scan(testCtx(t), Query{LayerID: 0, OutFields: []string{"name"}}, func(*RowView) error {
				if first {
					first = false
					started.Done()
					<-release
				}
				return nil
			})
		}()
	}
	started.Wait()
	close(release)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestScanFastPoolReuse: Readers concurrent queries open Readers fast
// connections, all kept idle; Readers more concurrent queries reuse them
// without opening any.
func TestScanFastPoolReuse(t *testing.T) {
	db := gridDB(t)
	n := db.opts.Readers
	if n < 3 {
		t.Fatalf("Readers = %d, the test needs more than 2", n)
	}
	before := db.fastQueries.Load()
	concurrentScans(t, db, n)
	s := db.fast.Stats()
	opens, idle := s.Opened, s.Idle
	if opens != n || idle != n || s.Open != n {
		t.Fatalf("after %d concurrent queries: %d opened, %d idle, want %d and %d", n, opens, idle, n, n)
	}
	concurrentScans(t, db, n)
	s = db.fast.Stats()
	opens, idle = s.Opened, s.Idle
	if opens != n || idle != n || s.Open != n {
		t.Fatalf("after %d more: %d opened in all, %d idle, want %d and %d", n, opens, idle, n, n)
	}
	if q := db.fastQueries.Load() - before; q != int64(2*n) {
		t.Fatalf("%d of %d queries on the fast path", q, 2*n)
	}
}

// TestScanFastEncodingErrorRetries: when a fast connection cannot read
// the file's encoding (here: busy past the timeout, another connection
// holding the file's exclusive lock), that query falls back and the fast
// path comes back once the backoff has passed; only a definitive
// non-UTF-8 answer turns it off for good (the old pool turned it off on
// any error).
func TestScanFastEncodingErrorRetries(t *testing.T) {
	ctx := testCtx(t)
	g := gridDB(t)
	path := g.Path()
	g.Close()
	db, err := Open(ctx, path, Options{BusyTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := clock.NewFake(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	db.fast.Close()
	db.fast = db.newFastReaders(clk.Now)
	// A rollback journal lets another connection lock readers out.
	if err := db.Checkpoint(ctx, true); err != nil {
		t.Fatal(err)
	}
	lock, err := sqlite.OpenConn(path, sqlite.OpenReadWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := sqlitex.ExecuteTransient(lock, "BEGIN EXCLUSIVE", nil); err != nil {
		t.Fatal(err)
	}
	q := Query{LayerID: 0, OutFields: []string{"name"}}
	if _, err := scanAll(t, db, q); err == nil {
		t.Fatal("query on an exclusively locked file succeeded")
	}
	s := db.fast.Stats()
	if s.Off || s.Failures != 1 || s.LastErr == nil || sqlite.ErrCode(s.LastErr).ToPrimary() != sqlite.ResultBusy {
		t.Fatalf("after a busy encoding check: %+v, want one failure (busy), not off", s)
	}
	if err := sqlitex.ExecuteTransient(lock, "ROLLBACK", nil); err != nil {
		t.Fatal(err)
	}
	before := db.fastQueries.Load()
	if rows, err := scanAll(t, db, q); err != nil || len(rows) != 400 || db.fastQueries.Load() != before {
		t.Fatalf("within the backoff: %d rows, %v, fast %v; want 400 on database/sql", len(rows), err, db.fastQueries.Load() != before)
	}
	clk.Advance(sqlitepool.FirstBackoff)
	if rows, err := scanAll(t, db, q); err != nil || len(rows) != 400 || db.fastQueries.Load() != before+1 {
		t.Fatalf("after the backoff: %d rows, %v, fast %v; want 400 on the fast path", len(rows), err, db.fastQueries.Load() != before)
	}
	if s := db.fast.Stats(); s.Opened != 1 || s.Failures != 0 {
		t.Fatalf("after healing: %+v", s)
	}
}

// TestScanFastOffForUTF16: a file whose text is UTF-16 turns the fast
// path off for good after one open, and its queries run on database/sql
// with the same text.
func TestScanFastOffForUTF16(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "utf16.gpkg")
	c, err := sqlite.OpenConn(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitex.ExecuteScript(c, "PRAGMA encoding = 'UTF-16le'; CREATE TABLE x(v);", nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ls, raws := readLayers(t)
	if _, err := db.CreateLayer(ctx, &ls[0], raws[0]); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	db.fast.Close()
	db.fast = db.newFastReaders(clk.Now)
	for range 3 {
		if _, err := scanAll(t, db, Query{LayerID: ls[0].ID}); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	if s := db.fast.Stats(); !s.Off || s.Opened != 0 || !errors.Is(s.LastErr, sqlitepool.ErrUnusable) || db.fastQueries.Load() != 0 {
		t.Fatalf("UTF-16 file: %+v, %d fast queries; want off, nothing opened", s, db.fastQueries.Load())
	}
}
