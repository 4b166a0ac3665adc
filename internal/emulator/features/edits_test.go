package features

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func resultsOf(t testing.TB, m map[string]any, key string) []editResult {
	t.Helper()
	var out []editResult
	if err := jsonRoundTrip(m[key], &out); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return out
}

func TestApplyEditsLayer(t *testing.T) {
	env := fsStart(t, nil)
	u := env.svc("Field_Survey") + "/0/applyEdits"
	adds := fsJSON(t, []arcgis.Feature{{Attributes: map[string]any{"Status": "open", "Priority": 4, "InspectionID": "NEW-1", "InspectedOn": 1718000000000},
		Geometry: pt(-117.2, 34.05)}})
	updates := fsJSON(t, []arcgis.Feature{{Attributes: map[string]any{"OBJECTID": 5, "Notes": "updated"}}})
	res := fsPost(t, u, url.Values{"adds": {adds}, "updates": {updates}, "deletes": {"6,7"}})
	a, up, del := resultsOf(t, res, "addResults"), resultsOf(t, res, "updateResults"), resultsOf(t, res, "deleteResults")
	if len(a) != 1 || !a[0].Success || a[0].ObjectID != 201 || !isGUIDish(a[0].GlobalID) {
		t.Errorf("addResults %+v", a)
	}
	if len(up) != 1 || !up[0].Success || up[0].ObjectID != 5 || len(del) != 2 || !del[0].Success || !del[1].Success {
		t.Errorf("update/delete results %+v %+v", up, del)
	}
	if n := env.em.FeatureCount("Field_Survey", 0); n != 199 {
		t.Errorf("count %d, want 199", n)
	}
	f, ok := env.em.Feature("Field_Survey", 0, a[0].GlobalID)
	if !ok || f.Attributes["Creator"] != "anonymous" || f.Attributes["CreationDate"] == nil || f.Attributes["Priority"] != int64(4) {
		t.Errorf("added feature %v %v", ok, f.Attributes)
	}
	f5, _ := env.em.FeatureByOID("Field_Survey", 0, 5)
	if f5.Attributes["Notes"] != "updated" || f5.Attributes["Editor"] != "anonymous" || f5.Attributes["Status"] == nil {
		t.Errorf("updated feature %v", f5.Attributes)
	}
	// Query sees the edits.
	q := fsGet(t, env.svc("Field_Survey")+"/0/query", url.Values{"where": {"InspectionID = 'NEW-1' OR OBJECTID IN (6,7)"}, "returnCountOnly": {"true"}})
	if q["count"] != 1.0 {
		t.Errorf("query after edits: %v", q["count"])
	}
	// Validation failures, with and without rollback.
	badBatch := url.Values{
		"adds": {fsJSON(t, []arcgis.Feature{
			{Attributes: map[string]any{"InspectionID": strings.Repeat("x", 40)}, Geometry: pt(-117.2, 34.05)}, // too long
			{Attributes: map[string]any{"Status": "ok"}, Geometry: pt(-117.2, 34.05)},
			{Attributes: map[string]any{"Priority": "high"}},                                                                // wrong type
			{Attributes: map[string]any{"Status": "x"}, Geometry: &arcgis.Geometry{Paths: [][][]float64{{{0, 0}, {1, 1}}}}}, // wrong geometry
		})},
		"updates": {fsJSON(t, []arcgis.Feature{{Attributes: map[string]any{"OBJECTID": 99999, "Status": "x"}}})},
	}
	res = fsPost(t, u, badBatch)
	a = resultsOf(t, res, "addResults")
	if len(a) != 4 || a[0].Success || a[1].Success || a[1].Error.Code != editErrRolledBack || a[2].Error == nil || a[3].Error == nil {
		t.Errorf("rolled back adds %+v", a)
	}
	if up := resultsOf(t, res, "updateResults"); up[0].Error == nil || up[0].Error.Code != editErrMissing {
		t.Errorf("missing update %+v", up)
	}
	if n := env.em.FeatureCount("Field_Survey", 0); n != 199 {
		t.Errorf("rolled back batch changed the count: %d", n)
	}
	badBatch.Set("rollbackOnFailure", "false")
	res = fsPost(t, u, badBatch)
	a = resultsOf(t, res, "addResults")
	if a[0].Success || !a[1].Success || a[2].Success || a[3].Success {
		t.Errorf("partial adds %+v", a)
	}
	if n := env.em.FeatureCount("Field_Survey", 0); n != 200 {
		t.Errorf("partial batch count %d, want 200", n)
	}
	// Tables take features without geometry.
	tr := fsPost(t, env.svc("Field_Survey")+"/3/applyEdits", url.Values{"adds": {`[{"attributes":{"Note":"n","InspectionGUID":"{0A0A0A0A-0000-4000-8000-000000000001}"}}]`}})
	if r := resultsOf(t, tr, "addResults"); !r[0].Success {
		t.Errorf("table add %+v", r)
	}
	// Read-only service.
	if ro := fsPost(t, env.svc("Reference_Data")+"/0/applyEdits", url.Values{"adds": {adds}}); fsErrCode(ro) != 400 {
		t.Errorf("applyEdits on read-only service: %v", ro)
	}
	if r := fsPost(t, u, url.Values{"adds": {"not json"}}); fsErrCode(r) != 400 {
		t.Errorf("bad adds: %v", r)
	}
}

func TestApplyEditsGlobalIDsAndAttachments(t *testing.T) {
	env := fsStart(t, nil)
	u := env.svc("Field_Survey") + "/0/applyEdits"
	gid := "{55E85F98-FBDD-4129-9F0B-848DD40BD911}"
	add := fsJSON(t, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": strings.ToLower(gid), "Status": "open"}, Geometry: pt(-117.2, 34.05)}})
	res := fsPost(t, u, url.Values{"adds": {add}, "useGlobalIds": {"true"}})
	if a := resultsOf(t, res, "addResults"); !a[0].Success || a[0].GlobalID != gid {
		t.Fatalf("add with GlobalID %+v", a)
	}
	res = fsPost(t, u, url.Values{"adds": {add}, "useGlobalIds": {"true"}})
	if a := resultsOf(t, res, "addResults"); a[0].Success || !strings.Contains(a[0].Error.Description, "already exists") {
		t.Errorf("duplicate GlobalID add %+v", a)
	}
	// Existing generated GlobalIDs are rejected too.
	genGID := env.em.mustGID(t, 0, 1)
	dup := fsJSON(t, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": genGID}, Geometry: pt(-117.2, 34.05)}})
	if a := resultsOf(t, fsPost(t, u, url.Values{"adds": {dup}, "useGlobalIds": {"true"}}), "addResults"); a[0].Success {
		t.Errorf("add reusing a generated GlobalID succeeded")
	}
	// Attachments in the fixture's shape: one by uploadId, one by data; update; delete.
	fx := fsFixture(t, "applyedits-attachments-param.docs-example.json")
	up := fsMultipart(t, env.svc("Field_Survey")+"/uploads/upload", map[string]string{"f": "json"}, "file", "pothole.jpg", []byte("JPEGDATA"))
	upID := up["item"].(map[string]any)["itemID"].(string)
	addsFx := fx["adds"].([]any)
	a0, a1 := addsFx[0].(map[string]any), addsFx[1].(map[string]any)
	a0["parentGlobalId"], a0["uploadId"] = gid, upID
	a1["parentGlobalId"], a1["data"] = genGID, base64.StdEncoding.EncodeToString([]byte("PNGDATA"))
	attParam := fsJSON(t, map[string]any{"adds": []any{a0, a1}})
	res = fsPost(t, u, url.Values{"attachments": {attParam}, "useGlobalIds": {"true"}})
	ar := res["attachments"].(map[string]any)
	var addRes []editResult
	_ = jsonRoundTrip(ar["addResults"], &addRes)
	if len(addRes) != 2 || !addRes[0].Success || !addRes[1].Success {
		t.Fatalf("attachment adds %+v", addRes)
	}
	if d, ok := env.em.AttachmentData("Field_Survey", 0, a0["globalId"].(string)); !ok || string(d) != "JPEGDATA" {
		t.Errorf("attachment by uploadId: %q", d)
	}
	if d, ok := env.em.AttachmentData("Field_Survey", 0, a1["globalId"].(string)); !ok || string(d) != "PNGDATA" {
		t.Errorf("attachment by data: %q", d)
	}
	upd := fsJSON(t, map[string]any{"updates": []any{map[string]any{"globalId": a1["globalId"], "name": "renamed.png", "data": base64.StdEncoding.EncodeToString([]byte("NEW"))}},
		"deletes": []string{a0["globalId"].(string)}})
	res = fsPost(t, u, url.Values{"attachments": {upd}, "useGlobalIds": {"true"}})
	ar = res["attachments"].(map[string]any)
	if fsJSON(t, ar["updateResults"]) == "[]" || strings.Contains(fsJSON(t, ar), `"success":false`) {
		t.Errorf("attachment update/delete: %s", fsJSON(t, ar))
	}
	if d, _ := env.em.AttachmentData("Field_Survey", 0, a1["globalId"].(string)); string(d) != "NEW" {
		t.Errorf("updated attachment data %q", d)
	}
	if _, ok := env.em.AttachmentData("Field_Survey", 0, a0["globalId"].(string)); ok {
		t.Errorf("deleted attachment still there")
	}
	if r := fsPost(t, u, url.Values{"attachments": {attParam}}); fsErrCode(r) != 400 {
		t.Errorf("attachments without useGlobalIds: %v", r)
	}
	// Deletes by GlobalID.
	res = fsPost(t, u, url.Values{"deletes": {`["` + gid + `"]`}, "useGlobalIds": {"true"}})
	if d := resultsOf(t, res, "deleteResults"); !d[0].Success {
		t.Errorf("delete by GlobalID %+v", d)
	}
}

// mustGID returns the GlobalID of a generated feature.
func (s *FeatureServer) mustGID(t testing.TB, layer int, oid int64) string {
	t.Helper()
	f, ok := s.FeatureByOID("Field_Survey", layer, oid)
	if !ok {
		t.Fatalf("feature %d/%d missing", layer, oid)
	}
	return f.Attributes["GlobalID"].(string)
}

func TestApplyEditsServiceLevel(t *testing.T) {
	env := fsStart(t, nil)
	u := env.svc("Field_Survey") + "/applyEdits"
	good := []map[string]any{
		{"id": 0, "updates": []arcgis.Feature{{Attributes: map[string]any{"OBJECTID": 1, "Notes": "svc-level"}}}},
		{"id": 1, "deletes": []int{2}},
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(url.Values{"edits": {fsJSON(t, good)}, "f": {"json"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, b := fsDo(t, req)
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil || len(out) != 2 || out[1]["id"] != 1.0 {
		t.Fatalf("service applyEdits: %v %s", err, b)
	}
	if f, _ := env.em.FeatureByOID("Field_Survey", 0, 1); f.Attributes["Notes"] != "svc-level" {
		t.Errorf("layer 0 update not applied")
	}
	if _, ok := env.em.FeatureByOID("Field_Survey", 1, 2); ok {
		t.Errorf("layer 1 delete not applied")
	}
	// A failure in layer 1 rolls back layer 0 as well.
	bad := []map[string]any{
		{"id": 0, "updates": []arcgis.Feature{{Attributes: map[string]any{"OBJECTID": 1, "Notes": "must not stick"}}}},
		{"id": 1, "deletes": []int{2}}, // already deleted
	}
	req, _ = http.NewRequest(http.MethodPost, u, strings.NewReader(url.Values{"edits": {fsJSON(t, bad)}, "f": {"json"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, b = fsDo(t, req)
	if !bytes.Contains(b, []byte(`"code":1003`)) || !bytes.Contains(b, []byte(`"code":1019`)) {
		t.Errorf("rolled back service edits: %s", b)
	}
	if f, _ := env.em.FeatureByOID("Field_Survey", 0, 1); f.Attributes["Notes"] != "svc-level" {
		t.Errorf("layer 0 edit survived a failed service-level batch: %v", f.Attributes["Notes"])
	}
	if r := fsPost(t, u, url.Values{"edits": {`[{"id":42}]`}}); fsErrCode(r) != 400 {
		t.Errorf("unknown layer: %v", r)
	}
}

func TestGoEditAPI(t *testing.T) {
	env := fsStart(t, nil)
	em := env.em
	before := em.ServerGen("Field_Survey")
	if err := em.EditFeatures("Field_Survey", 0, []arcgis.Feature{{Attributes: map[string]any{"Status": "open"}, Geometry: pt(-117.2, 34.05)}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if em.ServerGen("Field_Survey") <= before {
		t.Errorf("ServerGen did not advance")
	}
	err := em.EditFeatures("Field_Survey", 0, nil, nil, []string{"{00000000-0000-4000-8000-000000000000}"})
	var ee *EditError
	if !errors.As(err, &ee) || len(ee.Failures) != 1 {
		t.Errorf("delete of a missing feature: %v", err)
	}
	if err := em.EditFeatures("Nope", 0, nil, nil, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown service: %v", err)
	}
	// Schema change: the field appears in the layer JSON, queries and features.
	if err := em.AddField("Field_Survey", 0, arcgis.Field{Name: "Crew", Type: arcgis.FieldString, Length: 20, DefaultValue: "A"}); err != nil {
		t.Fatal(err)
	}
	if err := em.AddField("Field_Survey", 0, arcgis.Field{Name: "crew", Type: arcgis.FieldString}); err == nil {
		t.Errorf("duplicate field accepted")
	}
	l := fsGet(t, env.svc("Field_Survey")+"/0", nil)
	var lay arcgis.Layer
	_ = jsonRoundTrip(l, &lay)
	if lay.Field("Crew") == nil {
		t.Errorf("new field missing from layer JSON")
	}
	q := fsGet(t, env.svc("Field_Survey")+"/0/query", url.Values{"where": {"Crew = 'A'"}, "returnCountOnly": {"true"}})
	if q["count"] != 201.0 {
		t.Errorf("features with the new field's default: %v", q["count"])
	}
	if f, _ := em.FeatureByOID("Field_Survey", 0, 3); f.Attributes["Crew"] != "A" {
		t.Errorf("generated feature lacks the new field")
	}
	// Removing a field hides it from generated and edited features alike.
	if err := em.RemoveField("Field_Survey", 0, "Notes"); err != nil {
		t.Fatal(err)
	}
	for _, oid := range []int64{1, 201} {
		if f, _ := em.FeatureByOID("Field_Survey", 0, oid); f.Attributes == nil || f.Attributes["Crew"] != "A" {
			t.Errorf("feature %d: %v", oid, f.Attributes)
		} else if _, has := f.Attributes["Notes"]; has {
			t.Errorf("feature %d still has the removed field", oid)
		}
	}
	if bad := fsGet(t, env.svc("Field_Survey")+"/0/query", url.Values{"where": {"Notes IS NULL"}}); fsErrCode(bad) != 400 {
		t.Errorf("where on a removed field accepted")
	}
}
