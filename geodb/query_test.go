package geodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// gridDB holds a 20×20 grid of points (x, y in 0..19) in layer 0 and
// squares around some of them in layer 2.
func gridDB(t *testing.T) *DB {
	t.Helper()
	ctx := testCtx(t)
	db := layersDB(t, "grid.gpkg")
	var sb strings.Builder
	sb.WriteString(`{"layers":[{"id":0,"features":[`)
	n := 0
	for x := 0; x < 20; x++ {
		for y := 0; y < 20; y++ {
			if n > 0 {
				sb.WriteByte(',')
			}
			n++
			fmt.Fprintf(&sb, `{"attributes":{"GlobalID":"{%08X-0000-4000-8000-000000000000}","name":"p%d_%d","priority":%d,"amount":%d},"geometry":{"x":%d,"y":%d,"z":0,"m":0}}`,
				n, x, y, 1+(x+y)%5, x*100+y, x, y)
		}
	}
	sb.WriteString(`]},{"id":2,"features":[`)
	for i := 0; i < 5; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		x := float64(i * 4)
		fmt.Fprintf(&sb, `{"attributes":{"GlobalID":"{%08X-0000-4000-8000-000000000002}","owner":"o%d"},"geometry":{"rings":[[[%g,0],[%g,2],[%g,2],[%g,0],[%g,0]]]}}`,
			i+1, i, x, x, x+2, x+2, x)
	}
	sb.WriteString(`]}]}`)
	if _, _, err := db.LoadReplica(ctx, strings.NewReader(sb.String()), LoadOptions{BatchSize: 50}); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestQuery(t *testing.T) {
	db := gridDB(t)
	ctx := testCtx(t)
	env := &arcgis.Envelope{XMin: 2.5, YMin: 2.5, XMax: 5, YMax: 4}
	cases := []struct {
		name  string
		q     Query
		count int64
		first string
	}{
		{"all", Query{LayerID: 0}, 400, "p0_0"},
		{"where", Query{LayerID: 0, Where: "priority = 3 AND amount < 300"}, 12, "p0_2"},
		{"envelope incl. edges", Query{LayerID: 0, Envelope: env}, 3 * 2, "p3_3"},
		{"envelope + where", Query{LayerID: 0, Envelope: env, Where: "name <> 'p3_3'"}, 5, "p3_4"},
		{"order desc", Query{LayerID: 0, OrderBy: []string{"amount DESC"}}, 400, "p19_19"},
		{"polygon geometry", Query{LayerID: 0, Geometry: &arcgis.Geometry{Rings: [][][]float64{{{0, 0}, {0, 3}, {3, 0}, {0, 0}}}}}, 10, "p0_0"},
		{"line geometry", Query{LayerID: 0, Geometry: &arcgis.Geometry{Paths: [][][]float64{{{0.5, 0}, {0.5, 10}}}}}, 0, ""},
		{"ids", Query{LayerID: 0, ObjectIDs: []int64{5, 7, 999}}, 2, "p0_4"},
		{"polygons by envelope", Query{LayerID: 2, Envelope: &arcgis.Envelope{XMin: 1.5, YMin: 1, XMax: 4.5, YMax: 1.5}}, 2, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := db.Count(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if n != c.count {
				t.Fatalf("count %d, want %d", n, c.count)
			}
			fs, err := db.Features(ctx, c.q)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(fs)) != n {
				t.Fatalf("%d features, count %d", len(fs), n)
			}
			if c.first != "" && fs[0].Attributes["name"] != c.first {
				t.Fatalf("first %v, want %s", fs[0].Attributes["name"], c.first)
			}
		})
	}
	// Paging after the exact test, with outFields and no geometry.
	q := Query{LayerID: 0, Envelope: &arcgis.Envelope{XMin: 0, YMin: 0, XMax: 9, YMax: 9}, OutFields: []string{"name"}, NoGeometry: true, Offset: 10, Limit: 5}
	fs, err := db.Features(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 5 || fs[0].Attributes["name"] != "p1_0" || fs[0].Geometry != nil || len(fs[0].Attributes) != 1 {
		t.Fatalf("page = %+v", fs)
	}
	ids, err := db.IDs(ctx, Query{LayerID: 0, Where: "amount < 3"})
	if err != nil || !reflect.DeepEqual(ids, []int64{1, 2, 3}) {
		t.Fatalf("ids %v %v", ids, err)
	}
	for _, bad := range []Query{{LayerID: 0, OutFields: []string{"nope"}}, {LayerID: 0, OrderBy: []string{"nope"}}, {LayerID: 0, OrderBy: []string{"name; DROP"}}} {
		if _, err := db.Features(ctx, bad); !errors.Is(err, ErrWhere) {
			t.Errorf("%+v: err %v", bad, err)
		}
	}
	if _, err := db.Features(ctx, Query{LayerID: 42}); !errors.Is(err, ErrNoLayer) {
		t.Errorf("missing layer: %v", err)
	}
	validate(t, db)
}

func TestGeoJSONOutput(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	for _, id := range []int{0, 2} {
		var buf bytes.Buffer
		if err := db.WriteGeoJSON(ctx, &buf, Query{LayerID: id, OutFields: []string{"GlobalID"}}); err != nil {
			t.Fatal(err)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, buf.Bytes(), "", " "); err != nil {
			t.Fatal(err)
		}
		golden := fmt.Sprintf("testdata/golden/layer%d.geojson", id)
		if *update {
			os.WriteFile(golden, pretty.Bytes(), 0o644)
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, pretty.Bytes()) {
			t.Errorf("%s differs:\n%s", golden, pretty.String())
		}
	}
	// GDAL's GeoJSON driver reads our output.
	ogr := needTool(t, "ogrinfo")
	var buf bytes.Buffer
	if err := db.WriteGeoJSON(ctx, &buf, Query{LayerID: 2}); err != nil {
		t.Fatal(err)
	}
	p := t.TempDir() + "/p.geojson"
	os.WriteFile(p, buf.Bytes(), 0o644)
	out, err := runCmd(ogr, "-so", "-al", p)
	if err != nil || !strings.Contains(out, "Feature Count: 3") || !strings.Contains(out, "Multi Polygon") {
		t.Fatalf("ogrinfo: %v\n%s", err, out)
	}
}
