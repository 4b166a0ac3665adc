package geodb

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// allKinds are every column kind geodb stores.
var allKinds = []kind{kOID, kGlobalID, kGUID, kString, kInt16, kInt32, kInt64, kFloat32, kFloat64, kDate, kDateOnly, kTimeOnly, kTimestampOffset, kBlob, kXML}

// checkCell fails t when v, a driver value of a column of kind k, gives a
// cell that boxes to something else than fromSQL's value.
func checkCell(t *testing.T, k kind, v any) {
	t.Helper()
	c := &Column{Name: "c", kind: k}
	var rc rawCell
	rc.setAny(v)
	scratch := []byte("keep") // cells append; what was there stays
	got := cellOf(c, &rc, &scratch).box()
	want := fromSQL(c, v)
	gf, gok := got.(float64)
	wf, wok := want.(float64)
	if gok && wok && math.Float64bits(gf) == math.Float64bits(wf) {
		// equal, NaN included
	} else if !reflect.DeepEqual(got, want) {
		t.Fatalf("kind %d, value %#v: cell %#v, fromSQL %#v", k, v, got, want)
	}
	if string(scratch[:4]) != "keep" {
		t.Fatalf("kind %d, value %#v: scratch overwritten: %q", k, v, scratch)
	}
}

// TestCellMatchesFromSQL: for every column kind and every type of value
// the driver gives, the unboxed cell is fromSQL's value.
func TestCellMatchesFromSQL(t *testing.T) {
	vals := []any{nil, int64(0), int64(-7), int64(1 << 40), int64(math.MinInt64),
		0.0, 2.0, -3.5, 1e300, math.Inf(1), math.NaN(), 9.007199254740993e15,
		"", "abc", "12", "-3", "1.5", "1e3", "2024-02-29T10:11:12.345Z", "2024-02-29", "2024-02-30T00:00:00Z", " 7",
		[]byte(nil), []byte{}, []byte("12"), []byte{0, 1, 2, 0xff},
		time.Date(2024, 2, 29, 10, 11, 12, 345000000, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2024, 6, 1, 12, 0, 0, 0, time.FixedZone("", -7*3600))}
	for _, k := range allKinds {
		for _, v := range vals {
			checkCell(t, k, v)
		}
	}
}

// FuzzCellMatchesFromSQL: as TestCellMatchesFromSQL for arbitrary values.
func FuzzCellMatchesFromSQL(f *testing.F) {
	f.Add(uint8(0), uint8(1), int64(5), 1.5, "x")
	f.Add(uint8(9), uint8(3), int64(0), 0.0, "2024-02-29T10:11:12.345Z")
	f.Add(uint8(13), uint8(4), int64(0), 0.0, "\x00\xff")
	f.Add(uint8(4), uint8(2), int64(0), 3.0, "")
	f.Add(uint8(3), uint8(5), int64(1700000000123), 0.0, "")
	f.Fuzz(func(t *testing.T, k, typ uint8, i int64, fl float64, s string) {
		var v any
		switch typ % 6 {
		case 1:
			v = i
		case 2:
			v = fl
		case 3:
			v = s
		case 4:
			v = []byte(s)
		case 5:
			v = time.UnixMilli(i).UTC()
		}
		checkCell(t, allKinds[int(k)%len(allKinds)], v)
	})
}

// TestScanCellsAllocateNothing: reading every value of every row as a
// cell allocates nothing per row (boxed values took ~6.5 allocations per
// row: strings, their headers, int64s); nor does a date's text.
func TestScanCellsAllocateNothing(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	kinds := map[CellKind]int{}
	allocs := func(limit int) float64 {
		q := Query{LayerID: 0, Limit: limit}
		scan := func() {
			n := 0
			if err := db.Scan(ctx, q, func(r *RowView) error {
				n++
				for i := range r.Cols {
					kinds[r.Cell(i).Kind]++
				}
				return nil
			}); err != nil || n != limit {
				t.Fatalf("%d rows, %v", n, err)
			}
		}
		scan() // statement prepared, buffers grown
		return testing.AllocsPerRun(5, scan)
	}
	few, many := allocs(40), allocs(400)
	if kinds[CellText] == 0 || kinds[CellInt] == 0 {
		t.Fatalf("cell kinds %v", kinds)
	}
	if per := (many - few) / 360; per > 0.05 {
		t.Fatalf("%.2f allocations per row (40 rows: %.0f, 400 rows: %.0f)", per, few, many)
	}
	b := []byte("2024-02-29T10:11:12.345Z")
	if n := testing.AllocsPerRun(10, func() { driverTime(b) }); n != 0 {
		t.Fatalf("driverTime of geodb's own form allocates %.0f", n)
	}
}
