package localapi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
)

// An OGC API – Features collection and a GeoJSON file taken offline are
// read-only snapshots in the local API: reads work, every edit route
// answers 403 readOnlyLayer (issue 12 item 5).
func TestOGCSnapshotLayersAreReadOnly(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{})
	ctx := context.Background()
	mapPath := filepath.Join(t.TempDir(), "map.json")
	wm := fmt.Sprintf(`{"version":"2.31","spatialReference":{"wkid":102100,"latestWkid":3857},
 "operationalLayers":[{"id":"lakes","title":"Lakes","layerType":"OGCFeatureLayer","url":"%[1]s%[2]s","collectionId":"lakes"},
  {"id":"file","title":"Lakes file","layerType":"GeoJSON","url":"%[1]s%[3]s"}]}`, em.URL, emulator.DemoOGCAPI, emulator.DemoGeoJSONLakes)
	if err := os.WriteFile(mapPath, []byte(wm), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := arcgis.New()
	if err != nil {
		t.Fatal(err)
	}
	task, err := offline.NewTask(ctx, offline.Source{File: mapPath}, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	area := &arcgis.Geometry{XMin: f(-170), YMin: f(-80), XMax: f(170), YMax: f(80), SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
	p, err := task.CreateDefaultParameters(ctx, area, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	o, err := task.CreateOverrides(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ogc")
	if res, err := task.NewJob(p, o, dir, offline.JobOptions{Client: c}).Run(ctx); err != nil || res.HasErrors {
		t.Fatalf("job: %+v %v", res, err)
	}
	e := newEnv(t, envOpts{packages: map[string]string{"ogc": dir}})
	for _, svc := range []string{"ogc_lakes", "geojson_file"} {
		base := "/api/v1/maps/ogc/layers/" + svc + ".0/features"
		m := e.jsonOf(e.do("GET", base+"?limit=100", nil), 200)
		if feats, _ := m["features"].([]any); len(feats) == 0 {
			t.Errorf("%s: no features read: %v", svc, m)
		}
		add := `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]},"properties":{"name":"new"}}`
		er := e.wantError(e.do("POST", base, strings.NewReader(add), "Content-Type", "application/json"), 403, "layer")
		if b := fmt.Sprint(er); !strings.Contains(b, "readOnlyLayer") {
			t.Errorf("%s add: %v", svc, er)
		}
		fs := "/arcgis/rest/services/ogc." + svc + "/FeatureServer/0"
		res := e.do("POST", fs+"/applyEdits", form("f", "json", "updates", `[{"attributes":{"OBJECTID":1,"name":"x"}}]`), "Content-Type", "application/x-www-form-urlencoded")
		if m := e.jsonOf(res, 403); !strings.Contains(fmt.Sprint(m), "readOnlyLayer") {
			t.Errorf("%s applyEdits: %v", svc, m)
		}
	}
}
