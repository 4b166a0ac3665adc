package localapi

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/testutil"
	editsync "github.com/offlined/offlined/sync"
)

// TestEditPhotoSyncOverHTTP: a field app adds a feature and a photo through
// the API, syncs, and the server has both.
func TestEditPhotoSyncOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{withSyncer: true, fresh: true})
	base := "/api/v1/maps/demo/layers/0/features"
	add := `{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.15,34.02]},"properties":{"InspectionID":"SYNC-1","Status":"open","Priority":1}}`
	gid := e.jsonOf(e.do("POST", base, strings.NewReader(add)), 201)["globalId"].(string)
	photo := bytes.Repeat([]byte("JPEGDATA"), 4096)
	e.jsonOf(e.do("POST", base+"/"+url.PathEscape(gid)+"/attachments?name=site.jpg", bytes.NewReader(photo), "Content-Type", "image/jpeg"), 201)
	st := e.jsonOf(e.do("GET", "/api/v1/maps/demo/sync", nil), 200)
	if st["services"].(map[string]any)[svcName].(map[string]any)["pendingEdits"].(float64) == 0 {
		t.Fatalf("no pending edits before sync: %v", st)
	}
	res := e.jsonOf(e.do("POST", "/api/v1/maps/demo/sync", nil), 200)
	sv := res["services"].([]any)[0].(map[string]any)
	if sv["error"] != nil {
		t.Fatalf("sync failed: %v", sv["error"])
	}
	rep := sv["report"].(map[string]any)
	if rep["uploaded"].(float64) < 1 || rep["attachmentsSent"].(float64) != 1 {
		t.Fatalf("report %v", rep)
	}
	// The server has the feature and the photo.
	ctx := t.Context()
	layerURL := arcgis.LayerURL(e.svcURL, 0)
	fs, err := e.client.Query(ctx, layerURL, arcgis.QueryParams{Where: "InspectionID = 'SYNC-1'", OutFields: []string{"*"}})
	if err != nil || len(fs.Features) != 1 {
		t.Fatalf("server query: %v %v", fs, err)
	}
	oid := int64(fs.Features[0].Attributes["OBJECTID"].(float64))
	atts, err := e.client.Attachments(ctx, layerURL, oid)
	if err != nil || len(atts) != 1 || atts[0].Name != "site.jpg" || atts[0].Size != int64(len(photo)) {
		t.Fatalf("server attachments %+v %v", atts, err)
	}
	st = e.jsonOf(e.do("GET", "/api/v1/maps/demo/sync", nil), 200)
	s := st["services"].(map[string]any)[svcName].(map[string]any)
	if s["pendingEdits"].(float64) != 0 || s["state"] != "idle" {
		t.Fatalf("status after sync %v", s)
	}
	// Events of the sync were published.
	evs := readSSEUntil(t, e.do("GET", "/api/v1/maps/demo/sync/events", nil).Body, "finished")
	if len(evs) < 3 || evs[0].typ != "started" || evs[1].typ != "progress" || evs[len(evs)-1].typ != "finished" {
		t.Fatalf("sync events %+v", evs)
	}
	// Conflicts list (none) and bad inputs.
	c := e.jsonOf(e.do("GET", "/api/v1/maps/demo/conflicts", nil), 200)
	if len(c["conflicts"].([]any)) != 0 {
		t.Fatalf("conflicts %v", c)
	}
	e.wantError(e.do("POST", "/api/v1/maps/demo/conflicts/Field_Survey:99/resolve", strings.NewReader(`{"choice":"device"}`)), 404, "conflict")
	e.wantError(e.do("POST", "/api/v1/maps/demo/conflicts/Field_Survey:1/resolve", strings.NewReader(`{"choice":"maybe"}`)), 400, "choice")
	e.wantError(e.do("POST", "/api/v1/maps/demo/conflicts/bad/resolve", strings.NewReader(`{"choice":"device"}`)), 404, "conflict")
	e.wantError(e.do("POST", "/api/v1/maps/demo/sync?wait=perhaps", nil), 400, "wait")
	e.wantError(e.do("POST", "/api/v1/maps/nope/sync", nil), 404, "map")
	e.wantError(e.do("GET", "/api/v1/maps/nope/conflicts", nil), 404, "map")
	a := e.jsonOf(e.do("POST", "/api/v1/maps/demo/sync?wait=false", nil), 202)
	if a["started"] != true {
		t.Fatalf("background sync %v", a)
	}
}

// TestConflictHeldAndResolved: with the fieldMerge policy a field changed on
// both sides is held for review; the API lists it and resolves it.
func TestConflictHeldAndResolved(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{withSyncer: true, fresh: true})
	ctx := t.Context()
	db, _ := e.reg.FeatureStore(ctx, "demo", svcName)
	editSyncConfig(t, db, func(c *editsync.Config) { c.Policy = "fieldMerge" })
	gid, oid := e.firstFeature()
	// Server edit.
	layerURL := arcgis.LayerURL(e.svcURL, 0)
	if _, err := e.client.ApplyEdits(ctx, layerURL, arcgis.ApplyEditsParams{Updates: []arcgis.Feature{{Attributes: map[string]any{"OBJECTID": oid, "Notes": "server"}}}}); err != nil {
		t.Fatal(err)
	}
	// Local edit of the same field.
	e.deviceEdit(gid, "Notes", "device")
	e.jsonOf(e.do("POST", "/api/v1/maps/demo/sync", nil), 200)
	c := e.jsonOf(e.do("GET", "/api/v1/maps/demo/conflicts?resolution=pending", nil), 200)
	list := c["conflicts"].([]any)
	if len(list) != 1 {
		t.Fatalf("pending conflicts %v", c)
	}
	id := list[0].(map[string]any)["id"].(string)
	e.jsonOf(e.do("POST", "/api/v1/maps/demo/conflicts/"+id+"/resolve", strings.NewReader(`{"choice":"device"}`)), 200)
	e.wantError(e.do("POST", "/api/v1/maps/demo/conflicts/"+id+"/resolve", strings.NewReader(`{"choice":"server"}`)), 409, "conflict")
	e.jsonOf(e.do("POST", "/api/v1/maps/demo/sync", nil), 200)
	fs, err := e.client.Query(ctx, layerURL, arcgis.QueryParams{ObjectIDs: []int64{oid}, OutFields: []string{"Notes"}})
	if err != nil || len(fs.Features) != 1 || fs.Features[0].Attributes["Notes"] != "device" {
		t.Fatalf("server after resolving for the device: %+v %v", fs, err)
	}
}

func TestDeleteMapUnregistersReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{fresh: true})
	ctx := t.Context()
	reps, err := e.client.Replicas(ctx, e.svcURL)
	if err != nil || len(reps) != 1 {
		t.Fatalf("replicas before: %v %v", reps, err)
	}
	e.wantError(e.do("DELETE", "/api/v1/maps/nope", nil), 404, "map")
	d := e.jsonOf(e.do("DELETE", "/api/v1/maps/demo", nil), 200)
	if d["pendingUnregister"].(float64) != 0 {
		t.Fatalf("delete %v", d)
	}
	reps, err = e.client.Replicas(ctx, e.svcURL)
	if err != nil || len(reps) != 0 {
		t.Fatalf("replicas after delete: %v %v", reps, err)
	}
	e.wantError(e.do("GET", "/api/v1/maps/demo", nil), 404, "map")
	e.wantError(e.do("GET", "/api/v1/maps/demo/layers/0/features", nil), 404, "map")
}

// TestSchedulerSyncsLocalEdits: with schedulers running, an edit made
// through the API reaches the server without asking for a sync; deleting
// the map stops its scheduler first.
func TestSchedulerSyncsLocalEdits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{withSyncer: true, fresh: true})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.daemon.RunSchedulers(ctx, editsync.SchedulerOptions{Interval: -1, Debounce: 20 * time.Millisecond}, 50*time.Millisecond)
	}()
	add := `{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.16,34.04]},"properties":{"InspectionID":"AUTO-1","Status":"open"}}`
	e.jsonOf(e.do("POST", "/api/v1/maps/demo/layers/0/features", strings.NewReader(add)), 201)
	layerURL := arcgis.LayerURL(e.svcURL, 0)
	testutil.Eventually(t, "the edit to reach the server", func() bool {
		n, err := e.client.QueryCount(t.Context(), layerURL, arcgis.QueryParams{Where: "InspectionID = 'AUTO-1'"})
		return err == nil && n == 1
	})
	// A background sync's events are those of a manual one: started,
	// progress per step, finished (it sent finished alone).
	evs := readSSEUntil(t, e.do("GET", "/api/v1/maps/demo/sync/events", nil).Body, "finished")
	if len(evs) < 3 || evs[0].typ != "started" || evs[0].data["service"] != svcName {
		t.Fatalf("scheduler sync events %+v", evs)
	}
	steps := map[any]bool{}
	for _, ev := range evs[1 : len(evs)-1] {
		if ev.typ != "progress" || ev.data["service"] != svcName {
			t.Fatalf("event %+v between started and finished", ev)
		}
		steps[ev.data["step"]] = true
	}
	if !steps["synchronizeReplica"] {
		t.Errorf("no synchronizeReplica progress event: %+v", evs)
	}
	e.jsonOf(e.do("DELETE", "/api/v1/maps/demo", nil), 200)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunSchedulers did not return")
	}
	if reps, err := e.client.Replicas(t.Context(), e.svcURL); err != nil || len(reps) != 0 {
		t.Fatalf("replicas after delete %v %v", reps, err)
	}
}

// A sync that brings a server schema change rewrites the package's QGIS
// project: the new field appears in it.
func TestSchemaChangeRewritesQGISProject(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{withSyncer: true, fresh: true})
	// The offline job wrote the package's QGIS project.
	qgs, _ := filepath.Glob(filepath.Join(e.root, "packages", "demo", "*.qgs"))
	if len(qgs) != 1 {
		t.Fatalf("package has QGIS projects %v, want one", qgs)
	}
	before, err := os.ReadFile(qgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(before), `"Weather"`) {
		t.Fatal("the project already names the field the test adds")
	}
	if err := e.em.AddField(svcName, 0, arcgis.Field{Name: "Weather", Alias: "Weather today", Type: arcgis.FieldString, Length: 20, Nullable: arcgis.Bool(true), Editable: arcgis.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	res := e.jsonOf(e.do("POST", "/api/v1/maps/demo/sync", nil), 200)
	sv := res["services"].([]any)[0].(map[string]any)
	if sv["error"] != nil || len(sv["report"].(map[string]any)["schemaChanged"].([]any)) == 0 {
		t.Fatalf("sync %v", sv)
	}
	after, err := os.ReadFile(qgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(after), `field="Weather"`) || !strings.Contains(string(after), `name="Weather today"`) {
		t.Errorf("project not rewritten with the new field")
	}
}
