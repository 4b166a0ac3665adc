package features

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// syncDoc is a decoded synchronizeReplica response.
type syncDoc struct {
	ReplicaID       string             `json:"replicaID"`
	ResponseType    string             `json:"responseType"`
	TransportType   string             `json:"transportType"`
	ReplicaGen      int64              `json:"replicaServerGen"`
	LayerServerGens []arcgis.ServerGen `json:"layerServerGens"`
	Edits           []struct {
		ID            int             `json:"id"`
		AddResults    []editResult    `json:"addResults"`
		UpdateResults []editResult    `json:"updateResults"`
		DeleteResults []editResult    `json:"deleteResults"`
		Features      *featureChanges `json:"features"`
		Attachments   *struct {
			Adds       []arcgis.AttachmentInfo `json:"adds"`
			Updates    []arcgis.AttachmentInfo `json:"updates"`
			DeleteIDs  []string                `json:"deleteIds"`
			AddResults []editResult            `json:"addResults"`
		} `json:"attachments"`
	} `json:"edits"`
}

func (d syncDoc) layer(t testing.TB, id int) int {
	t.Helper()
	for i, e := range d.Edits {
		if e.ID == id {
			return i
		}
	}
	t.Fatalf("sync response has no layer %d", id)
	return -1
}

func gidsOf(fs []arcgis.Feature) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Attributes["GlobalID"].(string))
	}
	slices.Sort(out)
	return out
}

// syncEmbedded posts synchronizeReplica with embedded transport.
func syncEmbedded(t testing.TB, env *fsEnv, form url.Values) (syncDoc, map[string]any) {
	t.Helper()
	form.Set("transportType", "esriTransportTypeEmbedded")
	b := fsPostRaw(t, env.svc("Field_Survey")+"/synchronizeReplica", form)
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	var d syncDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("sync response: %v: %s", err, b)
	}
	return d, raw
}

func syncLayersJSON(gens []arcgis.ServerGen) string {
	b, _ := json.Marshal(gens)
	return string(b)
}

func pt(x, y float64) *arcgis.Geometry {
	mx, my := wgsToMerc(x, y)
	return &arcgis.Geometry{X: &mx, Y: &my}
}

// allInspections returns every layer 0 feature inside demoAOI.
func aoiInspections(t *testing.T, env *fsEnv) []string {
	q := fsGet(t, env.svc("Field_Survey")+"/0/query", url.Values{"geometry": {demoAOI}, "outFields": {"GlobalID"}, "orderByFields": {"OBJECTID"}})
	var out []string
	for _, f := range fsFeatures(q) {
		out = append(out, fsAttr(f, "GlobalID").(string))
	}
	return out
}

func TestSyncRoundTripPerLayer(t *testing.T) {
	env := fsStart(t, nil)
	svcURL := env.svc("Field_Survey")
	cr := fsPost(t, svcURL+"/createReplica", replicaForm(map[string]string{"replicaName": "rt"}))
	rid := cr["replicaID"].(string)
	var gens []arcgis.ServerGen
	_ = jsonRoundTrip(cr["layerServerGens"], &gens)
	in := aoiInspections(t, env)
	if len(in) < 6 {
		t.Fatalf("only %d inspections in the AOI", len(in))
	}
	// Another user edits the server after the replica was created.
	otherAdd := "{0A0A0A0A-0000-4000-8000-000000000001}"
	if err := env.em.EditFeatures("Field_Survey", 0,
		[]arcgis.Feature{{Attributes: map[string]any{"GlobalID": otherAdd, "Status": "pending", "InspectionID": "OTHER-1"}, Geometry: pt(-117.18, 34.03)},
			{Attributes: map[string]any{"Status": "open"}, Geometry: pt(-117.0, 33.5)}}, // outside the replica area
		[]arcgis.Feature{{Attributes: map[string]any{"GlobalID": in[0], "Notes": "changed by other"}}},
		[]string{in[1]}); err != nil {
		t.Fatal(err)
	}
	// Upload: an attachment first, then the client's edits.
	jpeg := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 100)
	up := fsMultipart(t, svcURL+"/uploads/upload", map[string]string{"f": "json", "description": "photo"}, "file", "site.jpg", jpeg)
	upID := up["item"].(map[string]any)["itemID"].(string)
	clientAdd := "{C1C1C1C1-0000-4000-8000-000000000001}"
	attGID := "{A77A77A7-0000-4000-8000-000000000001}"
	edits := []map[string]any{{"id": 0,
		"features": map[string]any{
			"adds":      []arcgis.Feature{{Attributes: map[string]any{"GlobalID": clientAdd, "Status": "open", "Priority": 2, "InspectionID": "CLIENT-1"}, Geometry: pt(-117.19, 34.02)}},
			"updates":   []arcgis.Feature{{Attributes: map[string]any{"GlobalID": in[2], "Status": "closed"}}},
			"deleteIds": []string{in[3]},
		},
		"attachments": map[string]any{"adds": []map[string]any{{"globalid": attGID, "parentGlobalid": clientAdd, "name": "site.jpg", "contentType": "image/jpeg", "uploadId": upID}}},
	}}
	d, raw := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(gens)}, "edits": {fsJSON(t, edits)}, "returnIdsForAdds": {"true"}})
	if d.ResponseType != responseEdits || len(d.LayerServerGens) != 4 {
		t.Fatalf("sync: %s", fsJSON(t, raw))
	}
	for _, g := range d.LayerServerGens {
		if g.ServerGen <= gens[0].ServerGen {
			t.Errorf("layer %d gen %d not advanced past %d", g.ID, g.ServerGen, gens[0].ServerGen)
		}
	}
	l0 := d.Edits[d.layer(t, 0)]
	if len(l0.AddResults) != 1 || !l0.AddResults[0].Success || l0.AddResults[0].GlobalID != clientAdd || l0.AddResults[0].ObjectID <= 200 {
		t.Errorf("addResults %+v", l0.AddResults)
	}
	if len(l0.UpdateResults) != 1 || !l0.UpdateResults[0].Success || len(l0.DeleteResults) != 1 || !l0.DeleteResults[0].Success {
		t.Errorf("update/delete results %+v %+v", l0.UpdateResults, l0.DeleteResults)
	}
	if len(l0.Attachments.AddResults) != 1 || !l0.Attachments.AddResults[0].Success {
		t.Errorf("attachment addResults %+v", l0.Attachments.AddResults)
	}
	// Download: exactly the other user's changes inside the replica.
	if got := gidsOf(l0.Features.Adds); !slices.Equal(got, []string{otherAdd}) {
		t.Errorf("downloaded adds %v, want only %s", got, otherAdd)
	}
	if got := gidsOf(l0.Features.Updates); !slices.Equal(got, []string{in[0]}) || l0.Features.Updates[0].Attributes["Notes"] != "changed by other" || l0.Features.Updates[0].Attributes["Editor"] != DemoEditor {
		t.Errorf("downloaded updates %v", l0.Features.Updates)
	}
	if !slices.Equal(l0.Features.DeleteIDs, []string{in[1]}) {
		t.Errorf("downloaded deletes %v, want %s", l0.Features.DeleteIDs, in[1])
	}
	if n := len(l0.Attachments.Adds); n != 0 {
		t.Errorf("own attachment came back: %v", l0.Attachments.Adds)
	}
	// Server state.
	if f, ok := env.em.Feature("Field_Survey", 0, clientAdd); !ok || f.Attributes["InspectionID"] != "CLIENT-1" || f.Attributes["Priority"] != int64(2) {
		t.Errorf("client add on server: %v %v", ok, f.Attributes)
	}
	if f, _ := env.em.Feature("Field_Survey", 0, in[2]); f.Attributes["Status"] != "closed" {
		t.Errorf("client update on server: %v", f.Attributes["Status"])
	}
	if _, ok := env.em.Feature("Field_Survey", 0, in[3]); ok {
		t.Errorf("client delete not applied")
	}
	if data, ok := env.em.AttachmentData("Field_Survey", 0, attGID); !ok || !bytes.Equal(data, jpeg) {
		t.Errorf("uploaded attachment: %v %d bytes", ok, len(data))
	}
	if atts := env.em.Attachments("Field_Survey", 0, clientAdd); len(atts) != 1 || atts[0].Name != "site.jpg" {
		t.Errorf("Attachments(clientAdd) = %+v", atts)
	}
	if n := env.em.FeatureCount("Field_Survey", 0); n != 200+2-1+1-1 {
		t.Errorf("FeatureCount = %d", n)
	}
	// A second sync with the new gens and nothing new: NoEdits.
	d2, _ := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(d.LayerServerGens)}})
	if d2.ResponseType != responseNoEdits {
		t.Errorf("second sync responseType %s", d2.ResponseType)
	}
	// Other user's attachment and a table row are downloaded next time.
	attOther, err := env.em.AddAttachment("Field_Survey", 0, in[0], "other.png", "image/png", []byte("png-bytes"))
	if err != nil {
		t.Fatal(err)
	}
	if err := env.em.EditFeatures("Field_Survey", 3, []arcgis.Feature{{Attributes: map[string]any{"InspectionGUID": in[0], "Note": "from the office"}}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	d3, _ := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(d2.LayerServerGens)}, "syncDirection": {"download"}})
	l0 = d3.Edits[d3.layer(t, 0)]
	if len(l0.Attachments.Adds) != 1 || l0.Attachments.Adds[0].GlobalID != attOther || l0.Attachments.Adds[0].ParentGlobalID != in[0] || !strings.HasPrefix(l0.Attachments.Adds[0].URL, env.url) {
		t.Errorf("downloaded attachment adds %+v", l0.Attachments.Adds)
	}
	l3 := d3.Edits[d3.layer(t, 3)]
	if len(l3.Features.Adds) != 1 || l3.Features.Adds[0].Attributes["Note"] != "from the office" {
		t.Errorf("table download %+v", l3.Features)
	}
	// Exactly once: re-sending the same add is rejected.
	_, raw4 := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(d3.LayerServerGens)},
		"edits": {fsJSON(t, []map[string]any{{"id": 0, "features": map[string]any{"adds": []arcgis.Feature{{Attributes: map[string]any{"GlobalID": clientAdd}, Geometry: pt(-117.19, 34.02)}}}}})}})
	if fsErrCode(raw4) != 400 || !strings.Contains(fsErrText(raw4), "already exists") {
		t.Errorf("duplicate add with rollback: %s", fsJSON(t, raw4))
	}
	d5, _ := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(d3.LayerServerGens)}, "rollbackOnFailure": {"false"},
		"edits": {fsJSON(t, []map[string]any{{"id": 0, "features": map[string]any{
			"adds":    []arcgis.Feature{{Attributes: map[string]any{"GlobalID": clientAdd}, Geometry: pt(-117.19, 34.02)}},
			"updates": []arcgis.Feature{{Attributes: map[string]any{"GlobalID": clientAdd, "Notes": "second visit"}}}}}})}})
	r5 := d5.Edits[d5.layer(t, 0)]
	if len(r5.AddResults) != 1 || r5.AddResults[0].Success || r5.AddResults[0].Error == nil || len(r5.UpdateResults) != 1 || !r5.UpdateResults[0].Success {
		t.Errorf("rollbackOnFailure=false results: %+v %+v", r5.AddResults, r5.UpdateResults)
	}
	if f, _ := env.em.Feature("Field_Survey", 0, clientAdd); f.Attributes["Notes"] != "second visit" {
		t.Errorf("good edit not applied with rollbackOnFailure=false")
	}
	if n := env.em.FeatureCount("Field_Survey", 0); n != 201 {
		t.Errorf("FeatureCount after duplicate add = %d", n)
	}
}

func TestSyncRollbackOnFailure(t *testing.T) {
	env := fsStart(t, nil)
	cr := fsPost(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{"syncModel": "perReplica"}))
	rid := cr["replicaID"].(string)
	gen := int64(cr["replicaServerGen"].(float64))
	in := aoiInspections(t, env)
	missing := "{DEADBEEF-0000-4000-8000-000000000000}"
	edits := fsJSON(t, []map[string]any{
		{"id": 0, "features": map[string]any{"updates": []arcgis.Feature{{Attributes: map[string]any{"GlobalID": in[0], "Notes": "good"}}}}},
		{"id": 2, "features": map[string]any{"deleteIds": []string{missing}}},
	})
	_, raw := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "replicaServerGen": {itoa(int(gen))}, "edits": {edits}, "rollbackOnFailure": {"true"}})
	if fsErrCode(raw) != 400 || !strings.Contains(fsErrText(raw), missing) {
		t.Fatalf("rollback sync: %s", fsJSON(t, raw))
	}
	if f, _ := env.em.Feature("Field_Survey", 0, in[0]); f.Attributes["Notes"] == "good" {
		t.Errorf("good edit applied despite rollback")
	}
	if info := fsGet(t, env.svc("Field_Survey")+"/replicas/"+rid, nil); int64(info["replicaServerGen"].(float64)) != gen {
		t.Errorf("failed sync advanced the replica gen")
	}
	d, _ := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "replicaServerGen": {itoa(int(gen))}, "edits": {edits}, "rollbackOnFailure": {"false"}})
	if d.ReplicaGen <= gen {
		t.Errorf("replicaServerGen %d not advanced", d.ReplicaGen)
	}
	l2 := d.Edits[d.layer(t, 2)]
	if len(l2.DeleteResults) != 1 || l2.DeleteResults[0].Success || l2.DeleteResults[0].Error.Code != editErrMissing {
		t.Errorf("bad delete result %+v", l2.DeleteResults)
	}
	if f, _ := env.em.Feature("Field_Survey", 0, in[0]); f.Attributes["Notes"] != "good" {
		t.Errorf("good edit not applied without rollback")
	}
}

func TestSyncDirectionsAndClose(t *testing.T) {
	env := fsStart(t, nil)
	svcURL := env.svc("Field_Survey")
	cr := fsPost(t, svcURL+"/createReplica", replicaForm(map[string]string{"syncModel": "perReplica", "syncDirection": "download"}))
	rid := cr["replicaID"].(string)
	gen := itoa(int(cr["replicaServerGen"].(float64)))
	in := aoiInspections(t, env)
	up := fsJSON(t, []map[string]any{{"id": 0, "features": map[string]any{"updates": []arcgis.Feature{{Attributes: map[string]any{"GlobalID": in[0], "Notes": "x"}}}}}})
	if _, raw := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "replicaServerGen": {gen}, "edits": {up}}); !strings.Contains(fsErrText(raw), "download-only") {
		t.Errorf("edits on a download replica: %s", fsJSON(t, raw))
	}
	// Upload-only keeps the generation; download picks up others' edits.
	cr2 := fsPost(t, svcURL+"/createReplica", replicaForm(map[string]string{"syncModel": "perReplica"}))
	rid2, gen2 := cr2["replicaID"].(string), int64(cr2["replicaServerGen"].(float64))
	if err := env.em.EditFeatures("Field_Survey", 1, nil, []arcgis.Feature{{Attributes: map[string]any{"OBJECTID": 1, "Status": "closed"}}}, nil); err != nil {
		t.Fatal(err)
	}
	d, _ := syncEmbedded(t, env, url.Values{"replicaID": {rid2}, "replicaServerGen": {itoa(int(gen2))}, "syncDirection": {"upload"}, "edits": {up}})
	if d.ReplicaGen != gen2 || d.Edits[d.layer(t, 0)].Features != nil {
		t.Errorf("upload-only sync: gen %d (want %d), features %v", d.ReplicaGen, gen2, d.Edits[0].Features)
	}
	d, _ = syncEmbedded(t, env, url.Values{"replicaID": {rid2}, "replicaServerGen": {itoa(int(gen2))}, "syncDirection": {"download"}})
	l1 := d.Edits[d.layer(t, 1)]
	l0 := d.Edits[d.layer(t, 0)]
	rp := fsGet(t, svcURL+"/1/query", url.Values{"objectIds": {"1"}, "geometry": {demoAOI}, "returnCountOnly": {"true"}})
	if want := int(rp["count"].(float64)); len(l1.Features.Updates) != want {
		t.Errorf("pipe 1 (in AOI: %d) updates %v", want, gidsOf(l1.Features.Updates))
	}
	if len(l0.Features.Updates) != 0 {
		t.Errorf("own upload came back in download: %v", gidsOf(l0.Features.Updates))
	}
	// closeReplica unregisters.
	syncEmbedded(t, env, url.Values{"replicaID": {rid2}, "replicaServerGen": {itoa(int(d.ReplicaGen))}, "closeReplica": {"true"}})
	for _, r := range env.em.Replicas("Field_Survey") {
		if r.ReplicaID == rid2 {
			t.Errorf("closeReplica left the replica registered")
		}
	}
	// Errors.
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{}, "replicaID"},
		{url.Values{"replicaID": {"{00000000-0000-4000-8000-000000000000}"}}, "does not exist"},
		{url.Values{"replicaID": {rid}, "syncDirection": {"sideways"}}, "syncDirection"},
		{url.Values{"replicaID": {rid}, "edits": {"[{"}}, "edits"},
		{url.Values{"replicaID": {rid}, "syncLayers": {`[{"id":9,"serverGen":1}]`}}, "layer 9"},
		{url.Values{"replicaID": {rid}, "dataFormat": {"sqlite"}}, "sqlite"},
	} {
		_, raw := syncEmbedded(t, env, c.form)
		if fsErrCode(raw) != 400 || !strings.Contains(fsErrText(raw), c.want) {
			t.Errorf("%v: want error with %q, got %s", c.form, c.want, fsJSON(t, raw))
		}
	}
	if r := fsPost(t, env.svc("Reference_Data")+"/synchronizeReplica", url.Values{"replicaID": {rid}}); fsErrCode(r) != 400 {
		t.Errorf("sync on a non-sync service: %v", r)
	}
}

func TestSyncAsyncAndURLTransport(t *testing.T) {
	env := fsStart(t, nil)
	svcURL := env.svc("Field_Survey")
	cr := fsPost(t, svcURL+"/createReplica", replicaForm(nil))
	rid := cr["replicaID"].(string)
	var gens []arcgis.ServerGen
	_ = jsonRoundTrip(cr["layerServerGens"], &gens)
	if err := env.em.EditFeatures("Field_Survey", 2, []arcgis.Feature{{Attributes: map[string]any{"ParcelID": "NEW"},
		Geometry: &arcgis.Geometry{Rings: [][][]float64{{{-117.20, 34.01}, {-117.20, 34.02}, {-117.19, 34.02}, {-117.20, 34.01}}}, SpatialReference: &arcgis.SpatialReference{WKID: 4326}}}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	r := fsPost(t, svcURL+"/synchronizeReplica", url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(gens)}, "async": {"true"}})
	seen, final := fsPoll(t, r["statusUrl"].(string))
	if !slices.Equal(seen, []string{"Pending", "ExportChanges", "Completed"}) || final["responseType"] != responseEdits || final["layerServerGens"] == nil {
		t.Fatalf("async sync: %v %v", seen, final)
	}
	req, _ := http.NewRequest(http.MethodGet, final["resultUrl"].(string), nil)
	_, b := fsDo(t, req)
	var d syncDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	l2 := d.Edits[d.layer(t, 2)]
	if len(l2.Features.Adds) != 1 || l2.Features.Adds[0].Attributes["ParcelID"] != "NEW" {
		t.Errorf("async result adds %+v", l2.Features)
	}
	// Default (URL) transport: responseUrl to the same document shape.
	r2 := fsPost(t, svcURL+"/synchronizeReplica", url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(d.LayerServerGens)}})
	if r2["responseType"] != responseNoEdits || r2["responseUrl"] == nil {
		t.Errorf("URL transport sync: %v", r2)
	}
	// Injected failure: nothing applied.
	env.em.SetFaults(Faults{FailJobs: true})
	in := aoiInspections(t, env)
	edits := fsJSON(t, []map[string]any{{"id": 0, "features": map[string]any{"deleteIds": []string{in[0]}}}})
	r3 := fsPost(t, svcURL+"/synchronizeReplica", url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(d.LayerServerGens)}, "async": {"true"}, "edits": {edits}})
	seen, final = fsPoll(t, r3["statusUrl"].(string))
	if seen[len(seen)-1] != "Failed" || final["error"] == nil {
		t.Errorf("failed sync job: %v", seen)
	}
	if _, ok := env.em.Feature("Field_Survey", 0, in[0]); !ok {
		t.Errorf("failed sync job applied its edits")
	}
	env.em.SetFaults(Faults{})
	// Attachment data embedded (returnAttachmentsDataByUrl=false).
	data := []byte("attachment-from-office")
	if _, err := env.em.AddAttachment("Field_Survey", 0, in[0], "memo.txt", "text/plain", data); err != nil {
		t.Fatal(err)
	}
	d4, _ := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "syncLayers": {syncLayersJSON(d.LayerServerGens)}, "returnAttachmentsDataByUrl": {"false"}})
	adds := d4.Edits[d4.layer(t, 0)].Attachments.Adds
	if len(adds) != 1 || adds[0].Data != base64.StdEncoding.EncodeToString(data) || adds[0].URL != "" {
		t.Errorf("embedded attachment download %+v", adds)
	}
}

// TestConcurrentEditsQueriesAndSyncs runs other users' edits, queries,
// replica downloads and syncs at the same time (meaningful under -race)
// and checks every edit landed exactly once.
func TestConcurrentEditsQueriesAndSyncs(t *testing.T) {
	env := fsStart(t, nil)
	svcURL := env.svc("Field_Survey")
	cr := fsPost(t, svcURL+"/createReplica", replicaForm(map[string]string{"syncModel": "perReplica"}))
	rid := cr["replicaID"].(string)
	gen := int64(cr["replicaServerGen"].(float64))
	const n = 20
	done := make(chan error, 3)
	go func() {
		for i := 0; i < n; i++ {
			gid := "{EEEEEEEE-0000-4000-8000-" + strings.Repeat("0", 10) + itoa(10+i) + "}"
			if err := env.em.EditFeatures("Field_Survey", 0, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": gid, "Status": "open"}, Geometry: pt(-117.19, 34.02)}}, nil, nil); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	go func() {
		for i := 0; i < n; i++ {
			q := fsGet(t, svcURL+"/0/query", url.Values{"where": {"Status = 'open'"}, "returnCountOnly": {"true"}})
			if q["count"] == nil {
				done <- errString("query failed: " + fsJSON(t, q))
				return
			}
		}
		done <- nil
	}()
	go func() {
		for i := 0; i < n/2; i++ {
			gid := "{DDDDDDDD-0000-4000-8000-" + strings.Repeat("0", 10) + itoa(10+i) + "}"
			edits := fsJSON(t, []map[string]any{{"id": 0, "features": map[string]any{"adds": []arcgis.Feature{{Attributes: map[string]any{"GlobalID": gid}, Geometry: pt(-117.19, 34.02)}}}}})
			b := fsPostRaw(t, svcURL+"/synchronizeReplica", url.Values{"replicaID": {rid}, "replicaServerGen": {itoa(int(gen))},
				"syncDirection": {"upload"}, "edits": {edits}, "transportType": {"esriTransportTypeEmbedded"}})
			if !bytes.Contains(b, []byte(`"success":true`)) {
				done <- errString("sync failed: " + string(b))
				return
			}
		}
		done <- nil
	}()
	for i := 0; i < 3; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if c := env.em.FeatureCount("Field_Survey", 0); c != 200+n+n/2 {
		t.Errorf("count %d, want %d", c, 200+n+n/2)
	}
	d, _ := syncEmbedded(t, env, url.Values{"replicaID": {rid}, "replicaServerGen": {itoa(int(gen))}, "syncDirection": {"download"}})
	adds := gidsOf(d.Edits[d.layer(t, 0)].Features.Adds)
	if len(adds) != n {
		t.Errorf("downloaded %d adds, want the other user's %d only", len(adds), n)
	}
	for _, g := range adds {
		if !strings.HasPrefix(g, "{EEEEEEEE") {
			t.Errorf("own upload %s downloaded", g)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }
