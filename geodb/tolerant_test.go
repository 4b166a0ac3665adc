package geodb

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// countriesLayer is an independent FeatureServer's layer JSON (shape taken
// from a Natural Earth countries service): pop_est is declared an integer
// although the data holds fractions; name has a declared length of 10.
const countriesLayer = `{"id":0,"name":"ne_110m_countries","type":"Feature Layer","geometryType":"esriGeometryPoint",
 "objectIdField":"OBJECTID","globalIdField":"","extent":{"xmin":-180,"ymin":-90,"xmax":180,"ymax":90,"spatialReference":{"wkid":4326}},
 "fields":[{"name":"OBJECTID","type":"esriFieldTypeOID","alias":"OBJECTID"},
  {"name":"name","type":"esriFieldTypeString","alias":"Name","length":10,"nullable":true},
  {"name":"pop_est","type":"esriFieldTypeInteger","alias":"Population","nullable":true},
  {"name":"founded","type":"esriFieldTypeDate","alias":"Founded","nullable":true},
  {"name":"code","type":"esriFieldTypeGUID","alias":"Code","nullable":true},
  {"name":"iso","type":"esriFieldTypeGUID","alias":"ISO","nullable":false}],
 "serverVendorNote":"kept verbatim"}`

// countriesDB opens a fresh GeoPackage named name with countriesLayer
// created (its raw JSON kept) and returns it and the layer's table.
func countriesDB(t *testing.T, name string) (*DB, *Table) {
	t.Helper()
	db := openTemp(t, name)
	var l arcgis.Layer
	if err := json.Unmarshal([]byte(countriesLayer), &l); err != nil {
		t.Fatal(err)
	}
	tbl, err := db.CreateLayer(testCtx(t), &l, json.RawMessage(countriesLayer))
	if err != nil {
		t.Fatal(err)
	}
	return db, tbl
}

func TestLoadToleratesServerTypeErrors(t *testing.T) {
	ctx := testCtx(t)
	db, _ := countriesDB(t, "countries.gpkg")
	const iso = `"{11111111-2222-3333-4444-555555555555}"`
	doc := `{"features":[
	 {"attributes":{"OBJECTID":1,"name":"Fiji","pop_est":889953,"founded":0,"code":null,"iso":` + iso + `},"geometry":{"x":178,"y":-17}},
	 {"attributes":{"OBJECTID":2,"name":"Tanzania","pop_est":10192317.3,"founded":0,"code":null,"iso":` + iso + `},"geometry":{"x":35,"y":-6}},
	 {"attributes":{"OBJECTID":3,"name":"Western Sahara","pop_est":603253,"founded":0,"code":null,"iso":` + iso + `},"geometry":{"x":-13,"y":24}},
	 {"attributes":{"OBJECTID":4,"name":"Canada","pop_est":37589262,"founded":253402300800000,"code":null,"iso":` + iso + `},"geometry":{"x":-100,"y":60}},
	 {"attributes":{"OBJECTID":5,"name":"USA","pop_est":328239523,"founded":0,"code":"not-a-guid","iso":` + iso + `},"geometry":{"x":-100,"y":40}},
	 {"attributes":{"OBJECTID":6,"name":"Kazakhstan","pop_est":18513930,"founded":0,"code":null,"iso":"bad"},"geometry":{"x":70,"y":48}},
	 {"attributes":{"OBJECTID":7,"name":"Uzbekistan","pop_est":33580650,"founded":0,"code":null,"iso":` + iso + `},"geometry":{"rings":[[[60,40],[60,41],[61,41],[60,40]]]}}
	]}`
	st, err := db.LoadFeatures(ctx, 0, strings.NewReader(doc), LoadOptions{BatchSize: 2})
	if err != nil {
		t.Fatalf("one bad value lost the layer: %v", err)
	}
	if st.Features != 6 {
		t.Errorf("loaded %d features, want 6 (only the feature with a bad non-nullable value skipped)", st.Features)
	}
	kinds := map[string]int{}
	for _, w := range st.Warnings {
		kinds[w.Kind+":"+w.Field]++
		if w.Kind != WarnWidenedColumn && w.ObjectID == 0 {
			t.Errorf("warning without the feature's id: %+v", w)
		}
	}
	tbl := db.TableByID(0)
	want := map[string]int{
		WarnWidenedColumn + ":pop_est":          1,
		WarnWidenedColumn + ":name":             1, // "Western Sahara" is 14 > 10
		WarnDroppedValue + ":founded":           1, // year 10000
		WarnDroppedValue + ":code":              1, // not a GUID, nullable
		WarnDroppedFeature + ":iso":             1, // not a GUID, not nullable
		WarnDroppedGeometry + ":" + tbl.GeomCol: 1, // a polygon in a point layer
	}
	for k, n := range want {
		if kinds[k] < n {
			t.Errorf("warnings %v: want %d × %s", kinds, n, k)
		}
	}

	// The fractional value is kept, the column is a double now, in the DDL,
	// the in-memory table, the stored layer JSON (other members verbatim)
	// and after reopening.
	var pop float64
	var typ string
	if err := db.r.QueryRowContext(ctx, `SELECT pop_est, typeof(pop_est) FROM "`+tbl.Name+`" WHERE OBJECTID=2`).Scan(&pop, &typ); err != nil {
		t.Fatal(err)
	}
	if pop != 10192317.3 || typ != "real" {
		t.Errorf("pop_est = %v (%s), want 10192317.3 real", pop, typ)
	}
	var ddl string
	if err := db.r.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE name=?`, tbl.Name).Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ddl, `"pop_est" DOUBLE`) || !strings.Contains(ddl, `"name" TEXT,`) && !strings.Contains(ddl, `"name" TEXT)`) {
		t.Errorf("DDL not widened: %s", ddl)
	}
	raw, err := db.LayerJSON(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Fields []arcgis.Field `json:"fields"`
		Note   string         `json:"serverVendorNote"`
	}
	json.Unmarshal(raw, &stored)
	if stored.Note != "kept verbatim" {
		t.Errorf("layer JSON lost members: %s", raw)
	}
	for _, f := range stored.Fields {
		if f.Name == "pop_est" && f.Type != arcgis.FieldDouble {
			t.Errorf("stored layer JSON still says %s for pop_est", f.Type)
		}
		if f.Name == "name" && f.Length < len("Western Sahara") {
			t.Errorf("stored name length %d, shorter than a stored value", f.Length)
		}
	}
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if c := db2.TableByID(0).Col("pop_est"); c.kind != kFloat64 {
		t.Errorf("reopened pop_est kind %v, want double", c.kind)
	}
	ws, total, err := db2.LoadWarnings(ctx)
	if err != nil || total != len(st.Warnings) || len(ws) != total {
		t.Errorf("stored warnings %d of %d (%v), want %d", len(ws), total, err, len(st.Warnings))
	}
	// Edits stay strict: a fraction now fits, a long name is within the
	// widened length, a bad GUID is still refused.
	validate(t, db2)
	if ogr, err := exec.LookPath("ogrinfo"); err == nil {
		out, err := exec.Command(ogr, "-ro", "-so", "-al", filepath.Clean(path)).CombinedOutput()
		if err != nil {
			t.Fatalf("ogrinfo: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "pop_est: Real") {
			t.Errorf("ogrinfo does not read pop_est as Real:\n%s", out)
		}
	}
}

// TestSnapshotGlobalIDsFilled: a service without a GlobalID field gets a
// synthesized GlobalID column; bulk loads fill it for every row, the same
// value on every load (a refresh finds the row again).
func TestSnapshotGlobalIDsFilled(t *testing.T) {
	ctx := testCtx(t)
	db, tbl := countriesDB(t, "nogid.gpkg")
	if tbl.GIDCol == "" {
		t.Fatal("no GlobalID column synthesized")
	}
	doc := `{"features":[
	 {"attributes":{"OBJECTID":1,"name":"Fiji","iso":"{11111111-2222-3333-4444-555555555555}"},"geometry":{"x":178,"y":-17}},
	 {"attributes":{"OBJECTID":2,"name":"Chad","iso":"{11111111-2222-3333-4444-555555555555}"},"geometry":{"x":18,"y":15}}]}`
	read := func() map[int64]string {
		rows, err := db.r.QueryContext(ctx, `SELECT OBJECTID, "`+tbl.GIDCol+`" FROM "`+tbl.Name+`"`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[int64]string{}
		for rows.Next() {
			var oid int64
			var gid *string
			if err := rows.Scan(&oid, &gid); err != nil {
				t.Fatal(err)
			}
			if gid == nil {
				t.Fatalf("row %d has no GlobalID", oid)
			}
			out[oid] = *gid
		}
		return out
	}
	if _, err := db.LoadFeatures(ctx, 0, strings.NewReader(doc), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	first := read()
	if len(first) != 2 || first[1] == first[2] {
		t.Fatalf("GlobalIDs %v", first)
	}
	for oid, gid := range first {
		if _, ok := NormalizeGlobalID(gid); !ok || gid != DerivedGlobalID(tbl.Name, oid) {
			t.Errorf("row %d GlobalID %q", oid, gid)
		}
	}
	if _, err := db.LoadFeatures(ctx, 0, strings.NewReader(doc), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if again := read(); len(again) != 2 || again[1] != first[1] || again[2] != first[2] {
		t.Errorf("GlobalIDs changed on reload: %v then %v", first, again)
	}
}
