package geodb

import (
	"bytes"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"

	"github.com/offlined/offlined/internal/arcgis"
)

// timeOracle holds one file read both ways: through database/sql and
// modernc.org/sqlite's driver (the oracle), and through a fast connection.
type timeOracle struct {
	sdb  *sql.DB
	fast *sqlite.Conn
	sel  *sqlite.Stmt
}

func newTimeOracle(t testing.TB) *timeOracle {
	p := filepath.Join(t.TempDir(), "times.db")
	sdb, err := sql.Open("sqlite", "file:"+p+"?_pragma=synchronous(OFF)&_pragma=journal_mode(MEMORY)")
	if err != nil {
		t.Fatal(err)
	}
	sdb.SetMaxOpenConns(1)
	t.Cleanup(func() { sdb.Close() })
	if _, err := sdb.Exec(`CREATE TABLE t (n INTEGER PRIMARY KEY, a DATETIME, b date, c TIMESTAMP)`); err != nil {
		t.Fatal(err)
	}
	fast, err := sqlite.OpenConn(p, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fast.Close() })
	sel, err := fast.Prepare(`SELECT a, b, c FROM t ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	return &timeOracle{sdb: sdb, fast: fast, sel: sel}
}

// check stores the texts in rows of date-declared columns (a first row
// of another layout gives the driver's per-column layout hint something
// to be wrong about) and fails t unless the fast path reads every value
// as the driver does, and converts it to the same value for every column
// kind.
func (o *timeOracle) check(t *testing.T, texts ...string) {
	t.Helper()
	if _, err := o.sdb.Exec(`DELETE FROM t`); err != nil {
		t.Fatal(err)
	}
	for _, s := range texts {
		if _, err := o.sdb.Exec(`INSERT INTO t (a, b, c) VALUES (?, ?, ?)`, s, s, s); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := o.sdb.Query(`SELECT a, b, c FROM t ORDER BY n`)
	if err != nil {
		t.Fatal(err)
	}
	var want [][3]rawCell
	for rows.Next() {
		var v [3]any
		if err := rows.Scan(&v[0], &v[1], &v[2]); err != nil {
			t.Fatal(err)
		}
		var r [3]rawCell
		for i := range v {
			r[i].setAny(v[i])
		}
		want = append(want, r)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	defer o.sel.Reset()
	for n := 0; ; n++ {
		more, err := o.sel.Step()
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			if n != len(want) {
				t.Fatalf("fast path read %d rows, the driver %d", n, len(want))
			}
			return
		}
		for i := range 3 {
			var got rawCell
			readCell(o.sel, i, true, &got)
			if !sameRaw(&got, &want[n][i]) {
				t.Fatalf("%q column %d: fast path %+v, driver %+v", texts[n], i, got, want[n][i])
			}
			for _, k := range allKinds {
				c := &Column{kind: k}
				var s1, s2 []byte
				g, w := cellOf(c, &got, &s1).box(), cellOf(c, &want[n][i], &s2).box()
				gf, gok := g.(float64)
				wf, wok := w.(float64)
				if !(gok && wok && math.Float64bits(gf) == math.Float64bits(wf)) && !reflect.DeepEqual(g, w) {
					t.Fatalf("%q as kind %d: fast path %#v, driver %#v", texts[n], k, g, w)
				}
			}
		}
	}
}

// sameRaw reports whether a and b hold the same value: times equal as
// instants with the same zone name and offset.
func sameRaw(a, b *rawCell) bool {
	if a.typ != b.typ {
		return false
	}
	switch a.typ {
	case rawInt:
		return a.i == b.i
	case rawFloat:
		return math.Float64bits(a.f) == math.Float64bits(b.f)
	case rawText, rawBlob:
		return bytes.Equal(a.b, b.b)
	case rawTime:
		an, ao := a.tm.Zone()
		bn, bo := b.tm.Zone()
		return a.tm.Equal(b.tm) && an == bn && ao == bo && a.tm.Location().String() == b.tm.Location().String()
	}
	return true
}

var driverTimeSeeds = []string{
	"2024-02-29T10:11:12.345Z", "2024-02-29T10:11:12Z", "2024-02-29T10:11:12", "2024-02-29T10:11:12.123456789Z",
	"2024-02-29T10:11:12.1234567891Z", "2023-02-29T10:11:12Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z",
	"2024-01-01T23:60:00Z", "2024-01-01T23:59:60Z", "0000-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
	"2024-01-01 10:11:12", "2024-01-01 10:11:12.5+02:00", "2024-01-01T10:11:12-07:00", "2024-01-01T10:11",
	"2024-01-01 10:11", "2024-01-01", "2024-01-01Z", "2024-01-01T10:11:12.Z", "2024-01-01T10:11:12,5Z",
	"2024-01-01T10:11:12ZZ", "2024-01-01T1:11:12Z", "2024-01-01 10:11:12.5 +0200 CEST m=+0.001",
	"2024-01-01 10:11:12 +0000 UTC", "  2024-01-01 10:11:12 +0000 UTC  ", "", "Z", "12", "1.5", "x", "2024-1-1",
	"\x002024-01-01T10:11:12Z", "2024-01-01T10:11:12Z\xff", "2023-02-29", "2024-00-10", "2024-02-29ZZ", "2024-02-29T",
	"2024-02-29 ", "+024-02-29", "2024-02-29T10:11:12.000000000Z",
}

// TestDriverTimeMatchesDriver: every seed of FuzzDriverTime, after a row
// of each of the driver's layouts.
func TestDriverTimeMatchesDriver(t *testing.T) {
	o := newTimeOracle(t)
	for _, first := range []string{"2024-01-01 10:11:12", "2024-01-01T10:11:12.5Z", "2024-01-01"} {
		for _, s := range driverTimeSeeds {
			o.check(t, first, s)
		}
	}
}

// FuzzDriverTime: the fast path reads the text of a date-declared column
// as modernc.org/sqlite's database/sql driver does, for any text.
func FuzzDriverTime(f *testing.F) {
	for _, s := range driverTimeSeeds {
		f.Add(s)
	}
	o := newTimeOracle(f)
	f.Fuzz(func(t *testing.T, s string) {
		o.check(t, "2024-01-01 10:11:12", s)
	})
}

// TestDriverTimeParsesISO: geodb's own form is read straight (isoUTC),
// to the driver's value.
func TestDriverTimeParsesISO(t *testing.T) {
	tm, ok := driverTime([]byte("2024-02-29T10:11:12.345Z"))
	if want := time.Date(2024, 2, 29, 10, 11, 12, 345e6, time.UTC); !ok || !tm.Equal(want) || tm.Location() != time.UTC {
		t.Fatalf("got %v %v", tm, ok)
	}
	if _, _, sure := isoUTC([]byte("2024-02-29 10:11:12Z")); sure {
		t.Fatal("isoUTC took a space-separated text")
	}
}

// BenchmarkScanDateFields: a ~1,000-row box of a 10,000-point layer with
// date fields (Date, DateOnly: the driver parses their text), every field
// read as the GeoJSON writer reads it. database-sql is the path such
// layers took before dates were read on the fast path. cpu-ms/query is the
// process's CPU (GC included).
func BenchmarkScanDateFields(b *testing.B) {
	ctx := b.Context()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "dates.gpkg"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ls, raws := readLayers(b)
	if _, err := db.CreateLayer(ctx, &ls[0], raws[0]); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString(`{"layers":[{"id":0,"features":[`)
	const side = 100
	for i := range side * side {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"attributes":{"GlobalID":"{%08X-0000-4000-8000-000000000000}","name":"p%d","priority":%d,"seen":%d,"day":"2024-%02d-%02d","amount":%d.5},"geometry":{"x":%d,"y":%d,"z":0,"m":0}}`,
			i+1, i, i%5, 1700000000000+int64(i)*86400123, 1+i%12, 1+i%28, i, i%side, i/side)
	}
	sb.WriteString(`]}]}`)
	if _, _, err := db.LoadReplica(ctx, strings.NewReader(sb.String()), LoadOptions{}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, path := range []string{"database-sql", "fast"} {
		b.Run(path, func(b *testing.B) {
			db.fastOff = path == "database-sql"
			defer func() { db.fastOff = false }()
			rows := 0
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			for b.Loop() {
				x, y := float64(rng.IntN(side-32)), float64(rng.IntN(side-32))
				q := Query{LayerID: 0, Envelope: &arcgis.Envelope{XMin: x, YMin: y, XMax: x + 31.5, YMax: y + 31.5}}
				if err := db.Scan(ctx, q, func(r *RowView) error {
					rows++
					for i := range r.Cols {
						r.Cell(i)
					}
					_, _, _, _, _ = r.Point()
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
			b.ReportMetric(float64(cpu)/1e6/float64(b.N), "cpu-ms/query")
			b.ReportMetric(float64(rows)/float64(b.N), "rows/query")
		})
	}
}
