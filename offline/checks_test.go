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

func TestTileChecksVectorLimit(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	k := ServiceKey(e.em.ServicesURL + "/Demo_Vector/VectorTileServer")
	vt := o.ExportVectorTiles[k]
	if vt == nil {
		t.Fatalf("no vector tile overrides for %s: %v", k, sortedKeys(o.ExportVectorTiles))
	}
	vt.MaxLevel, vt.MaxExportTilesCount = 14, 100
	errs := TileChecks(e.c)(context.Background(), e.task, p, o)
	if len(errs) != 1 || !HasCode(errs[0], ErrTileLimit) || !strings.Contains(errs[0].Error(), "over the service's limit of 100") {
		t.Fatalf("levels 0-14 over a limit of 100: %v", errs)
	}
	// No limit, or no levels (a bad maxLevel is Validate's to report): no
	// error from the check.
	for _, c := range []struct{ maxLevel, limit int }{{14, 0}, {-3, 100}} {
		vt.MaxLevel, vt.MaxExportTilesCount = c.maxLevel, int64(c.limit)
		if errs := TileChecks(e.c)(context.Background(), e.task, p, o); len(errs) != 0 {
			t.Errorf("maxLevel %d, limit %d: %v", c.maxLevel, c.limit, errs)
		}
	}
}
