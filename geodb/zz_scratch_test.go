package geodb

import (
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"zombiezen.com/go/sqlite"
)

func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestScratchZZ(t *testing.T) {
	p := "/tmp/offlined-bench-1000000.gpkg"
	if _, err := os.Stat(p); err != nil {
		t.Skip()
	}
	c, err := sqlite.OpenConn(p, sqlite.OpenReadOnly)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := `SELECT "OBJECTID","GlobalID","Name","Value","geom" FROM "Points" WHERE (1) AND "OBJECTID" IN (SELECT id FROM "rtree_Points_geom" WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?) ORDER BY "OBJECTID"`
	x0, y0, x1, y1 := -13052161.0, 4024770.0, -13035463.0, 4040922.0
	fx, fy := (x1-x0)*0.0316, (y1-y0)*0.0316
	buf := make([]byte, 1000)
	for round := 0; round < 3; round++ {
		st := c.Prep(q)
		rng := rand.New(rand.NewPCG(1, 2))
		c0 := cpuNow()
		rows := 0
		for i := 0; i < 200; i++ {
			bx := x0 + rng.Float64()*(x1-x0-fx)
			by := y0 + rng.Float64()*(y1-y0-fy)
			st.BindFloat(1, bx)
			st.BindFloat(2, bx+fx)
			st.BindFloat(3, by)
			st.BindFloat(4, by+fy)
			for {
				ok, err := st.Step()
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				_ = st.ColumnInt64(0)
				_ = st.ColumnType(1)
				st.ColumnBytes(1, buf)
				_ = st.ColumnType(2)
				st.ColumnBytes(2, buf)
				_ = st.ColumnType(3)
				_ = st.ColumnInt64(3)
				_ = st.ColumnType(4)
				st.ColumnBytes(4, buf)
				rows++
			}
			st.Reset()
		}
		t.Logf("zz %.3f ms/query %d rows/query", float64((cpuNow()-c0).Microseconds())/1000/200, rows/200)
	}
}
