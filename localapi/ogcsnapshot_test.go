package localapi

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// An OGC API – Features collection and a GeoJSON file taken offline are
// read-only snapshots in the local API: reads work, every edit route
// answers 403 readOnlyLayer (issue 12 item 5).
func TestOGCSnapshotLayersAreReadOnly(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{})
	wm := fmt.Sprintf(`{"version":"2.31","spatialReference":{"wkid":102100,"latestWkid":3857},
 "operationalLayers":[{"id":"lakes","title":"Lakes","layerType":"OGCFeatureLayer","url":"%[1]s%[2]s","collectionId":"lakes"},
  {"id":"file","title":"Lakes file","layerType":"GeoJSON","url":"%[1]s%[3]s"}]}`, em.URL, emulator.DemoOGCAPI, emulator.DemoGeoJSONLakes)
	dir := filepath.Join(t.TempDir(), "ogc")
	buildWebMapFile(t, wm, [4]float64{-170, -80, 170, 80}, dir, nil)
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
