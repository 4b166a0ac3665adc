package geodb

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// scannedRow is a copy of what Scan gave for one row.
type scannedRow struct {
	OID    int64
	Values []any
	Blob   []byte
	Geom   *Geom
}

func scanAll(t *testing.T, db *DB, q Query) ([]scannedRow, error) {
	t.Helper()
	var out []scannedRow
	err := db.Scan(testCtx(t), q, func(r *RowView) error {
		g, err := r.Geometry()
		if err != nil {
			return err
		}
		vals := make([]any, len(r.Cols))
		for i := range vals {
			vals[i] = r.Value(i)
		}
		out = append(out, scannedRow{OID: r.OID, Values: vals, Blob: bytes.Clone(r.blob), Geom: g})
		return nil
	})
	return out, err
}

// TestScanFastPathSameRows: Scan gives the same rows, values and blobs on
// its fast connections as through database/sql, for every layer of the
// fixtures and queries with fields (date fields too: their text is parsed
// as the driver parses it), where, paging and spatial filters; every query
// runs on the fast path.
func TestScanFastPathSameRows(t *testing.T) {
	env := &arcgis.Envelope{XMin: 2.5, YMin: 2.5, XMax: 11, YMax: 9}
	poly := &arcgis.Geometry{Rings: [][][]float64{{{0, 0}, {0, 12}, {12, 0}, {0, 0}}}}
	dates := 0
	for _, db := range []*DB{gridDB(t), loadedDB(t)} {
		for _, tb := range db.Tables() {
			var all, dated []string
			for _, c := range tb.Cols {
				all = append(all, c.Name)
				if c.declTime {
					dated = append(dated, c.Name)
				}
			}
			qs := []Query{{}, {OutFields: all}, {OutFields: all, Offset: 3, Limit: 7}, {OutFields: all, NoGeometry: true, OrderBy: []string{all[len(all)-1] + " DESC"}}}
			if len(dated) > 0 {
				qs = append(qs, Query{OutFields: dated, NoGeometry: true})
			}
			if tb.GeomCol != "" {
				qs = append(qs, Query{OutFields: all, Envelope: env}, Query{OutFields: all, Envelope: env, Offset: 2, Limit: 5},
					Query{OutFields: all, Geometry: poly, Envelope: env}, Query{OutFields: all, Geometry: poly, NoGeometry: true})
			}
			for i, q := range qs {
				q.LayerID = tb.LayerID
				db.fastOff = true
				want, werr := scanAll(t, db, q)
				db.fastOff = false
				before := db.fastQueries.Load()
				got, gerr := scanAll(t, db, q)
				if fmt.Sprint(werr) != fmt.Sprint(gerr) || !reflect.DeepEqual(got, want) {
					t.Fatalf("%s query %d: fast path gives %d rows (%v), database/sql %d (%v)\n%+v\n%+v", tb.Name, i, len(got), gerr, len(want), werr, got, want)
				}
				if db.fastQueries.Load() == before {
					t.Fatalf("%s query %d did not run on the fast path", tb.Name, i)
				}
				if len(dated) > 0 && i == 0 {
					for _, r := range want {
						for j, c := range tb.Cols {
							if c.declTime && r.Values[j] != nil {
								dates++
							}
						}
					}
				}
			}
		}
	}
	if dates == 0 {
		t.Fatal("the fixtures hold no date values to compare")
	}
}

// TestScanFastCanceled: a query whose context ends stops with the
// context's error, its connection goes back to the pool, and the next
// query runs on it again.
func TestScanFastCanceled(t *testing.T) {
	db := gridDB(t)
	if _, err := scanAll(t, db, Query{LayerID: 0, OutFields: []string{"name"}}); err != nil {
		t.Fatal(err)
	}
	fc := db.fast.Idle()[0]
	ctx, cancel := context.WithCancel(testCtx(t))
	n := 0
	err := db.Scan(ctx, Query{LayerID: 0, OutFields: []string{"name"}}, func(*RowView) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 3 {
		t.Fatalf("after cancel: %d rows, %v", n, err)
	}
	idle := db.fast.Idle()
	kept := db.fast.Stats().Open == 1 && len(idle) == 1 && idle[0] == fc
	if !kept {
		t.Fatal("the canceled query's connection was not put back")
	}
	before := db.fastQueries.Load()
	rows, err := scanAll(t, db, Query{LayerID: 0, OutFields: []string{"name"}})
	if err != nil || len(rows) != 400 || db.fastQueries.Load() == before {
		t.Fatalf("next query: %d rows, %v, fast %v", len(rows), err, db.fastQueries.Load() > before)
	}
}

// TestScanFastCloseDuringQuery: Close while a query runs closes the
// query's connection when the query ends; nothing stays open.
func TestScanFastCloseDuringQuery(t *testing.T) {
	db := gridDB(t)
	if _, err := scanAll(t, db, Query{LayerID: 0, OutFields: []string{"name"}}); err != nil {
		t.Fatal(err)
	}
	n := 0
	err := db.Scan(testCtx(t), Query{LayerID: 0, OutFields: []string{"name"}}, func(*RowView) error {
		if n++; n == 1 {
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err != nil || n != 400 {
		t.Fatalf("query across Close: %d rows, %v", n, err)
	}
	s := db.fast.Stats()
	open, idle := s.Open, s.Idle
	if open != 0 || idle != 0 {
		t.Fatalf("after Close: %d fast connections open, %d idle", open, idle)
	}
}

// TestScanFastStatementsBounded: each fast connection keeps at most
// stmtCacheSize prepared statements however many query shapes come.
func TestScanFastStatementsBounded(t *testing.T) {
	db := gridDB(t)
	for i := range 5 { // one shape, one statement
		v := float64(i)
		if _, err := scanAll(t, db, Query{LayerID: 0, OutFields: []string{"name"}, Envelope: &arcgis.Envelope{XMin: v, YMin: v, XMax: v + 1.5, YMax: v + 1.5}}); err != nil {
			t.Fatal(err)
		}
	}
	if idle := db.fast.Idle(); len(idle) != 1 || len(idle[0].stmts) != 1 {
		t.Fatalf("5 boxes of one shape: %d connections, statements %v", len(idle), idle)
	}
	for i := range stmtCacheSize + 20 {
		if _, err := scanAll(t, db, Query{LayerID: 0, OutFields: []string{"name"}, Where: fmt.Sprintf("amount > %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	idle := db.fast.Idle()
	if len(idle) == 0 {
		t.Fatal("no fast connection")
	}
	for _, fc := range idle {
		if len(fc.stmts) > stmtCacheSize {
			t.Fatalf("a connection keeps %d statements", len(fc.stmts))
		}
	}
}

// TestScanAllocsPerRow: a point query allocates nothing per row, only per
// query (the driver path took ~19 per feature: a Row, its map, the decoded
// geometry, copies of every value; boxed values still ~4).
func TestScanAllocsPerRow(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	q := Query{LayerID: 0, OutFields: []string{"name", "priority"}, Envelope: &arcgis.Envelope{XMin: 0, YMin: 0, XMax: 19, YMax: 19}}
	n := 0
	allocs := testing.AllocsPerRun(5, func() {
		n = 0
		if err := db.Scan(ctx, q, func(r *RowView) error {
			if _, _, _, _, ok := r.Point(); ok {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	if n != 400 {
		t.Fatalf("%d points read", n)
	}
	if per := allocs / 400; per > 0.25 {
		t.Fatalf("%.1f allocations per row", per)
	}
}

func pointBlobFor(bo binary.AppendByteOrder, env bool, code uint32, c ...float64) []byte {
	flags := byte(0)
	if bo == binary.AppendByteOrder(binary.LittleEndian) {
		flags = 1
	}
	if env {
		flags |= 2
	}
	b := bo.AppendUint32([]byte{'G', 'P', 0, flags}, 4326)
	if env {
		for _, v := range []float64{c[0], c[0], c[1], c[1]} {
			b = bo.AppendUint64(b, math.Float64bits(v))
		}
	}
	b = append(b, flags&1)
	b = bo.AppendUint32(b, code)
	for _, v := range c {
		b = bo.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// FuzzBlobPoint: blobPoint reads a point exactly when DecodeBlob decodes
// the blob to one non-empty point, with the same coordinates.
func FuzzBlobPoint(f *testing.F) {
	le, be := binary.LittleEndian, binary.BigEndian
	f.Add(pointBlobFor(le, false, 1, 1.5, -2))
	f.Add(pointBlobFor(be, true, 1, 1.5, -2))
	f.Add(pointBlobFor(le, false, 1001, 1, 2, 3))
	f.Add(pointBlobFor(le, false, 2001, 1, 2, 3))
	f.Add(pointBlobFor(be, false, 3001, 1, 2, 3, 4))
	f.Add(pointBlobFor(le, false, 0x80000001, 1, 2, 3))
	f.Add(pointBlobFor(le, false, 0x40000001, 1, 2, 3))
	f.Add(pointBlobFor(le, false, 1, math.NaN(), math.NaN()))
	f.Add(pointBlobFor(le, false, 1, math.NaN(), 2))
	f.Add(pointBlobFor(le, false, 4, 1, 2))
	f.Add(EncodeBlob(&Geom{Type: GeomMultiPoint, Points: [][]float64{{1, 2}}}, 4326))
	f.Add(EncodeBlob(&Geom{Type: GeomPoint, HasZ: true, Points: [][]float64{{1, 2, 3}}}, 4326))
	f.Add([]byte("GP\x00\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		x, y, z, hasZ, ok := blobPoint(b)
		g, _, err := DecodeBlob(b)
		isPoint := err == nil && g.Type == GeomPoint && len(g.Points) == 1
		if ok != isPoint {
			t.Fatalf("blobPoint ok=%v, DecodeBlob %+v %v", ok, g, err)
		}
		if !ok {
			return
		}
		c := g.Points[0]
		same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
		if !same(x, c[0]) || !same(y, c[1]) || hasZ != g.HasZ || (hasZ && !same(z, c[2])) {
			t.Fatalf("blobPoint %v %v %v %v, DecodeBlob %+v", x, y, z, hasZ, g)
		}
	})
}

// TestScanFastPoolBounds: concurrent queries take at most Readers fast
// connections (one more runs on database/sql), and the pool keeps at most
// Readers of them, all idle, once they end.
func TestScanFastPoolBounds(t *testing.T) {
	db := gridDB(t)
	readers := db.opts.Readers
	before := db.fastQueries.Load()
	concurrentScans(t, db, readers+1)
	if n := db.fastQueries.Load() - before; n != int64(readers) {
		t.Fatalf("%d of %d concurrent queries on the fast path, want %d", n, readers+1, readers)
	}
	if s := db.fast.Stats(); s.Open != s.Idle || s.Open > readers {
		t.Fatalf("%d fast connections open, %d idle, keep at most %d", s.Open, s.Idle, readers)
	}
}

// TestMatchesRowPointOutsideBox: a point the RTree's padded box lets
// through but the envelope does not hold is refused without decoding its
// blob (it took 4 allocations each, ~70 per 1,000-point bbox query), and
// matchesRow agrees with the decoding test for points on, in and around
// the box, NaN coordinates, inverted boxes and envelope+geometry queries.
func TestMatchesRowPointOutsideBox(t *testing.T) {
	box := &Query{Envelope: &arcgis.Envelope{XMin: 0, YMin: 0, XMax: 10, YMax: 10}}
	inverted := &Query{Envelope: &arcgis.Envelope{XMin: 10, YMin: 0, XMax: 0, YMax: 10}}
	both := &Query{Envelope: &arcgis.Envelope{XMin: 0, YMin: 0, XMax: 10, YMax: 10},
		Geometry: &arcgis.Geometry{Rings: [][][]float64{{{2, 2}, {2, 20}, {20, 20}, {20, 2}, {2, 2}}}}}
	db := gridDB(t)
	nan := math.NaN()
	coords := []float64{-1, 0, 1e-300, 5, 10, 10.000001, 11, nan}
	for qi, q := range []*Query{box, inverted, both} {
		q.LayerID = 0
		p, err := db.plan(q, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range coords {
			for _, y := range coords {
				r := &RowView{blob: pointBlobFor(binary.LittleEndian, false, 1, x, y)}
				got, err := p.matchesRow(r)
				g, _, derr := DecodeBlob(r.blob)
				if err != nil || derr != nil {
					t.Fatal(err, derr)
				}
				if want := p.matches(g); got != want {
					t.Fatalf("query %d point %v,%v: matchesRow %v, decoded %v", qi, x, y, got, want)
				}
			}
		}
	}
	p, err := db.plan(box, "")
	if err != nil {
		t.Fatal(err)
	}
	r := &RowView{blob: pointBlobFor(binary.LittleEndian, false, 1, 10.5, 5)}
	var ok bool
	if n := testing.AllocsPerRun(10, func() { r.decoded = false; ok, _ = p.matchesRow(r) }); n != 0 || ok {
		t.Fatalf("a point outside the box: %v, %.0f allocations", ok, n)
	}
}
