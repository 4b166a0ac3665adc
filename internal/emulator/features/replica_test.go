package features

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// replicaDoc is a decoded JSON replica document.
type replicaDoc struct {
	ReplicaName     string             `json:"replicaName"`
	ReplicaID       string             `json:"replicaID"`
	TransportType   string             `json:"transportType"`
	ResponseType    string             `json:"responseType"`
	ReplicaGen      int64              `json:"replicaServerGen"`
	LayerServerGens []arcgis.ServerGen `json:"layerServerGens"`
	Layers          []arcgis.ReplicaLayerData
}

func (d replicaDoc) layer(id int) arcgis.ReplicaLayerData {
	for _, l := range d.Layers {
		if l.ID == id {
			return l
		}
	}
	return arcgis.ReplicaLayerData{ID: -1}
}

func decodeReplica(t testing.TB, b []byte) replicaDoc {
	t.Helper()
	var d replicaDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("replica document: %v: %.300s", err, b)
	}
	return d
}

// demoAOI is a sub-area of the demo area (WGS84).
const demoAOI = `{"xmin":-117.22,"ymin":34.00,"xmax":-117.14,"ymax":34.07,"spatialReference":{"wkid":4326}}`

func replicaForm(extra map[string]string) url.Values {
	f := url.Values{"layers": {"0,1,2,3"}, "geometry": {demoAOI}, "geometryType": {"esriGeometryEnvelope"}, "inSR": {"4326"},
		"syncModel": {"perLayer"}, "returnAttachments": {"true"}}
	for k, v := range extra {
		f.Set(k, v)
	}
	return f
}

func TestCreateReplicaEmbeddedFilters(t *testing.T) {
	env := fsStart(t, nil)
	lq := `{"0":{"queryOption":"useFilter","where":"Status = 'open'","useGeometry":true,"includeRelated":true},"1":{"queryOption":"none"},"2":{"queryOption":"all"},"3":{"queryOption":"useFilter","includeRelated":true}}`
	b := fsPostRaw(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{
		"replicaName": "field1", "layerQueries": lq, "transportType": "esriTransportTypeEmbedded", "returnAttachmentsDataByUrl": "false",
		"replicaSR": "4326",
	}))
	doc := decodeReplica(t, b)
	if doc.ReplicaName != "field1" || doc.ReplicaID == "" || doc.TransportType != transportEmbedded || doc.ResponseType != responseData {
		t.Fatalf("header: %+v", doc)
	}
	if len(doc.LayerServerGens) != 4 || doc.LayerServerGens[0].ServerGen <= 0 {
		t.Errorf("layerServerGens %v", doc.LayerServerGens)
	}
	// Layer 0: exactly the features the equivalent query returns.
	q := fsGet(t, env.svc("Field_Survey")+"/0/query", url.Values{"where": {"Status = 'open'"}, "geometry": {demoAOI}, "returnIdsOnly": {"true"}})
	want := q["objectIds"].([]any)
	l0 := doc.layer(0)
	if len(l0.Features) != len(want) || len(want) == 0 {
		t.Fatalf("layer 0: %d features, query says %d", len(l0.Features), len(want))
	}
	parents := map[string]bool{}
	for _, f := range l0.Features {
		if f.Attributes["Status"] != "open" {
			t.Errorf("feature violates where: %v", f.Attributes)
		}
		if *f.Geometry.X < -117.22 || *f.Geometry.X > -117.14 { // replicaSR 4326
			t.Errorf("x %v not in WGS84 AOI", *f.Geometry.X)
		}
		parents[f.Attributes["GlobalID"].(string)] = true
	}
	if n := len(doc.layer(1).Features); n != 0 {
		t.Errorf("queryOption none: %d features", n)
	}
	if n := len(doc.layer(2).Features); n != 40 {
		t.Errorf("queryOption all: %d features, want 40", n)
	}
	rows := doc.layer(3).Features
	if len(rows) == 0 || len(rows) >= 100 {
		t.Errorf("related table rows: %d", len(rows))
	}
	for _, r := range rows {
		if !parents[r.Attributes["InspectionGUID"].(string)] {
			t.Errorf("table row %v not related to a replicated inspection", r.Attributes["OBJECTID"])
		}
	}
	// Attachments embedded as base64 images of the declared size.
	atts := l0.Attachments
	if len(atts) == 0 {
		t.Fatal("no attachments")
	}
	for _, a := range atts {
		if !parents[a.ParentGlobalID] || a.URL != "" || a.GlobalID == "" {
			t.Errorf("attachment %+v", a)
		}
		data, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil || int64(len(data)) != a.Size {
			t.Fatalf("attachment data: %v, %d bytes vs size %d", err, len(data), a.Size)
		}
		if _, format, err := image.Decode(bytes.NewReader(data)); err != nil || !strings.Contains(a.ContentType, format) {
			t.Errorf("attachment %s is not a %s image: %v", a.Name, a.ContentType, err)
		}
	}
	// Registered: list, info (fixture key set), Go API.
	list := fsGetArr(t, env.svc("Field_Survey")+"/replicas")
	if len(list) != 1 || list[0]["replicaID"] != doc.ReplicaID || list[0]["replicaName"] != "field1" {
		t.Errorf("replicas: %v", list)
	}
	info := fsGet(t, env.svc("Field_Survey")+"/replicas/"+doc.ReplicaID, nil)
	fx := fsFixture(t, "replica-info.gis-maine-gov.json")
	if got, want := fsKeys(info), fsKeys(fx); !slices.Equal(got, want) {
		t.Errorf("replica info keys\n got %v\nwant %v", got, want)
	}
	if info["syncModel"] != "perLayer" || info["attachmentsSyncDirection"] != "bidirectional" || len(info["layers"].([]any)) != 4 {
		t.Errorf("replica info: %v", info)
	}
	lay0 := info["layers"].([]any)[0].(map[string]any)
	if got, want := fsKeys(lay0), fsKeys(fx["layers"].([]any)[0].(map[string]any)); !slices.Equal(got, want) || lay0["where"] != "Status = 'open'" {
		t.Errorf("replica info layer: %v", lay0)
	}
	reps := env.em.Replicas("Field_Survey")
	if len(reps) != 1 || reps[0].ReplicaID != doc.ReplicaID || len(reps[0].LayerServerGens) != 4 {
		t.Errorf("Go Replicas: %+v", reps)
	}
	// Same name again gets a suffix.
	d2 := decodeReplica(t, fsPostRaw(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{"replicaName": "field1", "transportType": "esriTransportTypeEmbedded"})))
	if d2.ReplicaName == "field1" || !strings.HasPrefix(d2.ReplicaName, "field1_") {
		t.Errorf("duplicate replica name %q", d2.ReplicaName)
	}
	// Unregister.
	if r := fsPost(t, env.svc("Field_Survey")+"/unRegisterReplica", url.Values{"replicaID": {doc.ReplicaID}}); r["success"] != true {
		t.Errorf("unRegisterReplica: %v", r)
	}
	if r := fsPost(t, env.svc("Field_Survey")+"/unRegisterReplica", url.Values{"replicaID": {doc.ReplicaID}}); fsErrCode(r) == 0 {
		t.Errorf("second unRegisterReplica succeeded: %v", r)
	}
	if info := fsGet(t, env.svc("Field_Survey")+"/replicas/"+doc.ReplicaID, nil); fsErrCode(info) != 404 {
		t.Errorf("info after unregister: %v", info)
	}
	if n := len(env.em.Replicas("Field_Survey")); n != 1 {
		t.Errorf("%d replicas left, want 1", n)
	}
}

func fsGetArr(t testing.TB, u string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u+"?f=json", nil)
	_, b := fsDo(t, req)
	var out []map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
	return out
}

func TestCreateReplicaURLTransportAndAttachmentURLs(t *testing.T) {
	env := fsStart(t, nil)
	r := fsPost(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{"syncModel": "perReplica", "layers": "[0]"}))
	if r["transportType"] != transportURL || r["replicaServerGen"] == nil || r["responseUrl"] == nil {
		t.Fatalf("URL transport response: %v", r)
	}
	req, _ := http.NewRequest(http.MethodGet, r["responseUrl"].(string), nil)
	resp, b := fsDo(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("download: %d", resp.StatusCode)
	}
	doc := decodeReplica(t, b)
	if doc.ReplicaGen != int64(r["replicaServerGen"].(float64)) || len(doc.Layers) != 1 {
		t.Errorf("file header %+v", doc)
	}
	atts := doc.layer(0).Attachments
	if len(atts) == 0 {
		t.Fatal("no attachments")
	}
	a := atts[0]
	if !strings.HasPrefix(a.URL, env.url) || a.Data != "" {
		t.Fatalf("attachment by URL: %+v", a)
	}
	req, _ = http.NewRequest(http.MethodGet, a.URL, nil)
	resp, data := fsDo(t, req)
	if int64(len(data)) != a.Size || resp.Header.Get("Content-Type") != a.ContentType || resp.Header.Get("Content-Length") != strconv.FormatInt(a.Size, 10) {
		t.Errorf("attachment download: %d bytes %q (want %d %q)", len(data), resp.Header.Get("Content-Type"), a.Size, a.ContentType)
	}
	req, _ = http.NewRequest(http.MethodGet, a.URL, nil)
	req.Header.Set("Range", "bytes=2-9")
	resp, part := fsDo(t, req)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(part, data[2:10]) {
		t.Errorf("range: %d %x", resp.StatusCode, part)
	}
}

func TestCreateReplicaAsyncStatuses(t *testing.T) {
	env := fsStart(t, nil)
	r := fsPost(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{"async": "true", "replicaName": "async1"}))
	su, _ := r["statusUrl"].(string)
	if !strings.HasPrefix(su, env.svc("Field_Survey")+"/jobs/") {
		t.Fatalf("statusUrl %v", r)
	}
	seen, final := fsPoll(t, su)
	if !slices.Equal(seen, []string{"Pending", "ExportingData", "Completed"}) {
		t.Errorf("statuses %v", seen)
	}
	for _, k := range []string{"replicaName", "replicaID", "layerServerGens", "resultUrl", "submissionTime", "lastUpdatedTime", "status", "responseType", "transportType"} {
		if _, ok := final[k]; !ok {
			t.Errorf("completed status lacks %s: %v", k, fsKeys(final))
		}
	}
	if final["lastUpdatedTime"].(float64) < final["submissionTime"].(float64) {
		t.Errorf("lastUpdatedTime before submissionTime")
	}
	req, _ := http.NewRequest(http.MethodGet, final["resultUrl"].(string), nil)
	_, b := fsDo(t, req)
	doc := decodeReplica(t, b)
	if doc.ReplicaID != final["replicaID"] || len(doc.Layers) != 4 || len(doc.layer(0).Features) == 0 {
		t.Errorf("async result: %s, %d layers", doc.ReplicaID, len(doc.Layers))
	}
	// Slower jobs go through InProgress.
	svc := DemoFeatureService()
	svc.JobPolls = 4
	env2 := fsStart(t, []FeatureServiceOptions{svc})
	r2 := fsPost(t, env2.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{"async": "true"}))
	if seen, _ := fsPoll(t, r2["statusUrl"].(string)); !slices.Equal(seen, []string{"Pending", "InProgress", "InProgress", "ExportingData", "Completed"}) {
		t.Errorf("JobPolls=4 statuses %v", seen)
	}
	// Injected failure: Failed, replica not registered.
	env.em.SetFaults(Faults{FailJobs: true})
	r3 := fsPost(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{"async": "true", "replicaName": "doomed"}))
	seen, final = fsPoll(t, r3["statusUrl"].(string))
	if seen[len(seen)-1] != "Failed" || final["error"] == nil || final["resultUrl"] != nil {
		t.Errorf("failed job: %v %v", seen, final)
	}
	for _, rp := range env.em.Replicas("Field_Survey") {
		if rp.ReplicaName == "doomed" {
			t.Errorf("failed job registered its replica")
		}
	}
	env.em.SetFaults(Faults{})
}

func TestCreateReplicaErrors(t *testing.T) {
	perReplicaOnly := DemoFeatureService()
	perReplicaOnly.Name, perReplicaOnly.SyncPerLayer, perReplicaOnly.SyncAsync = "OnlyReplica", false, false
	env := fsStart(t, []FeatureServiceOptions{DemoFeatureService(), ReferenceDataService(), perReplicaOnly})
	cases := []struct {
		svc   string
		extra map[string]string
		want  string
	}{
		{"Reference_Data", map[string]string{"layers": "0"}, "Sync"},
		{"Field_Survey", map[string]string{"dataFormat": "sqlite"}, "sqlite"},
		{"Field_Survey", map[string]string{"syncModel": "weird"}, "syncModel"},
		{"OnlyReplica", map[string]string{"syncModel": "perLayer"}, "perLayer"},
		{"OnlyReplica", map[string]string{"syncModel": "perReplica", "async": "true"}, "async"},
		{"Field_Survey", map[string]string{"attachmentsSyncDirection": "none"}, "attachmentsSyncDirection"},
		{"Field_Survey", map[string]string{"returnAttachments": "false", "attachmentsSyncDirection": "bidirectional"}, "attachmentsSyncDirection"},
		{"Field_Survey", map[string]string{"layers": "0,9"}, "layer 9"},
		{"Field_Survey", map[string]string{"layerQueries": `{"0":{"where":"Nope = 1"}}`}, "where"},
		{"Field_Survey", map[string]string{"layerQueries": `{"0":{"queryOption":"some"}}`}, "queryOption"},
		{"Field_Survey", map[string]string{"layerQueries": `{"7":{"queryOption":"all"}}`}, "layerQueries"},
		{"Field_Survey", map[string]string{"geometry": ""}, "geometry"},
		{"Field_Survey", map[string]string{"geometry": "1,2,3"}, "geometry"},
		{"Field_Survey", map[string]string{"replicaSR": "2154"}, "replicaSR"},
		{"Field_Survey", map[string]string{"transportType": "esriTransportTypeCarrierPigeon"}, "transportType"},
		{"Field_Survey", map[string]string{"replicaOptions": `{"refReplicaId":"x"}`}, "existing data"},
		{"Field_Survey", map[string]string{"targetType": "server"}, "targetType"},
	}
	for _, c := range cases {
		body := fsPost(t, env.svc(c.svc)+"/createReplica", replicaForm(c.extra))
		if fsErrCode(body) != 400 || !strings.Contains(fsErrText(body), c.want) {
			t.Errorf("%s %v: want error mentioning %q, got %s", c.svc, c.extra, c.want, fsJSON(t, body))
		}
	}
	if n := len(env.em.Replicas("Field_Survey")); n != 0 {
		t.Errorf("failed requests registered %d replicas", n)
	}
	// syncModel none: data but no registered replica, geometry optional.
	none := decodeReplica(t, fsPostRaw(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{
		"syncModel": "none", "geometry": "", "transportType": "esriTransportTypeEmbedded", "layers": "2"})))
	if none.ReplicaID != "" || len(none.layer(2).Features) != 40 || none.LayerServerGens != nil {
		t.Errorf("syncModel none: %+v", none)
	}
	if n := len(env.em.Replicas("Field_Survey")); n != 0 {
		t.Errorf("syncModel none registered a replica")
	}
	// replicaOptions syncDataOptions is kept.
	ok := fsPost(t, env.svc("Field_Survey")+"/createReplica", replicaForm(map[string]string{"replicaOptions": `{"syncDataOptions":4}`}))
	info := fsGet(t, env.svc("Field_Survey")+"/replicas/"+ok["replicaID"].(string), nil)
	if info["syncDataOptions"] != 4.0 {
		t.Errorf("syncDataOptions %v", info["syncDataOptions"])
	}
}

// TestReplicaStreamFlatMemory streams a replica of many generated points
// and checks the heap stays flat. OFFLINED_EMULATOR_BIG=1 uses 1,000,000
// features (default 20,000).
func TestReplicaStreamFlatMemory(t *testing.T) {
	n := 20000
	if os.Getenv("OFFLINED_EMULATOR_BIG") == "1" {
		n = 1000000
	}
	svc := DemoFeatureService()
	svc.Layers = []LayerOptions{{ID: 0, Name: "Inspections", GeometryType: arcgis.GeometryPoint, Count: n, HasAttachments: true}}
	env := fsStart(t, []FeatureServiceOptions{svc})
	r := fsPost(t, env.svc("Field_Survey")+"/createReplica", url.Values{"layers": {"0"}, "geometry": {demoAOI}, "inSR": {"4326"},
		"layerQueries": {`{"0":{"queryOption":"all"}}`}, "syncModel": {"perReplica"}})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseline := ms.HeapInuse
	resp, err := http.Get(r["responseUrl"].(string))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	// Walk to layers[0].features and count features one by one.
	count, peak := 0, uint64(0)
	depth := 0
	inFeatures := false
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
			} else {
				depth--
			}
		case string:
			if v == "features" && depth == 3 {
				inFeatures = true
				if _, err := dec.Token(); err != nil { // [
					t.Fatal(err)
				}
				for dec.More() {
					var f arcgis.Feature
					if err := dec.Decode(&f); err != nil {
						t.Fatal(err)
					}
					count++
					if count%5000 == 0 {
						runtime.ReadMemStats(&ms)
						peak = max(peak, ms.HeapInuse)
					}
				}
				if _, err := dec.Token(); err != nil { // ]
					t.Fatal(err)
				}
			}
		}
	}
	if !inFeatures || count != n {
		t.Fatalf("streamed %d features, want %d", count, n)
	}
	growth := int64(peak) - int64(baseline)
	t.Logf("%d features, heap in use grew by %d KiB", n, growth>>10)
	if growth > 64<<20 {
		t.Errorf("heap grew by %d MiB while streaming %d features", growth>>20, n)
	}
}
