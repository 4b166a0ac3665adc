package offline

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestTileChecksLimit(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	k := ServiceKey(e.em.ServicesURL + "/Demo_Basemap/MapServer")
	et := o.ExportTileCache[k]
	et.LevelIDs = []int{12, 13, 14, 15, 16, 17, 18, 19}
	et.MaxExportTilesCount = 1000
	e.em.Log().Reset()
	_, err := e.run(t, p, o, filepath.Join(t.TempDir(), "pkg"))
	if !HasCode(err, ErrTileLimit) {
		t.Fatalf("err %v, want %s", err, ErrTileLimit)
	}
	msg := err.Error()
	if !strings.Contains(msg, "Demo Basemap") || !strings.Contains(msg, "drop levels") || !strings.Contains(msg, "1000") {
		t.Errorf("message does not name the layer, the limit and the levels to drop: %s", msg)
	}
	if n := e.em.Log().Count("/createReplica") + e.em.Log().Count("/tile/"); n != 0 {
		t.Errorf("%d server calls before the validation failure", n)
	}
	// Within the limit: no error from the check.
	et.LevelIDs = []int{12, 13}
	if errs := TileChecks(e.c)(context.Background(), e.task, p, o); len(errs) != 0 {
		t.Errorf("levels 12-13: %v", errs)
	}
}
