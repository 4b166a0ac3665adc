package geodb

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// An envelope query returns exactly the features that intersect the box
// (bounds inside it, crossing its edges, touching them), for points and
// polygons, alone and with a query geometry.
func TestEnvelopeQueryMatchesExactTest(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	want := func(layer int, tests ...*Geom) []int64 {
		var ids []int64
		err := db.Each(ctx, Query{LayerID: layer}, func(r *Row) error {
			for _, g := range tests {
				if r.Geometry == nil || !Intersects(r.Geometry, g) {
					return nil
				}
			}
			ids = append(ids, r.OID)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	boxes := [][4]float64{{2.5, 2.5, 5, 4}, {3, 3, 3, 3}, {-1, -1, 0, 0}, {1.5, 1, 4.5, 1.5}, {0, 0, 19, 19}, {7.9, 0.5, 8.1, 1.5}, {20, 20, 30, 30}}
	tri := &arcgis.Geometry{Rings: [][][]float64{{{0, 0}, {0, 9}, {9, 0}, {0, 0}}}}
	triGeom, err := FromEsri(tri, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		env := &arcgis.Envelope{XMin: b[0], YMin: b[1], XMax: b[2], YMax: b[3]}
		for _, layer := range []int{0, 2} {
			bg := boxGeom(b[0], b[1], b[2], b[3])
			for _, c := range []struct {
				q     Query
				tests []*Geom
			}{
				{Query{LayerID: layer, Envelope: env}, []*Geom{bg}},
				{Query{LayerID: layer, Envelope: env, Geometry: tri}, []*Geom{bg, triGeom}},
			} {
				got, err := db.IDs(ctx, c.q)
				if err != nil {
					t.Fatal(err)
				}
				if w := want(layer, c.tests...); !slices.Equal(got, w) {
					t.Errorf("layer %d box %v geometry %v: ids %v, want %v", layer, b, c.q.Geometry != nil, got, w)
				}
			}
		}
	}
}

// A query shape that comes again runs on its prepared statement (the
// boxes differ only in bound values); the cache stays bounded, and a
// replaced statement's open rows still read.
func TestQueryStatementsPreparedOnce(t *testing.T) {
	db := gridDB(t)
	db.fastOff = true // the database/sql path's cache (Scan's fallback)
	ctx := testCtx(t)
	for i := range 5 {
		v := float64(i)
		n, err := db.Count(ctx, Query{LayerID: 0, Envelope: &arcgis.Envelope{XMin: v, YMin: v, XMax: v + 1.5, YMax: v + 1.5}})
		if err != nil || n != 4 {
			t.Fatalf("box %d: %d features, %v", i, n, err)
		}
	}
	if n := len(db.stmts.m); n != 1 {
		t.Fatalf("5 boxes of one shape: %d statements cached, want 1", n)
	}
	// The pages of one query share a statement (limit and offset are bound).
	for off := range 5 {
		ids, err := db.IDs(ctx, Query{LayerID: 0, Where: "amount >= 0", Offset: off * 10, Limit: 10})
		if err != nil || len(ids) != 10 || ids[0] != int64(off*10+1) {
			t.Fatalf("page %d: ids %v, %v", off, ids, err)
		}
	}
	if n := len(db.stmts.m); n != 2 {
		t.Fatalf("5 pages of one query: %d statements cached, want 2 (with the box shape)", n)
	}
	// Open rows of a statement the cache drops go on reading.
	var read int
	err := db.Each(ctx, Query{LayerID: 0, Where: "amount >= 0"}, func(r *Row) error {
		if read++; read == 1 {
			// Literals are bound: the shapes differ by their number of terms.
			for i := range stmtCacheSize + 5 {
				where := fmt.Sprintf("amount = %d", i%20) + strings.Repeat(" OR amount = -1", i)
				ids, err := db.IDs(ctx, Query{LayerID: 0, Where: where})
				if err != nil || !slices.Equal(ids, []int64{int64(i%20 + 1)}) {
					t.Fatalf("shape %d: ids %v, %v", i, ids, err)
				}
			}
		}
		return nil
	})
	if err != nil || read != 400 {
		t.Fatalf("read %d rows while the cache was refilled: %v", read, err)
	}
	if n := len(db.stmts.m); n > stmtCacheSize {
		t.Fatalf("%d statements cached, at most %d", n, stmtCacheSize)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if db.stmts.m != nil {
		t.Fatal("statements left after Close")
	}
}

// A value read that needs no conversion is passed on as it came: no
// allocation per attribute of every row a query returns.
func TestFromSQLKeepsUnchangedValues(t *testing.T) {
	for _, c := range []struct {
		col Column
		v   any
	}{
		{Column{Name: "n", kind: kInt64}, any(int64(123456))},
		{Column{Name: "s", kind: kString}, any("a name")},
		{Column{Name: "g", kind: kGlobalID}, any("{8E9E9C2C-0000-4000-8000-000000000000}")},
	} {
		var got any
		if allocs := testing.AllocsPerRun(100, func() { got = fromSQL(&c.col, c.v) }); allocs != 0 || got != c.v {
			t.Errorf("%s: %v (%d allocations), want %v and none", c.col.Name, got, int(allocs), c.v)
		}
	}
}
