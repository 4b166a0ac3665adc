package geodb

import (
	"fmt"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// The packed RTree passes SQLite's rtreecheck, answers box queries exactly
// like one filled row by row, and keeps working under the triggers after
// edits; both the in-memory and the spilled (merged runs) sort are used.
func TestBulkRTree(t *testing.T) {
	db := gridDB(t) // 400 points, 5 polygons
	ctx := testCtx(t)
	tb := db.TableByID(0)
	rt := rtreeName(tb)
	boxes := [][4]float64{{-1, -1, 30, 30}, {2.5, 2.5, 5, 4}, {0, 0, 0, 0}, {7.2, 3.9, 13.1, 15}, {19, 19, 25, 25}}
	query := func() []string {
		var out []string
		for _, b := range boxes {
			var n, sum int64
			err := db.r.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), coalesce(sum(id),0) FROM %s WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?", qid(rt)), b[0], b[2], b[1], b[3]).Scan(&n, &sum)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprint(n, sum))
		}
		return out
	}
	check := func(label string) {
		var res string
		if err := db.r.QueryRowContext(ctx, "SELECT rtreecheck(?)", rt).Scan(&res); err != nil || res != "ok" {
			t.Fatalf("%s: rtreecheck = %q %v", label, res, err)
		}
	}
	check("load")
	packed := query()
	for _, run := range []int{defaultRunSize, 7, 100} {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := bulkFillRTree(ctx, tx, tb, nil, run, nil); err != nil {
			t.Fatal(err)
		}
		tx.Commit()
		check(fmt.Sprint("run ", run))
		if got := query(); fmt.Sprint(got) != fmt.Sprint(packed) {
			t.Fatalf("run %d: %v, want %v", run, got, packed)
		}
	}
	tx, _ := db.w.BeginTx(ctx, nil)
	if err := fillRTree(ctx, tx, tb); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if got := query(); fmt.Sprint(got) != fmt.Sprint(packed) {
		t.Fatalf("row-by-row RTree: %v, packed %v", got, packed)
	}
	// Rebuild packed, then edit through the triggers.
	tx, _ = db.w.BeginTx(ctx, nil)
	bulkFillRTree(ctx, tx, tb, nil, 50, nil)
	tx.Commit()
	for i := 0; i < 60; i++ {
		if _, err := db.Add(ctx, 0, testFeature()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM All_Types WHERE OBJECTID % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	check("after edits")
	n, err := db.Count(ctx, Query{LayerID: 0, Envelope: &arcgis.Envelope{XMin: 0.5, YMin: 1.5, XMax: 1.5, YMax: 2.5}})
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	db.r.QueryRowContext(ctx, `SELECT count(*) FROM All_Types WHERE ST_MinX(geom) BETWEEN 0.5 AND 1.5 AND ST_MinY(geom) BETWEEN 1.5 AND 2.5`).Scan(&want)
	if n != want || n == 0 {
		t.Fatalf("envelope count %d, brute force %d", n, want)
	}
	validate(t, db)
}
