package offline

import (
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

// exportRequests counts exportTiles submissions to a service.
func (r *paramRun) exportRequests(svc string) int {
	n := 0
	for _, en := range r.e.em.Log().Matching("/" + svc + "/MapServer/exportTiles") {
		if strings.HasSuffix(en.Path, "/exportTiles") {
			n++
		}
	}
	return n
}

// Raster tiled layers of services that allow export go through exportTiles
// by default, through direct tile requests by choice (tileMethod tiles) or
// when the export fails; capabilities show the method.
func TestRasterTileMethods(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator job runs")
	}
	skipUnderRace(t)
	const svc = "Demo_Basemap"
	basemap := func(r *paramRun, o *Overrides, method string) {
		et := o.ExportTileCache[r.key(svc+"/MapServer")]
		et.LevelIDs, et.AreaOfInterest, et.TileMethod = []int{13}, smallArea(), method
		o.ExportVectorTiles = map[Key]*ExportVectorTilesParameters{}
	}
	t.Run("default exportTiles", func(t *testing.T) {
		r := runWith(t, runSpec{noFeatures: true, overrides: func(r *paramRun, o *Overrides) { basemap(r, o, TileMethodAuto) }})
		if n := r.exportRequests(svc); n != 1 {
			t.Errorf("%d exportTiles requests, want 1", n)
		}
		if n := r.e.em.Log().Count("/" + svc + "/MapServer/tile/"); n != 0 {
			t.Errorf("%d direct tile requests by default", n)
		}
		if l := r.pkg.Layer(r.key(svc + "/MapServer")); l == nil || l.Tiles == 0 {
			t.Errorf("exported basemap %+v", l)
		}
		caps, err := r.e.task.Capabilities(t.Context(), r.p)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range caps.Layers {
			if c.Method == MethodRasterTiles && c.TileMethod != TileMethodExport {
				t.Errorf("capability %s: tileMethod %q, want exportTiles", c.ID, c.TileMethod)
			}
		}
	})
	t.Run("direct by choice", func(t *testing.T) {
		r := runWith(t, runSpec{noFeatures: true, overrides: func(r *paramRun, o *Overrides) { basemap(r, o, TileMethodDirect) }})
		if n := r.exportRequests(svc); n != 0 {
			t.Errorf("%d exportTiles requests with tileMethod tiles", n)
		}
		if n := r.e.em.Log().Count("/" + svc + "/MapServer/tile/"); n == 0 {
			t.Errorf("no direct tile requests with tileMethod tiles")
		}
		if got := r.storeLevels(t, r.key(svc+"/MapServer")); len(got) != 1 || got[0] != 13 {
			t.Errorf("levels stored %v", got)
		}
	})
	t.Run("fallback when the export fails", func(t *testing.T) {
		r := runWith(t, runSpec{noFeatures: true, overrides: func(r *paramRun, o *Overrides) {
			basemap(r, o, TileMethodAuto)
			r.e.em.SetFaults(emulator.Faults{FailJobs: true})
		}})
		if n := r.exportRequests(svc); n != 1 {
			t.Errorf("%d exportTiles requests, want the one that failed", n)
		}
		if n := r.e.em.Log().Count("/" + svc + "/MapServer/tile/"); n == 0 {
			t.Errorf("no direct tile requests after the export failed")
		}
		if l := r.pkg.Layer(r.key(svc + "/MapServer")); l == nil || l.Tiles == 0 {
			t.Errorf("basemap after the fallback %+v", l)
		}
	})
}
