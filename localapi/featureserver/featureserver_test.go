package featureserver_test

import (
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/offlined/offlined/localapi/localapitest"
)

func TestFeatureServerReadAndQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The package holds two feature services (Field_Survey and
	// Reference_Data): "<map>.<service>" names one, the map id alone is
	// refused with the hint.
	fs := "/arcgis/rest/services/demo.Field_Survey/FeatureServer"
	svc := e.JSONOf(e.Do("GET", fs+"?f=json", nil), 200)
	if len(svc["layers"].([]any)) != 3 || len(svc["tables"].([]any)) != 1 {
		t.Fatalf("service %v", svc)
	}
	if er := e.WantError(e.Do("GET", "/arcgis/rest/services/demo/FeatureServer?f=json", nil), 404, "service"); !strings.Contains(er["message"].(string), "<map>.<service>") {
		t.Fatalf("map with two services: %v", er)
	}
	lyr := e.JSONOf(e.Do("GET", fs+"/0?f=json", nil), 200)
	if lyr["name"] != "Inspections" || lyr["objectIdField"] != "OBJECTID" {
		t.Fatalf("layer %v", lyr)
	}
	e.JSONOf(e.Do("GET", fs+"/layers?f=json", nil), 200)
	// Paging with exceededTransferLimit.
	total := 0
	for off := 0; ; off += 70 {
		q := e.JSONOf(e.Do("GET", fmt.Sprintf("%s/0/query?f=json&where=1%%3D1&outFields=*&resultOffset=%d&resultRecordCount=70", fs, off), nil), 200)
		n := len(q["features"].([]any))
		total += n
		if q["exceededTransferLimit"] != true {
			break
		}
		if n != 70 {
			t.Fatalf("page of %d with more to come", n)
		}
	}
	if total != 200 {
		t.Fatalf("paged total %d", total)
	}
	cnt := e.JSONOf(e.Do("GET", fs+"/0/query?f=json&where="+url.QueryEscape("Status='open'")+"&returnCountOnly=true", nil), 200)
	ids := e.JSONOf(e.Do("GET", fs+"/0/query?f=json&where="+url.QueryEscape("Status='open'")+"&returnIdsOnly=true", nil), 200)
	if int(cnt["count"].(float64)) != len(ids["objectIds"].([]any)) || cnt["count"].(float64) == 0 {
		t.Fatalf("count %v vs ids %d", cnt, len(ids["objectIds"].([]any)))
	}
	// Envelope in 4326 against the Web Mercator layer, same answer as the
	// GeoJSON API's bbox.
	env := e.JSONOf(e.Do("GET", fs+"/0/query?f=json&returnCountOnly=true&geometry=-117.25,33.98,-117.175,34.04&geometryType=esriGeometryEnvelope&inSR=4326", nil), 200)
	api := e.JSONOf(e.Do("GET", "/api/v1/maps/demo/layers/Field_Survey.0/features?count=true&bbox=-117.25,33.98,-117.175,34.04", nil), 200)
	if env["count"] != api["count"] {
		t.Fatalf("envelope count %v, bbox count %v", env["count"], api["count"])
	}
	gj := e.JSONOf(e.Do("POST", fs+"/0/query", strings.NewReader("f=geojson&where=1%3D1&resultRecordCount=5"), "Content-Type", "application/x-www-form-urlencoded"), 200)
	if gj["type"] != "FeatureCollection" || len(gj["features"].([]any)) != 5 || gj["exceededTransferLimit"] != true {
		t.Fatalf("geojson %v", gj["type"])
	}
	for q, field := range map[string]string{
		"where=" + url.QueryEscape("Bogus > 1"):            "where",
		"outFields=Nope":                                   "outFields",
		"resultOffset=-3":                                  "resultOffset",
		"resultRecordCount=0":                              "resultRecordCount",
		"objectIds=1,x":                                    "objectIds",
		"geometry=1,2,3":                                   "geometry",
		"geometry=1,2,3,4&inSR=2193":                       "inSR",
		"geometry=1,2,3,4&spatialRel=esriSpatialRelWithin": "spatialRel",
		"returnIdsOnly=sure":                               "returnIdsOnly",
		"f=html":                                           "f",
		"orderByFields=Nope":                               "orderByFields",
	} {
		e.WantError(e.Do("GET", fs+"/0/query?"+q, nil), 400, field)
	}
	e.WantError(e.Do("GET", fs+"/9?f=json", nil), 404, "layer")
	e.WantError(e.Do("GET", "/arcgis/rest/services/nope/FeatureServer?f=json", nil), 404, "service")
	if er := e.JSONOf(e.Do("GET", fs+"/0/query?where=Bogus", nil), 400)["error"].(map[string]any); er["code"].(float64) != 400 {
		t.Fatalf("ArcGIS-shaped error code %v", er["code"])
	}
}

func TestFeatureServerApplyEditsAndAttachments(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fs := "/arcgis/rest/services/demo.Field_Survey/FeatureServer/0"
	ct := []string{"Content-Type", "application/x-www-form-urlencoded"}
	_, oid := localapitest.FirstFeature(t, e.store())
	res := e.JSONOf(e.Do("POST", fs+"/applyEdits", localapitest.Form("f", "json",
		"adds", `[{"attributes":{"InspectionID":"ESRI-1","Status":"open"},"geometry":{"x":-13050000,"y":4030000}}]`,
		"updates", fmt.Sprintf(`[{"attributes":{"OBJECTID":%d,"Notes":"from arcgis"}}]`, oid)), ct...), 200)
	addRes := res["addResults"].([]any)[0].(map[string]any)
	if addRes["success"] != true || res["updateResults"].([]any)[0].(map[string]any)["success"] != true {
		t.Fatalf("applyEdits %v", res)
	}
	newOID := int64(addRes["objectId"].(float64))
	q := e.JSONOf(e.Do("GET", fmt.Sprintf("%s/query?f=json&objectIds=%d,%d&outFields=*", fs, oid, newOID), nil), 200)
	if len(q["features"].([]any)) != 2 {
		t.Fatalf("after applyEdits %v", q)
	}
	// A bad value rejects the whole batch and names the field.
	sum := localapitest.StoreChecksum(t, e.store())
	for _, c := range []struct {
		kv    []string
		field string
		code  int
	}{
		{[]string{"adds", `[{"attributes":{"InspectionID":"ok"}},{"attributes":{"Status":"nope"}}]`}, "Status", 422},
		{[]string{"adds", `{"not":"an array"}`}, "adds", 400},
		{[]string{"updates", `[{"attributes":{"Notes":"x"}}]`}, "OBJECTID", 400},
		{[]string{"updates", `[{"attributes":{"OBJECTID":999999,"Notes":"x"}}]`}, "OBJECTID", 404},
		{[]string{"deletes", "1,abc"}, "deletes", 400},
		{[]string{"deletes", "999999"}, "deletes", 404},
		{[]string{"deletes", `["nope"]`, "useGlobalIds", "true"}, "deletes", 400},
	} {
		e.WantError(e.Do("POST", fs+"/applyEdits", localapitest.Form(append([]string{"f", "json"}, c.kv...)...), ct...), c.code, c.field)
	}
	if localapitest.StoreChecksum(t, e.store()) != sum {
		t.Fatal("a rejected applyEdits changed the store")
	}
	// Attachments: add (multipart), list, download, delete.
	mp, mpType := localapitest.Upload("pic.png", []byte("\x89PNGdata"), "f", "json")
	add := e.JSONOf(e.Do("POST", fmt.Sprintf("%s/%d/addAttachment", fs, newOID), mp, "Content-Type", mpType), 200)
	aid := int64(add["addAttachmentResult"].(map[string]any)["objectId"].(float64))
	infos := e.JSONOf(e.Do("GET", fmt.Sprintf("%s/%d/attachments?f=json", fs, newOID), nil), 200)["attachmentInfos"].([]any)
	if len(infos) != 1 || infos[0].(map[string]any)["name"] != "pic.png" {
		t.Fatalf("attachmentInfos %v", infos)
	}
	r := e.Do("GET", fmt.Sprintf("%s/%d/attachments/%d", fs, newOID, aid), nil)
	if b, _ := io.ReadAll(r.Body); string(b) != "\x89PNGdata" {
		t.Fatalf("attachment content %q", b)
	}
	e.WantError(e.Do("GET", fmt.Sprintf("%s/%d/attachments/%d", fs, newOID, aid+100), nil), 404, "attachmentId")
	e.WantError(e.Do("POST", fmt.Sprintf("%s/%d/deleteAttachments", fs, newOID), localapitest.Form("attachmentIds", "x"), ct...), 400, "attachmentIds")
	d := e.JSONOf(e.Do("POST", fmt.Sprintf("%s/%d/deleteAttachments", fs, newOID), localapitest.Form("attachmentIds", fmt.Sprint(aid)), ct...), 200)
	if d["deleteAttachmentResults"].([]any)[0].(map[string]any)["success"] != true {
		t.Fatalf("deleteAttachments %v", d)
	}
	e.WantError(e.Do("GET", "/arcgis/rest/services/demo.Field_Survey/FeatureServer/1/1/attachments", nil), 400, "layer")
	e.WantError(e.Do("GET", fs+"/99999999/attachments", nil), 404, "objectId")
	// addFeatures / updateFeatures / deleteFeatures.
	af := e.JSONOf(e.Do("POST", fs+"/addFeatures", localapitest.Form("features", `[{"attributes":{"InspectionID":"AF-1"}}]`), ct...), 200)
	afOID := int64(af["addResults"].([]any)[0].(map[string]any)["objectId"].(float64))
	uf := e.JSONOf(e.Do("POST", fs+"/updateFeatures", localapitest.Form("features", fmt.Sprintf(`[{"attributes":{"OBJECTID":%d,"Notes":"uf"}}]`, afOID)), ct...), 200)
	if uf["updateResults"].([]any)[0].(map[string]any)["success"] != true {
		t.Fatalf("updateFeatures %v", uf)
	}
	e.WantError(e.Do("POST", fs+"/deleteFeatures", localapitest.Form("where", "1=1"), ct...), 400, "objectIds")
	e.WantError(e.Do("POST", fs+"/updateFeatures", localapitest.Form("features", `[{"attributes":{"OBJECTID":1,"Priority":99}}]`), ct...), 422, "Priority")
	dfr := e.JSONOf(e.Do("POST", fs+"/deleteFeatures", localapitest.Form("objectIds", fmt.Sprint(afOID)), ct...), 200)
	if dfr["deleteResults"].([]any)[0].(map[string]any)["success"] != true {
		t.Fatalf("deleteFeatures %v", dfr)
	}
	// Resources answer POST too.
	e.JSONOf(e.Do("POST", fs+"?f=json", nil), 200)
	// Delete by object id.
	del := e.JSONOf(e.Do("POST", fs+"/applyEdits", localapitest.Form("deletes", fmt.Sprint(newOID)), ct...), 200)
	if del["deleteResults"].([]any)[0].(map[string]any)["success"] != true {
		t.Fatalf("delete %v", del)
	}
}

// TestGDALReadsFeatureServer: GDAL's ESRIJSON driver pages through a layer
// with the token as a query parameter.
func TestGDALReadsFeatureServer(t *testing.T) {
	t.Parallel()
	ogr, err := exec.LookPath("ogrinfo")
	if err != nil {
		t.Skip("GDAL (ogrinfo) not installed")
	}
	e := newEnv(t)
	u := e.URL + "/arcgis/rest/services/demo.Field_Survey/FeatureServer/0/query?where=1%3D1&outFields=*&f=json&resultRecordCount=50&token=" + testToken
	out, err := exec.CommandContext(t.Context(), ogr, "-ro", "-al", "-so", "-oo", "FEATURE_SERVER_PAGING=YES", "ESRIJSON:"+u).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Feature Count: (\d+)`).FindSubmatch(out)
	if m == nil || string(m[1]) != "200" {
		t.Fatalf("ogrinfo feature count: %s", out)
	}
	if !strings.Contains(string(out), "Status: String") {
		t.Fatalf("ogrinfo fields: %s", out)
	}
	// Every feature read, with attributes, across pages of 50.
	out, err = exec.CommandContext(t.Context(), ogr, "-ro", "-al", "-q", "-oo", "FEATURE_SERVER_PAGING=YES", "ESRIJSON:"+u).CombinedOutput()
	if err != nil {
		t.Fatalf("ogrinfo: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "OGRFeature("); n != 200 {
		t.Fatalf("ogrinfo read %d features", n)
	}
	// The token never shows up in the daemon's logs even though GDAL sent it in the URL.
	if strings.Contains(e.logs.String(), testToken) {
		t.Fatal("token logged")
	}
}
