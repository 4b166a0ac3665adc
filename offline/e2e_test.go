package offline

import (
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline/offlinetest/democlient"
)

// *arcgis.Client is the production Portal and Services.
var (
	_ Portal   = (*arcgis.Client)(nil)
	_ Services = (*arcgis.Client)(nil)
)

// These tests drive the task through the real REST client against the
// in-process emulator: the portal item, the services, and one createReplica
// built from the overrides.

func emulatorClient(t *testing.T) (*emulatortest.Server, *arcgis.Client) {
	t.Helper()
	tiles := emulator.DemoTileOptions()
	tiles.WorkDir = t.TempDir()
	em := emulatortest.Start(t, emulator.Options{Tiles: tiles})
	return em, democlient.New(t, em.PortalURL)
}

// emulatorTask starts the emulator (see emulatorClient) and loads the demo
// Field Survey web map; ctx ends after 30 s or with the test.
func emulatorTask(t *testing.T) (context.Context, *emulatortest.Server, *arcgis.Client, *Task) {
	t.Helper()
	em, c := emulatorClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	task, err := NewTask(ctx, Source{PortalURL: em.PortalURL, ItemID: emulator.DemoWebMapFieldSurveyID}, c, c)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, em, c, task
}

func TestEmulatorFieldSurvey(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator end-to-end")
	}
	ctx, em, c, task := emulatorTask(t)
	if task.Item == nil || task.Item.Title != "Field Survey" {
		t.Fatalf("item %+v", task.Item)
	}
	p := mustDefaults(ctx, t, task, demoArea(), 150000, 5000)
	caps := mustCaps(ctx, t, task, p)
	svc := em.ServicesURL
	want := map[Key]Method{
		LayerKey(svc+"/Field_Survey/FeatureServer", 0):    MethodReplica,
		LayerKey(svc+"/Field_Survey/FeatureServer", 1):    MethodReplica,
		LayerKey(svc+"/Field_Survey/FeatureServer", 2):    MethodReplica,
		LayerKey(svc+"/Field_Survey/FeatureServer", 3):    MethodReplica,
		LayerKey(svc+"/Reference_Data/FeatureServer", 0):  MethodSnapshot,
		ServiceKey(svc + "/Dynamic_Layers/MapServer"):     MethodNone,
		ServiceKey(svc + "/Demo_Basemap/MapServer"):       MethodRasterTiles,
		ServiceKey(svc + "/Demo_Vector/VectorTileServer"): MethodVectorTiles,
	}
	for k, m := range want {
		c := caps.Get(k)
		if c == nil || c.Method != m {
			b, _ := json.MarshalIndent(caps, "", " ")
			t.Fatalf("%s: %+v, want %s\n%s", k, c, m, b)
		}
	}
	if c := caps.Get(LayerKey(svc+"/Field_Survey/FeatureServer", 0)); !c.Editable || !c.HasAttachments {
		t.Errorf("inspections should be editable with attachments: %+v", c)
	}
	if c := caps.Get(LayerKey(svc+"/Reference_Data/FeatureServer", 0)); c.Reason != ReasonSyncNotEnabled || c.Error {
		t.Errorf("zones: %+v", c)
	}
	if !caps.HasErrors { // dynamic map service and WMS are left out (exclude)
		t.Errorf("hasErrors false")
	}

	ov := mustOverrides(ctx, t, task, p)
	if err := task.Validate(ctx, p, ov, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	g := ov.GenerateGeodatabase[ServiceKey(svc+"/Field_Survey/FeatureServer")]
	if g == nil || !reflect.DeepEqual(g.LayerIDs(), []int{0, 1, 2, 3}) {
		t.Fatalf("field survey replica: %+v", g)
	}
	if o := g.LayerOption(1); o.WhereClause != "Status <> 'closed'" {
		t.Errorf("pipes where %q", o.WhereClause)
	}
	if et := ov.ExportTileCache[ServiceKey(svc+"/Demo_Basemap/MapServer")]; et == nil || LevelRanges(et.LevelIDs) != "12-16" {
		t.Errorf("basemap export %+v", et)
	}

	// The replica the overrides describe, sent by the client: the emulator
	// receives exactly CreateReplicaRequest's values and completes the job.
	want2, err := CreateReplicaRequest(g, ReplicaRequestOptions{ReplicaName: "offline-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := ReplicaParams(g, ReplicaRequestOptions{ReplicaName: "offline-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	resp := sentAsWanted(t, em, "createReplica", want2, func() (*arcgis.ReplicaResponse, error) {
		return c.CreateReplica(ctx, g.ServiceURL, *rp)
	})
	if resp.StatusURL == "" && resp.Replica == nil {
		t.Fatalf("no status URL or replica: %s", resp.Raw)
	}
	replicaID := ""
	if resp.StatusURL != "" {
		st, err := c.WaitReplicaJob(ctx, resp.StatusURL, 2*time.Millisecond, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.EqualFold(st.Status, "Completed") || st.ResultURL == "" || len(st.LayerServerGens) == 0 {
			t.Fatalf("replica job %+v", st)
		}
		replicaID = st.ReplicaID
	} else {
		replicaID = resp.Replica.ReplicaID
	}
	if replicaID == "" {
		t.Fatal("no replica id")
	}
	if err := c.UnregisterReplica(ctx, g.ServiceURL, replicaID); err != nil {
		t.Errorf("unregister: %v", err)
	}

	// The read-only snapshot's query is accepted as built.
	zones := ov.GenerateGeodatabase[ServiceKey(svc+"/Reference_Data/FeatureServer")]
	q, ok, err := QueryRequest(zones, 0)
	if err != nil || !ok {
		t.Fatal(err)
	}
	q.Set("returnCountOnly", "true")
	raw, err := c.RawQuery(ctx, zones.ServiceURL+"/0", q)
	if err != nil {
		t.Fatal(err)
	}
	var count struct{ Count int }
	if err := json.Unmarshal(raw, &count); err != nil || count.Count == 0 {
		t.Errorf("snapshot query count: %s %v", raw, err)
	}
	qp, ok, err := SnapshotQueryParams(zones, 0)
	if err != nil || !ok {
		t.Fatal(err)
	}
	got := 0
	if err := c.QueryAll(ctx, zones.ServiceURL+"/0", nil, qp, func(fs *arcgis.FeatureSet) error {
		got += len(fs.Features)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got != count.Count {
		t.Errorf("snapshot read %d features, the server counts %d", got, count.Count)
	}
}

func TestEmulatorExportTiles(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator end-to-end")
	}
	ctx, em, c, task := emulatorTask(t)
	// A small area and two levels keep the export quick.
	area := wgs84Box(-117.20, 34.00, -117.18, 34.02)
	p := mustDefaults(ctx, t, task, area, 80000, 30000)
	ov := mustOverrides(ctx, t, task, p)
	et := ov.ExportTileCache[ServiceKey(em.ServicesURL+"/Demo_Basemap/MapServer")]
	if et == nil || LevelRanges(et.LevelIDs) != "13-14" {
		t.Fatalf("export parameters %+v", et)
	}
	want, err := ExportTilesRequest(et)
	if err != nil {
		t.Fatal(err)
	}
	params, err := ExportTilesParams(et)
	if err != nil {
		t.Fatal(err)
	}
	sub := sentAsWanted(t, em, "exportTiles", want, func() (*arcgis.JobSubmission, error) {
		return c.ExportTiles(ctx, et.ServiceURL, *params)
	})
	st, err := c.WaitJob(ctx, sub.JobURL, 2*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.JobStatus != "esriJobSucceeded" {
		t.Errorf("export job %+v", st)
	}
}

// sentAsWanted returns what send (a call to operation op) returns and
// checks that the emulator got one op request carrying want's parameters.
func sentAsWanted[R any](t *testing.T, em *emulatortest.Server, op string, want url.Values, send func() (R, error)) R {
	t.Helper()
	em.Log().Reset()
	r, err := send()
	if err != nil {
		t.Fatal(err)
	}
	sent := em.Log().Matching("/" + op)
	if len(sent) != 1 {
		t.Fatalf("%d %s requests", len(sent), op)
	}
	for k := range want {
		if !sameParam(want.Get(k), sent[0].Query.Get(k)) {
			t.Errorf("%s %s: sent %q, want %q", op, k, sent[0].Query.Get(k), want.Get(k))
		}
	}
	return r
}

// sameParam compares two form values, as JSON when both are JSON.
func sameParam(a, b string) bool {
	if a == b {
		return true
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestEmulatorDuplicateLayersOneReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator end-to-end")
	}
	em, c := emulatorClient(t)
	ctx := context.Background()
	task, err := NewTask(ctx, Source{PortalURL: em.PortalURL, ItemID: emulator.DemoWebMapDuplicateLayersID}, c, c)
	if err != nil {
		t.Fatal(err)
	}
	p := mustDefaults(ctx, t, task, demoArea(), 0, 0)
	ov := mustOverrides(ctx, t, task, p)
	if len(ov.GenerateGeodatabase) != 1 {
		t.Fatalf("%d replicas, want one for the shared service", len(ov.GenerateGeodatabase))
	}
	for _, g := range ov.GenerateGeodatabase {
		if o := g.LayerOption(0); o == nil || o.WhereClause != "(Status = 'open') OR (Priority >= 4)" {
			t.Errorf("inspections option %+v", o)
		}
		if g.ReturnAttachments { // download "features": no attachments for editable layers
			t.Errorf("returnAttachments true")
		}
	}
	if n := em.Log().Count("/Field_Survey/FeatureServer/0"); n != 1 {
		t.Errorf("inspections layer fetched %d times", n)
	}
}
