package sync

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// TestSyncBench (bench/sync-bench.sh) syncs N local edits up and N server
// edits down in one sync: OFFLINED_SYNC_BENCH_N=10000. The emulator runs in
// the same process, so the peak RSS covers client and server.
func TestSyncBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("OFFLINED_SYNC_BENCH_N"))
	if n <= 0 {
		t.Skip("set OFFLINED_SYNC_BENCH_N")
	}
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	var adds []arcgis.Feature
	for i := range n {
		adds = append(adds, arcgis.Feature{Attributes: map[string]any{"InspectionID": fmt.Sprintf("up%d", i)}, Geometry: pt(-13050000+float64(i%1000), 4030000+float64(i/1000))})
	}
	if _, _, err := f.db.ApplyEdits(ctx, 0, geodb.Edits{Adds: adds}); err != nil {
		t.Fatal(err)
	}
	var srv []arcgis.Feature
	for i := range n {
		srv = append(srv, arcgis.Feature{Attributes: map[string]any{"GlobalID": geodb.NewGlobalID(), "InspectionID": fmt.Sprintf("down%d", i)}, Geometry: pt(-13040000+float64(i%1000), 4030000+float64(i/1000))})
	}
	if err := f.em.EditFeatures(svcName, 0, srv, nil, nil); err != nil {
		t.Fatal(err)
	}
	adds, srv = nil, nil
	runtime.GC()
	start := time.Now()
	rep, err := f.eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	if rep.Uploaded != n || rep.Downloaded != n {
		t.Errorf("report %+v, want %d up and %d down", rep, n, n)
	}
	hwm := ""
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				hwm = strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
			}
		}
	}
	fmt.Printf("sync-bench n=%d wall=%s peak_rss=%s uploaded=%d downloaded=%d\n", n, wall.Round(time.Millisecond), hwm, rep.Uploaded, rep.Downloaded)
}
