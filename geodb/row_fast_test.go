package geodb

import (
	"reflect"
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
