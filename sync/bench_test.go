package sync

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// TestSyncBench (bench/sync-bench.sh) syncs N local edits up and N server
// edits down in one sync: OFFLINED_SYNC_BENCH_N=10000. The sync runs in a
// child process (the emulator stays in this one), so the peak RSS reported
// is the client's: engine, geodb and the REST client.
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
	res := syncInChild(t, f)
	rep := res.Report
	if rep.Uploaded != n || rep.Downloaded != n {
		t.Errorf("report %+v, want %d up and %d down", rep, n, n)
	}
	if got := f.em.FeatureCount(svcName, 0); got < 2*n {
		t.Errorf("server has %d features, want at least %d", got, 2*n)
	}
	fmt.Printf("sync-bench n=%d wall=%dms client_peak_rss=%dkB uploaded=%d downloaded=%d\n", n, res.WallMS, res.PeakRSS, rep.Uploaded, rep.Downloaded)
}
