package localapi

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/features_golden.txt")

// goldenLayers are the layers of the golden package: points (Web Mercator,
// every attribute type, odd blobs), points with Z (WGS84), polygons and
// lines in a projected system, a table, and a layer with a corrupt blob.
func goldenLayers() []*arcgis.Layer {
	no, yes := false, true
	base := func(id int, name, gt string, sr *arcgis.SpatialReference, extra ...arcgis.Field) *arcgis.Layer {
		l := &arcgis.Layer{ID: id, Name: name, Type: "Feature Layer", GeometryType: gt, ObjectIDField: "OBJECTID", GlobalIDField: "GlobalID",
			SpatialReference: sr,
			Fields: append([]arcgis.Field{
				{Name: "OBJECTID", Type: arcgis.FieldOID, Nullable: &no, Editable: &no},
				{Name: "GlobalID", Type: arcgis.FieldGlobalID, Length: 38, Nullable: &no, Editable: &no},
				{Name: "Name", Type: arcgis.FieldString, Length: 64, Nullable: &yes, Editable: &yes},
				{Name: "Value", Type: arcgis.FieldInteger, Nullable: &yes, Editable: &yes},
			}, extra...)}
		if gt == "" {
			l.Type = "Table"
		}
		return l
	}
	merc := &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857}
	return []*arcgis.Layer{
		base(0, "Pts", arcgis.GeometryPoint, merc,
			arcgis.Field{Name: "Ratio", Type: arcgis.FieldDouble, Nullable: &yes, Editable: &yes},
			arcgis.Field{Name: "When", Type: arcgis.FieldDate, Nullable: &yes, Editable: &yes},
			arcgis.Field{Name: "Small", Type: arcgis.FieldSmallInteger, Nullable: &yes, Editable: &yes},
			arcgis.Field{Name: "Data", Type: arcgis.FieldBlob, Nullable: &yes, Editable: &yes}),
		func() *arcgis.Layer {
			l := base(1, "ZPts", arcgis.GeometryPoint, &arcgis.SpatialReference{WKID: 4326})
			l.HasZ = true
			return l
		}(),
		base(2, "Shapes", arcgis.GeometryPolygon, &arcgis.SpatialReference{WKID: 2193}),
		base(3, "Lines", arcgis.GeometryPolyline, merc),
		base(4, "Rows", "", nil),
		base(5, "Broken", arcgis.GeometryPoint, merc),
	}
}

// goldenNames are attribute strings JSON must escape one way or another.
var goldenNames = []string{"plain", `quo"te`, `back\slash`, "new\nline", "tab\t", "ctl\x01", "é ü", "sep\u2028x", "bad\xffutf8", "<html>&", ""}

func goldenFeatures(layer int) string {
	var b strings.Builder
	b.WriteString(`{"features":[`)
	n := 40
	if layer == 5 {
		n = 4
	}
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(goldenNames[i%len(goldenNames)])
		attrs := fmt.Sprintf(`"GlobalID":"{%08X-0000-4000-8000-%012X}","Name":%s,"Value":%d`, i, layer, name, (i*7)%23)
		if i%9 == 0 {
			attrs = fmt.Sprintf(`"GlobalID":"{%08X-0000-4000-8000-%012X}","Name":null,"Value":null`, i, layer)
		}
		var geom string
		switch layer {
		case 0:
			ratios := []string{"0.1", "1e21", "-0", "3.141592653589793", "1e-7", "null", "123456789.125"}
			attrs += fmt.Sprintf(`,"Ratio":%s,"When":%d,"Small":%d`, ratios[i%len(ratios)], 1700000000000+int64(i)*86400123, i%5-2)
			if i%4 == 0 {
				attrs += `,"Data":"AAEC/w=="`
			}
			x, y := wgsToMerc(benchW+float64(i%8)*0.01, benchS+float64(i/8)*0.01)
			geom = fmt.Sprintf(`{"x":%.3f,"y":%.3f}`, x, y)
		case 1:
			geom = fmt.Sprintf(`{"x":%g,"y":%g,"z":%g}`, 10+float64(i%6)*0.2, 20+float64(i/6)*0.2, float64(i)*1.5-3)
		case 2:
			x0, y0 := 1.75e6+float64(i%6)*1000, 5.9e6+float64(i/6)*1000
			ring := fmt.Sprintf(`[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]`, x0, y0, x0, y0+800, x0+800, y0+800, x0+800, y0, x0, y0)
			rev := fmt.Sprintf(`[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]`, x0, y0, x0+800, y0, x0+800, y0+800, x0, y0+800, x0, y0)
			hole := fmt.Sprintf(`[[%g,%g],[%g,%g],[%g,%g],[%g,%g],[%g,%g]]`, x0+200, y0+200, x0+600, y0+200, x0+600, y0+600, x0+200, y0+600, x0+200, y0+200)
			far := fmt.Sprintf(`[[%g,%g],[%g,%g],[%g,%g],[%g,%g]]`, x0+5e5, y0, x0+5e5, y0+300, x0+5e5+300, y0, x0+5e5, y0)
			switch i % 4 {
			case 0:
				geom = `{"rings":[` + ring + `]}`
			case 1:
				geom = `{"rings":[` + rev + `]}`
			case 2:
				geom = `{"rings":[` + ring + `,` + hole + `]}`
			default:
				geom = `{"rings":[` + ring + `,` + far + `]}`
			}
		case 3:
			x, y := wgsToMerc(benchW+float64(i%8)*0.01, benchS+float64(i/8)*0.01)
			geom = fmt.Sprintf(`{"paths":[[[%.3f,%.3f],[%.3f,%.3f],[%.3f,%.3f]]]}`, x, y, x+500, y+300, x+900, y-200)
			if i%3 == 0 {
				geom = fmt.Sprintf(`{"paths":[[[%.3f,%.3f],[%.3f,%.3f]],[[%.3f,%.3f],[%.3f,%.3f]]]}`, x, y, x+500, y, x, y+700, x+200, y+900)
			}
		case 5:
			x, y := wgsToMerc(benchW+float64(i)*0.01, benchS+0.01)
			geom = fmt.Sprintf(`{"x":%.3f,"y":%.3f}`, x, y)
		}
		b.WriteString(`{"attributes":{` + attrs + `}`)
		if geom != "" {
			b.WriteString(`,"geometry":` + geom)
		}
		b.WriteString(`}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// pointBlob is a GeoPackage blob of one point: byte order bo, WKB type
// code, coordinates, and an envelope in the header when env.
func pointBlob(bo binary.AppendByteOrder, code uint32, env bool, c ...float64) []byte {
	flags := byte(0)
	if bo == binary.AppendByteOrder(binary.LittleEndian) {
		flags = 1
	}
	if env {
		flags |= 2
	}
	b := []byte{'G', 'P', 0, flags}
	b = bo.AppendUint32(b, 3857)
	if env {
		for _, v := range []float64{c[0], c[0], c[1], c[1]} {
			b = bo.AppendUint64(b, math.Float64bits(v))
		}
	}
	if flags&1 == 1 {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = bo.AppendUint32(b, code)
	for _, v := range c {
		b = bo.AppendUint64(b, math.Float64bits(v))
	}
	return b
}

// buildGoldenPackage writes the golden package under root and returns the
// GeoPackage's path.
func buildGoldenPackage(t *testing.T, root string) string {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(root, "packages", "golden", "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "packages", "golden", "package.json"), []byte(`{"id":"golden","title":"golden"}`), 0o600)
	p := filepath.Join(dir, "Golden.gpkg")
	db, err := geodb.Open(ctx, p, geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range goldenLayers() {
		if _, err := db.CreateLayer(ctx, l, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := db.LoadFeatures(ctx, l.ID, strings.NewReader(goldenFeatures(l.ID)), geodb.LoadOptions{}); err != nil {
			t.Fatalf("layer %d: %v", l.ID, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Blobs the loader does not write: empty and half-empty points, other
	// byte orders, header envelopes, Z/M by ISO code and by EWKB flag, no
	// geometry, and a truncated blob.
	x, y := wgsToMerc(benchW+0.035, benchS+0.025)
	le, be := binary.LittleEndian, binary.BigEndian
	sets := []struct {
		table string
		oid   int
		blob  []byte
	}{
		{"Pts", 5, pointBlob(le, 1, false, math.NaN(), math.NaN())},
		{"Pts", 6, nil},
		{"Pts", 7, pointBlob(be, 1, true, x, y)},
		{"Pts", 8, pointBlob(le, 1001, false, x+10, y+10, 42.5)},
		{"Pts", 10, pointBlob(le, 2001, false, x+20, y+20, 7)},
		{"Pts", 11, pointBlob(be, 0x80000001, false, x+30, y+30, -1)},
		{"Pts", 12, pointBlob(le, 3001, true, x+40, y+40, 8, 9)},
		{"Pts", 13, pointBlob(le, 1, false, math.NaN(), y)},
		{"Pts", 14, pointBlob(le, 0x40000001, false, x+50, y+50, 3)},
		{"Broken", 3, pointBlob(le, 1, false, x, y)[:20]},
	}
	sdb, err := sql.Open("sqlite", p)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	for _, s := range sets {
		var v any
		if s.blob != nil {
			v = s.blob
		}
		if _, err := sdb.Exec(fmt.Sprintf(`UPDATE "%s" SET "geom" = ? WHERE "OBJECTID" = ?`, s.table), v, s.oid); err != nil {
			t.Fatalf("%s %d: %v", s.table, s.oid, err)
		}
	}
	return p
}

// goldenQueries are the feature query parameters pinned for every layer.
func goldenQueries(layer int) []string {
	qs := []string{
		"",
		"limit=5&offset=3",
		"limit=3&orderBy=Value DESC",
		"outFields=Value,Name",
		"outFields=OBJECTID&returnGeometry=false",
		"returnGeometry=false&limit=4",
		"where=Value > 10",
		"count=true",
		"limit=1000",
	}
	switch layer {
	case 0, 3, 5:
		bb := fmt.Sprintf("%g,%g,%g,%g", benchW+0.015, benchS+0.005, benchW+0.055, benchS+0.035)
		qs = append(qs, "bbox="+bb, "bbox="+bb+"&limit=4&offset=2", "bbox="+bb+"&outFields=Name&where=Value < 12",
			"bbox="+bb+"&count=true", "bbox="+bb+"&returnGeometry=false",
			"geometry="+url.QueryEscape(fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}`,
				benchW, benchS, benchW+0.06, benchS, benchW, benchS+0.06, benchW, benchS)),
			"bbox="+bb+"&geometry="+url.QueryEscape(fmt.Sprintf(`{"type":"Polygon","coordinates":[[[%g,%g],[%g,%g],[%g,%g],[%g,%g]]]}`,
				benchW, benchS, benchW+0.06, benchS, benchW, benchS+0.06, benchW, benchS)))
	case 1:
		qs = append(qs, "bbox=10.2,20.2,10.6,20.8", "bbox=10.2,20.2,10.6,20.8&limit=2&offset=1", "bbox=10,20,10,20")
	case 2:
		qs = append(qs, "bbox=1751000,5901000,1753500,5903500", "bbox=1751900,5901900,1751900,5901900",
			"geometry="+url.QueryEscape(`{"type":"Point","coordinates":[1752400,5902400]}`))
	}
	return qs
}

func goldenOutput(t *testing.T) []byte {
	root := t.TempDir()
	gpkg := buildGoldenPackage(t, root)
	d := NewTestDaemon(t, TestDaemonOptions{Root: root, Hub: NewHub(0)})
	srv, err := New(Options{Token: testToken, Maps: d.Maps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	get := func(path string) {
		req := httptest.NewRequest("GET", "http://127.0.0.1"+path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		fmt.Fprintf(&out, "### GET %s\n%d %s\n%s\n", path, rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes())
	}
	esc := strings.NewReplacer(" ", "%20", ">", "%3E", "<", "%3C", "{", "%7B", "}", "%7D")
	for _, l := range goldenLayers() {
		for _, q := range goldenQueries(l.ID) {
			get(fmt.Sprintf("/api/v1/maps/golden/layers/%d/features?%s", l.ID, esc.Replace(q)))
		}
	}
	get("/api/v1/maps/golden/layers/0/features/8")
	get("/api/v1/maps/golden/layers/1/features/%7B00000003-0000-4000-8000-000000000001%7D")
	get("/api/v1/maps/golden/layers/2/features/4")
	// geodb's own writers and readers over the same layers.
	db, err := geodb.Open(t.Context(), gpkg, geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	x0, y0 := wgsToMerc(benchW+0.015, benchS+0.005)
	x1, y1 := wgsToMerc(benchW+0.055, benchS+0.035)
	env := &arcgis.Envelope{XMin: x0, YMin: y0, XMax: x1, YMax: y1}
	for _, l := range goldenLayers() {
		for i, q := range []geodb.Query{
			{},
			{Offset: 2, Limit: 5, OutFields: []string{"Value", "OBJECTID"}},
			{Envelope: env, Offset: 1, Limit: 6},
			{Envelope: env, NoGeometry: true, Where: "Value >= 3"},
		} {
			q.LayerID = l.ID
			if q.Envelope != nil && (l.ID == 1 || l.ID == 2 || l.ID == 4) {
				continue
			}
			var b bytes.Buffer
			err := db.WriteGeoJSON(t.Context(), &b, q)
			fmt.Fprintf(&out, "### WriteGeoJSON layer %d query %d: %v\n%s\n", l.ID, i, err, b.Bytes())
			b.Reset()
			err = db.WriteArcGISJSON(t.Context(), &b, q)
			fmt.Fprintf(&out, "### WriteArcGISJSON layer %d query %d: %v\n%s\n", l.ID, i, err, b.Bytes())
			n, err := db.Count(t.Context(), q)
			ids, err2 := db.IDs(t.Context(), q)
			fmt.Fprintf(&out, "### Count/IDs layer %d query %d: %d %v %v %v\n", l.ID, i, n, err, ids, err2)
		}
	}
	return out.Bytes()
}

// TestFeatureOutputGolden pins the bytes of every feature query form (the
// GeoJSON route with paging, fields, where, order, bbox and geometry
// filters, count; single features; geodb's GeoJSON and ArcGIS JSON
// writers, Count and IDs) over layers of every geometry kind, odd blobs
// and attribute types. The golden file was written by the code before the
// streaming feature path (-update-golden rewrites it).
func TestFeatureOutputGolden(t *testing.T) {
	got := goldenOutput(t)
	p := filepath.Join("testdata", "features_golden.txt")
	if *updateGolden {
		if err := os.WriteFile(p, got, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gs, ws := strings.Split(string(got), "\n### "), strings.Split(string(want), "\n### ")
	for i := range min(len(gs), len(ws)) {
		if gs[i] != ws[i] {
			t.Fatalf("section %d differs:\n got: %.2000s\nwant: %.2000s", i, gs[i], ws[i])
		}
	}
	t.Fatalf("%d sections, want %d", len(gs), len(ws))
}
