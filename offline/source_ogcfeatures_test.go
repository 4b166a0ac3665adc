package offline

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	editsync "github.com/offlined/offlined/sync"
)

// ogcWebMap writes a web map with two OGC API – Features collections (one
// with queryables), a GeoJSON layer by URL, and a collection the server
// does not have.
func ogcWebMap(t testing.TB, dir, base string) string {
	t.Helper()
	wm := fmt.Sprintf(`{"version":"2.31","spatialReference":{"wkid":102100,"latestWkid":3857},
 "operationalLayers":[
  {"id":"places","title":"Places","layerType":"OGCFeatureLayer","url":"%[1]s%[2]s","collectionId":"places"},
  {"id":"lakes","title":"Lakes","layerType":"OGCFeatureLayer","url":"%[1]s%[2]s","collectionId":"lakes"},
  {"id":"lakes_file","title":"Lakes file","layerType":"GeoJSON","url":"%[1]s%[3]s"},
  {"id":"gone","title":"Gone","layerType":"OGCFeatureLayer","url":"%[1]s%[2]s","collectionId":"gone"}],
 "baseMap":{"title":"None","baseMapLayers":[]}}`, base, emulator.DemoOGCAPI, emulator.DemoGeoJSONLakes)
	return writeWebMap(t, dir, wm)
}

// The area: Europe, Africa and Asia (leaves the Americas out, so the bbox
// filter matters; holds more places than one page of 100).
var ogcArea = [4]float64{-30, -60, 150, 75}

func TestOGCFeaturesJob(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	ctx := context.Background()
	c, err := arcgis.New()
	if err != nil {
		t.Fatal(err)
	}
	task, err := NewTask(ctx, Source{File: ogcWebMap(t, t.TempDir(), em.URL)}, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	area := wgs84Box(ogcArea[0], ogcArea[1], ogcArea[2], ogcArea[3])
	p := mustDefaults(ctx, t, task, area, 0, 0)
	caps := mustCaps(ctx, t, task, p)
	keys := map[string]Key{}
	for _, cp := range caps.Layers {
		id := task.Entry(cp.Key).ID
		keys[id] = cp.Key
		want := map[string]Method{"places": MethodOGCFeatures, "lakes": MethodOGCFeatures, "lakes_file": MethodGeoJSON}[id]
		switch {
		case id == "gone" && (cp.SupportsOffline || cp.Reason != ReasonServiceNotFound):
			t.Errorf("missing collection: %+v", cp)
		case id != "gone" && (!cp.SupportsOffline || cp.Method != want):
			t.Errorf("%s: %+v", id, cp)
		}
	}
	o := mustOverrides(ctx, t, task, p)
	if len(o.OGCFeatures) != 2 || len(o.GeoJSON) != 1 {
		t.Fatalf("overrides %+v %+v", o.OGCFeatures, o.GeoJSON)
	}
	est, err := task.Estimate(ctx, p, o, EstimateOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	bbox := ogcArea[:]
	want := map[string][]json.RawMessage{
		"places": em.OGCFeatures("places", bbox), "lakes": em.OGCFeatures("lakes", bbox), "lakes_file": em.OGCFeatures("lakes", bbox),
	}
	if n := len(want["places"]); n <= 100 || n >= len(em.OGCFeatures("places", nil)) {
		t.Fatalf("the area holds %d places: the test needs more than a page and fewer than all", n)
	}
	for _, le := range est.Layers {
		if le.Key == keys["places"] && (le.Features != int64(len(want["places"])) || le.Bytes.Method != EstimateSampled) {
			t.Errorf("places estimate %+v", le)
		}
	}

	dir := filepath.Join(t.TempDir(), "pkg")
	res, err := task.NewJob(p, o, dir, JobOptions{Client: c}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != JobSucceeded || len(jobErrors(res.LayerErrors)) != 0 || !res.HasErrors {
		t.Fatalf("result %+v", res)
	}
	pkg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for id, feats := range want {
		ml := pkg.Layer(keys[id])
		if ml == nil || ml.Kind != KindSnapshot || ml.Error != nil || ml.Features != int64(len(feats)) {
			t.Fatalf("%s: package layer %+v, server has %d features", id, ml, len(feats))
		}
		path := pkg.Path(ml.Store)
		checkSnapshotRows(t, id, path, feats)
		db, err := pkg.OpenGeodatabase(ctx, ml.Store)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := editsync.LoadConfig(ctx, db)
		db.Close()
		if err != nil || cfg.Mode != editsync.ModeSnapshot {
			t.Errorf("%s: sync configuration %+v %v, want a read-only snapshot", id, cfg, err)
		}
		gdalChecks(t, path)
	}
	// Paged through next links, with the bbox.
	items := em.Log().Matching("/collections/places/items")
	if len(items) < 2 || items[0].Query.Get("bbox") == "" {
		t.Errorf("places item requests: %+v", items)
	}
}

// checkSnapshotRows compares the stored rows with the server's features:
// same count, and name/number attributes equal in order (OBJECTID i+1 is
// the i-th feature).
func checkSnapshotRows(t *testing.T, id, path string, feats []json.RawMessage) {
	t.Helper()
	db := openReadOnly(t, path)
	defer db.Close()
	var table string
	if err := db.QueryRow(`SELECT table_name FROM gpkg_contents WHERE data_type='features'`).Scan(&table); err != nil {
		t.Fatal(err)
	}
	cols := map[string]string{}
	rows, err := db.Query(`SELECT name, type FROM pragma_table_info(?)`, table)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, ty string
		rows.Scan(&n, &ty)
		cols[n] = ty
	}
	rows.Close()
	numCol, wantType := "scalerank", "MEDIUMINT"
	if id == "places" {
		// pop_max is an integer by the queryables, latitude a number.
		numCol, wantType = "pop_max", "INTEGER"
		if cols["latitude"] != "DOUBLE" && cols["latitude"] != "REAL" {
			t.Errorf("latitude column %q", cols["latitude"])
		}
	}
	if cols[numCol] != wantType || !strings.HasPrefix(cols["name"], "TEXT") {
		t.Errorf("%s: columns %v", id, cols)
	}
	for i, raw := range feats {
		var f struct {
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		var name sql.NullString
		var num sql.NullFloat64
		err := db.QueryRow(fmt.Sprintf(`SELECT name, %s FROM %q WHERE OBJECTID=?`, numCol, table), i+1).Scan(&name, &num)
		if err != nil {
			t.Fatalf("%s feature %d: %v", id, i+1, err)
		}
		wantNum, _ := f.Properties[numCol].(float64)
		if name.String != f.Properties["name"] || num.Float64 != wantNum {
			t.Errorf("%s feature %d: stored %q %v, server %v %v", id, i+1, name.String, num.Float64, f.Properties["name"], f.Properties[numCol])
		}
	}
	var n int
	db.QueryRow(fmt.Sprintf(`SELECT count(*) FROM %q`, table)).Scan(&n)
	if n != len(feats) {
		t.Errorf("%s: %d rows, server has %d features", id, n, len(feats))
	}
}

// gdalChecks runs ogrinfo and GDAL's validate_gpkg.py on a GeoPackage
// (each skipped when absent).
func gdalChecks(t *testing.T, path string) {
	t.Helper()
	if ogr, err := exec.LookPath("ogrinfo"); err == nil {
		out, err := exec.Command(ogr, "-ro", "-so", "-al", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Feature Count") {
			t.Errorf("ogrinfo %s: %v\n%s", path, err, out)
		}
	}
	if exec.Command("/usr/bin/python3", "-c", "import osgeo_utils.samples.validate_gpkg").Run() == nil {
		if out, err := exec.Command("/usr/bin/python3", "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", path).CombinedOutput(); err != nil {
			t.Errorf("validate_gpkg %s: %v\n%s", path, err, out)
		}
	}
}
