package geodb

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/offlined/offlined/geodb/benchdata"
)

func drainSorter(t *testing.T, s *entrySorter) []zEntry {
	t.Helper()
	defer s.close()
	var out []zEntry
	for {
		z, ok, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		out = append(out, z)
	}
	slices.SortFunc(out, func(a, b zEntry) int { return cmp.Or(cmp.Compare(a.z, b.z), cmp.Compare(a.e.id, b.e.id)) })
	return out
}

// A load into an empty table builds its RTree from the entries collected
// while inserting: they equal what a scan of the table yields (also when
// spilled), and they are not used when rows were replaced.
func TestLoadRTreeCollected(t *testing.T) {
	ctx := testCtx(t)
	for _, kind := range []string{"points", "polygons"} {
		db := openTemp(t, kind+".gpkg")
		if _, err := db.CreateLayer(ctx, benchdata.Layer(kind), nil); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.LoadReplica(ctx, bytes.NewReader(benchdata.Replica(kind, 3000)), LoadOptions{BatchSize: 700}); err != nil {
			t.Fatal(err)
		}
		tb := db.TableByID(0)
		rt := rtreeName(tb)
		var res string
		if err := db.r.QueryRowContext(ctx, "SELECT rtreecheck(?)", rt).Scan(&res); err != nil || res != "ok" {
			t.Fatalf("%s: rtreecheck = %q %v", kind, res, err)
		}
		var n int
		db.r.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM %s", qid(rt))).Scan(&n)
		if n != 3000 {
			t.Fatalf("%s: %d RTree entries, want 3000", kind, n)
		}

		// The collector, fed the rows as the loader does, sorts like a scan.
		c := newRTCollector(tb, 7) // spills every 7 entries
		defer c.close()
		var sel []string
		for _, c := range allCols(tb) {
			sel = append(sel, qid(c))
		}
		rows, err := db.r.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY 1", strings.Join(sel, ", "), qid(tb.Name)))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			c.rows++
			x0, x1, y0, y1, ok := blobBounds(vals[len(vals)-1].([]byte))
			if !ok {
				t.Fatal("no bounds")
			}
			if err := c.add(vals, x0, x1, y0, y1); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		ext, err := scanExtent(ctx, tx, tb)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := c.sorter(ctx, tx, tb, ext, 50)
		if err != nil || cs == nil {
			t.Fatalf("%s: collected sorter %v %v", kind, cs, err)
		}
		ss, err := sortEntries(ctx, tx, tb, ext, 50)
		if err != nil {
			t.Fatal(err)
		}
		got, want := drainSorter(t, cs), drainSorter(t, ss)
		if len(got) != 3000 || !slices.Equal(got, want) {
			t.Fatalf("%s: collected entries differ from the scan (%d vs %d)", kind, len(got), len(want))
		}
		c.rows++ // a row the table does not hold: not used
		if s, err := c.sorter(ctx, tx, tb, ext, 50); err != nil || s != nil {
			t.Fatalf("%s: sorter with a row count mismatch = %v, %v; want nil", kind, s, err)
		}
		tx.Rollback()
	}

	// Replaced rows (a repeated object id) fall back to the scan: the index
	// holds exactly the table's rows.
	db := openTemp(t, "dup.gpkg")
	if _, err := db.CreateLayer(ctx, benchdata.Layer("points"), nil); err != nil {
		t.Fatal(err)
	}
	doc := `{"layers":[{"id":0,"features":[
 {"attributes":{"OBJECTID":1,"GlobalID":"{00000001-0000-4000-8000-000000000001}"},"geometry":{"x":1,"y":1}},
 {"attributes":{"OBJECTID":2,"GlobalID":"{00000002-0000-4000-8000-000000000001}"},"geometry":{"x":2,"y":2}},
 {"attributes":{"OBJECTID":1,"GlobalID":"{00000003-0000-4000-8000-000000000001}"},"geometry":{"x":5,"y":5}}]}]}`
	if _, _, err := db.LoadReplica(ctx, strings.NewReader(doc), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	rt := rtreeName(db.TableByID(0))
	var n int
	var minx float64
	if err := db.r.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), (SELECT minx FROM %[1]s WHERE id = 1) FROM %[1]s", qid(rt))).Scan(&n, &minx); err != nil {
		t.Fatal(err)
	}
	if n != 2 || minx != 5 {
		t.Fatalf("after a replaced row: %d entries, id 1 at x=%g; want 2, x=5", n, minx)
	}
}
