package geodb

import (
	"reflect"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
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
	db.fast.mu.Lock()
	opens, idle := db.fast.opens, len(db.fast.idle)
	db.fast.mu.Unlock()
	if opens != n || idle != n {
		t.Fatalf("after %d concurrent queries: %d opened, %d idle, want %d and %d", n, opens, idle, n, n)
	}
	concurrentScans(t, db, n)
	db.fast.mu.Lock()
	opens, idle = db.fast.opens, len(db.fast.idle)
	db.fast.mu.Unlock()
	if opens != n || idle != n {
		t.Fatalf("after %d more: %d opened in all, %d idle, want %d and %d", n, opens, idle, n, n)
	}
	if q := db.fastQueries.Load() - before; q != int64(2*n) {
		t.Fatalf("%d of %d queries on the fast path", q, 2*n)
	}
}
