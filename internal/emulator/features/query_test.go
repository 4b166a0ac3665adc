package features

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func TestQueryWhereAndCounts(t *testing.T) {
	env := fsStart(t, nil)
	u := env.svc("Field_Survey") + "/0/query"
	all := fsGet(t, u, url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}})
	if all["count"] != 200.0 {
		t.Fatalf("count = %v", all["count"])
	}
	// Count by status from the Go API must equal the query counts.
	total := 0
	for _, st := range statusCodes {
		q := fsGet(t, u, url.Values{"where": {"Status = '" + st + "'"}, "returnCountOnly": {"true"}})
		feats, err := env.em.Features("Field_Survey", 0, "Status = '"+st+"'")
		if err != nil {
			t.Fatal(err)
		}
		if int(q["count"].(float64)) != len(feats) || len(feats) == 0 {
			t.Errorf("status %s: query %v, Go %d", st, q["count"], len(feats))
		}
		total += len(feats)
	}
	if total != 200 {
		t.Errorf("statuses sum to %d", total)
	}
	ids := fsGet(t, u, url.Values{"where": {"Priority IN (1,2) AND Notes IS NOT NULL"}, "returnIdsOnly": {"true"}})
	if ids["objectIdFieldName"] != "OBJECTID" {
		t.Errorf("ids body %v", fsKeys(ids))
	}
	list := ids["objectIds"].([]any)
	feats := fsGet(t, u, url.Values{"where": {"Priority IN (1,2) AND Notes IS NOT NULL"}, "outFields": {"*"}})
	if len(list) == 0 || len(list) != len(fsFeatures(feats)) {
		t.Fatalf("ids %d vs features %d", len(list), len(fsFeatures(feats)))
	}
	for _, f := range fsFeatures(feats) {
		p := fsAttr(f, "Priority").(float64)
		if (p != 1 && p != 2) || fsAttr(f, "Notes") == nil {
			t.Errorf("feature violates where: %v", f["attributes"])
		}
	}
	// objectIds + outFields + returnGeometry=false.
	sel := fsGet(t, u, url.Values{"objectIds": {"3,5,7"}, "outFields": {"Status,Depth"}, "returnGeometry": {"false"}})
	fs := fsFeatures(sel)
	if len(fs) != 3 {
		t.Fatalf("objectIds: %d features", len(fs))
	}
	for _, f := range fs {
		a := f["attributes"].(map[string]any)
		if len(a) != 3 || a["Status"] == nil || a["OBJECTID"] == nil || f["geometry"] != nil {
			t.Errorf("outFields/returnGeometry ignored: %v", f)
		}
	}
	if len(sel["fields"].([]any)) != 2 {
		t.Errorf("fields = %v", sel["fields"])
	}
	// Invalid clauses and fields give ArcGIS's 400.
	for _, q := range []url.Values{
		{"where": {"NoSuchField = 1"}}, {"where": {"Status = "}}, {"outFields": {"Nope"}}, {"orderByFields": {"Nope DESC"}},
		{"geometry": {"1,2,3"}}, {"outSR": {"2154"}}, {"objectIds": {"a,b"}},
	} {
		body := fsGet(t, u, q)
		if fsErrCode(body) != 400 {
			t.Errorf("%v: want error 400, got %v", q, fsKeys(body))
		}
	}
	bad := fsGet(t, u, url.Values{"where": {"NoSuchField = 1"}})
	if !strings.Contains(fsErrText(bad), "'where' parameter is invalid") || !strings.Contains(fsErrText(bad), "Invalid query parameters") {
		t.Errorf("where error text: %s", fsErrText(bad))
	}
	// POST works like GET.
	p := fsPost(t, u, url.Values{"where": {"Status = 'open'"}, "returnCountOnly": {"true"}})
	g := fsGet(t, u, url.Values{"where": {"Status = 'open'"}, "returnCountOnly": {"true"}})
	if p["count"] != g["count"] {
		t.Errorf("POST %v vs GET %v", p["count"], g["count"])
	}
	// Table query: no geometry keys.
	tq := fsGet(t, env.svc("Field_Survey")+"/3/query", url.Values{"where": {"Author = 'alice'"}, "outFields": {"*"}})
	if _, ok := tq["geometryType"]; ok || len(fsFeatures(tq)) == 0 {
		t.Errorf("table query: keys %v, %d rows", fsKeys(tq), len(fsFeatures(tq)))
	}
}

func TestQuerySpatial(t *testing.T) {
	env := fsStart(t, nil)
	base := env.svc("Field_Survey")
	env4326 := "-117.20,34.00,-117.15,34.05"
	for layer := 0; layer <= 2; layer++ {
		u := base + "/" + itoa(layer) + "/query"
		env3857 := func() string {
			x0, y0 := wgsToMerc(-117.20, 34.00)
			x1, y1 := wgsToMerc(-117.15, 34.05)
			return fsJSON(t, map[string]any{"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "spatialReference": map[string]any{"wkid": 102100}})
		}()
		a := fsGet(t, u, url.Values{"geometry": {env4326}, "inSR": {"4326"}, "geometryType": {"esriGeometryEnvelope"}, "returnIdsOnly": {"true"}})
		b := fsGet(t, u, url.Values{"geometry": {env3857}, "geometryType": {"esriGeometryEnvelope"}, "spatialRel": {"esriSpatialRelIntersects"}, "returnIdsOnly": {"true"}})
		ids := a["objectIds"].([]any)
		if len(ids) == 0 || len(ids) == map[int]int{0: 200, 1: 60, 2: 40}[layer] || fsJSON(t, ids) != fsJSON(t, b["objectIds"]) {
			t.Errorf("layer %d: 4326 ids %d vs 3857 ids %d", layer, len(ids), len(b["objectIds"].([]any)))
		}
		// Same envelope as a polygon.
		poly := fsJSON(t, map[string]any{"rings": [][][]float64{{{-117.20, 34.00}, {-117.20, 34.05}, {-117.15, 34.05}, {-117.15, 34.00}, {-117.20, 34.00}}}, "spatialReference": map[string]any{"wkid": 4326}})
		c := fsGet(t, u, url.Values{"geometry": {poly}, "geometryType": {"esriGeometryPolygon"}, "returnIdsOnly": {"true"}})
		if fsJSON(t, ids) != fsJSON(t, c["objectIds"]) {
			t.Errorf("layer %d: polygon filter differs from envelope filter", layer)
		}
	}
	// Points are tested exactly; outSR=4326 returns lon/lat inside the envelope.
	q := fsGet(t, base+"/0/query", url.Values{"geometry": {env4326}, "inSR": {"4326"}, "outSR": {"4326"}, "outFields": {"OBJECTID"}})
	if sr := q["spatialReference"].(map[string]any); sr["wkid"] != 4326.0 {
		t.Errorf("outSR ignored: %v", sr)
	}
	for _, f := range fsFeatures(q) {
		g := f["geometry"].(map[string]any)
		x, y := g["x"].(float64), g["y"].(float64)
		if x < -117.20 || x > -117.15 || y < 34.00 || y > 34.05 {
			t.Errorf("point %v,%v outside the query envelope", x, y)
		}
	}
	// A triangle (half the envelope) selects a strict subset of points.
	tri := fsJSON(t, map[string]any{"rings": [][][]float64{{{-117.20, 34.00}, {-117.15, 34.05}, {-117.15, 34.00}, {-117.20, 34.00}}}})
	half := fsGet(t, base+"/0/query", url.Values{"geometry": {tri}, "geometryType": {"esriGeometryPolygon"}, "inSR": {"4326"}, "returnCountOnly": {"true"}})
	full := fsGet(t, base+"/0/query", url.Values{"geometry": {env4326}, "inSR": {"4326"}, "returnCountOnly": {"true"}})
	if h, f := half["count"].(float64), full["count"].(float64); h <= 0 || h >= f {
		t.Errorf("triangle %v vs envelope %v", h, f)
	}
	// GeoJSON output.
	req, _ := http.NewRequest(http.MethodGet, base+"/2/query?where=1%3D1&outFields=*&f=geojson", nil)
	resp, body := fsDo(t, req)
	if !strings.Contains(resp.Header.Get("Content-Type"), "geo+json") {
		t.Errorf("geojson content type %q", resp.Header.Get("Content-Type"))
	}
	var fc struct {
		Type     string
		Features []struct {
			ID       any
			Geometry struct {
				Type        string
				Coordinates json.RawMessage
			}
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(body, &fc); err != nil || fc.Type != "FeatureCollection" || len(fc.Features) != 40 {
		t.Fatalf("geojson: %v %s %d", err, fc.Type, len(fc.Features))
	}
	kinds := map[string]int{}
	for _, f := range fc.Features {
		kinds[f.Geometry.Type]++
		if f.Properties["ParcelID"] == nil {
			t.Errorf("geojson properties %v", f.Properties)
		}
	}
	if kinds["Polygon"] == 0 || kinds["MultiPolygon"] == 0 {
		t.Errorf("geojson geometry kinds %v", kinds)
	}
}

func TestQueryPaging(t *testing.T) {
	svc := DemoFeatureService()
	svc.MaxRecordCount = 75
	env := fsStart(t, []FeatureServiceOptions{svc})
	u := env.svc("Field_Survey") + "/0/query"
	first := fsGet(t, u, url.Values{"where": {"1=1"}})
	if len(fsFeatures(first)) != 75 || first["exceededTransferLimit"] != true {
		t.Fatalf("first page: %d features, exceeded %v", len(fsFeatures(first)), first["exceededTransferLimit"])
	}
	seen := map[float64]bool{}
	offset, pages := 0, 0
	for {
		p := fsGet(t, u, url.Values{"where": {"1=1"}, "outFields": {"OBJECTID"}, "orderByFields": {"OBJECTID ASC"},
			"resultOffset": {itoa(offset)}, "resultRecordCount": {"60"}})
		fs := fsFeatures(p)
		for _, f := range fs {
			id := fsAttr(f, "OBJECTID").(float64)
			if seen[id] {
				t.Fatalf("OBJECTID %v twice", id)
			}
			seen[id] = true
		}
		pages++
		offset += len(fs)
		if p["exceededTransferLimit"] != true {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 200 || pages != 4 {
		t.Errorf("paged %d features in %d pages, want 200 in 4", len(seen), pages)
	}
	// orderByFields DESC on another field.
	d := fsGet(t, u, url.Values{"where": {"1=1"}, "outFields": {"Score"}, "orderByFields": {"Score DESC"}, "resultRecordCount": {"20"}})
	prev := 1e18
	for _, f := range fsFeatures(d) {
		s := fsAttr(f, "Score").(float64)
		if s > prev {
			t.Fatalf("Score not descending: %v after %v", s, prev)
		}
		prev = s
	}
	// returnIdsOnly is not capped by maxRecordCount.
	ids := fsGet(t, u, url.Values{"where": {"1=1"}, "returnIdsOnly": {"true"}})
	if len(ids["objectIds"].([]any)) != 200 {
		t.Errorf("returnIdsOnly capped: %d", len(ids["objectIds"].([]any)))
	}
	// Without pagination support, resultOffset is ignored.
	svc.NoPagination = true
	env2 := fsStart(t, []FeatureServiceOptions{svc})
	np := fsGet(t, env2.svc("Field_Survey")+"/0/query", url.Values{"where": {"1=1"}, "resultOffset": {"100"}, "outFields": {"OBJECTID"}})
	if fs := fsFeatures(np); len(fs) != 75 || fsAttr(fs[0], "OBJECTID") != 1.0 || np["exceededTransferLimit"] != true {
		t.Errorf("no-pagination service honoured resultOffset: %d first %v", len(fs), fsAttr(fs[0], "OBJECTID"))
	}
	lj := fsGet(t, env2.svc("Field_Survey")+"/0", nil)
	if lj["advancedQueryCapabilities"].(map[string]any)["supportsPagination"] != false {
		t.Errorf("supportsPagination not false")
	}
}

func TestFeatureByOID(t *testing.T) {
	env := fsStart(t, nil)
	f := fsGet(t, env.svc("Field_Survey")+"/1/7", nil)
	feat := f["feature"].(map[string]any)
	if fsAttr(feat, "OBJECTID") != 7.0 || feat["geometry"].(map[string]any)["paths"] == nil {
		t.Errorf("feature 7: %v", feat)
	}
	if m := fsGet(t, env.svc("Field_Survey")+"/1/7000", nil); fsErrCode(m) != 404 {
		t.Errorf("missing feature: %v", m)
	}
}

// TestGDALReadsAllPages has GDAL's ESRIJSON driver page through a layer
// larger than maxRecordCount.
func TestGDALReadsAllPages(t *testing.T) {
	ogrinfo, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Skip("ogrinfo not installed")
	}
	svc := DemoFeatureService()
	svc.MaxRecordCount = 1000
	svc.Layers[0].Count = 2500
	env := fsStart(t, []FeatureServiceOptions{svc})
	src := "ESRIJSON:" + env.svc("Field_Survey") + "/0/query?where=1%3D1&outFields=*&f=json"
	out, err := exec.Command(ogrinfo, "-ro", "-al", "-so", src).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Feature Count: (\d+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no feature count in:\n%s", out)
	}
	if n, _ := strconv.Atoi(string(m[1])); n != 2500 {
		t.Errorf("GDAL read %d features, want 2500\n%s", n, out)
	}
	if env.em.requestCount("/0/query") < 3 {
		t.Errorf("GDAL made %d query requests, want at least 3 pages", env.em.requestCount("/0/query"))
	}
	for _, field := range []string{"Status", "InspectedOn", "Depth"} {
		if !strings.Contains(string(out), field+":") {
			t.Errorf("ogrinfo schema lacks %s", field)
		}
	}
	_ = arcgis.GeometryPoint
}

func TestQueryPagingWithEditsAndLargeLayer(t *testing.T) {
	svc := DemoFeatureService()
	svc.Layers[0].Count = 100000
	svc.MaxRecordCount = 1000
	env := fsStart(t, []FeatureServiceOptions{svc})
	em := env.em
	u := env.svc("Field_Survey") + "/0/query"
	// Delete two generated features, add one: counts and pages follow.
	if err := em.EditFeatures("Field_Survey", 0, []arcgis.Feature{{Attributes: map[string]any{"InspectionID": "LAST"}, Geometry: pt(-117.2, 34.05)}},
		nil, []string{em.mustGID(t, 0, 99995), em.mustGID(t, 0, 99999)}); err != nil {
		t.Fatal(err)
	}
	if c := fsGet(t, u, url.Values{"where": {"1=1"}, "returnCountOnly": {"true"}}); c["count"] != 99999.0 {
		t.Errorf("count %v, want 99999", c["count"])
	}
	last := fsGet(t, u, url.Values{"where": {"1=1"}, "outFields": {"OBJECTID,InspectionID"}, "resultOffset": {"99990"}, "resultRecordCount": {"100"}})
	var got []float64
	for _, f := range fsFeatures(last) {
		got = append(got, fsAttr(f, "OBJECTID").(float64))
	}
	want := []float64{99991, 99992, 99993, 99994, 99996, 99997, 99998, 100000, 100001}
	if fsJSON(t, got) != fsJSON(t, want) || last["exceededTransferLimit"] != nil {
		t.Errorf("last page %v (exceeded %v), want %v", got, last["exceededTransferLimit"], want)
	}
	if fs := fsFeatures(last); fsAttr(fs[len(fs)-1], "InspectionID") != "LAST" {
		t.Errorf("added feature not last: %v", fs[len(fs)-1])
	}
	ids := fsGet(t, u, url.Values{"where": {"1=1"}, "returnIdsOnly": {"true"}})
	if n := len(ids["objectIds"].([]any)); n != 99999 {
		t.Errorf("ids %d", n)
	}
	// GlobalID lookups (what a sync engine asks after a lost reply) go
	// straight to the features, also on large layers.
	g1, g2, gone := em.mustGID(t, 0, 12345), em.mustGID(t, 0, 99990), "{00000000-0000-4000-8000-000000000000}"
	byGID := fsGet(t, u, url.Values{"where": {"GlobalID IN ('" + g1 + "', '" + strings.ToLower(g2) + "', '" + gone + "')"}, "outFields": {"OBJECTID"}})
	if fs := fsFeatures(byGID); len(fs) != 2 || fsAttr(fs[0], "OBJECTID") != 12345.0 || fsAttr(fs[1], "OBJECTID") != 99990.0 {
		t.Errorf("GlobalID IN query: %v", fs)
	}
	one := fsGet(t, u, url.Values{"where": {"GlobalID = '" + g1 + "'"}, "objectIds": {"1,2"}, "returnCountOnly": {"true"}})
	if one["count"] != 0.0 {
		t.Errorf("GlobalID = with disjoint objectIds: %v", one["count"])
	}
}
