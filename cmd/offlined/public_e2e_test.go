package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// publicWebMap is a web map of the emulator's public services: Inspections
// (Field_Survey, with Sync: a replica) and, when zones, Zones
// (Reference_Data, no Sync: a read-only snapshot).
func publicWebMap(services string, zones bool) string {
	layers := fmt.Sprintf(`{"id":"insp","title":"Inspections","layerType":"ArcGISFeatureLayer","url":"%s/Field_Survey/FeatureServer/0","visibility":true,"opacity":1}`, services)
	if zones {
		layers += fmt.Sprintf(`,{"id":"zones","title":"Zones","layerType":"ArcGISFeatureLayer","url":"%s/Reference_Data/FeatureServer/0","visibility":true,"opacity":1}`, services)
	}
	return `{"operationalLayers":[` + layers + `],"baseMap":{"baseMapLayers":[],"title":"none"},"spatialReference":{"wkid":102100},"version":"2.31"}`
}

// publicServer starts the emulator with Field_Survey and Reference_Data
// open without a token, and a server of their publicWebMap (with Zones).
func publicServer(t *testing.T) (*emulatortest.Server, *httptest.Server) {
	t.Helper()
	em := emulatortest.Start(t, emulator.Options{PublicServices: []string{"Field_Survey", "Reference_Data"}})
	return em, webMapServer(t, publicWebMap(em.ServicesURL, true), nil)
}

const publicAOI = `{"xmin":-117.25,"ymin":33.98,"xmax":-117.10,"ymax":34.10,"spatialReference":{"wkid":4326}}`

// waitJob follows a job's event stream, which ends with the job's final
// state, and returns that state.
func waitJob(t *testing.T, d *daemon, id string) map[string]any {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", d.base+"/api/v1/jobs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() { // read to the end of the stream
	}
	_, last := d.api(t, "GET", "/api/v1/jobs/"+id, nil)
	return last
}

// mapLayer returns the id of the map's layer named name.
func mapLayer(t *testing.T, d *daemon, mapID, name string) string {
	t.Helper()
	code, m := d.api(t, "GET", "/api/v1/maps/"+mapID, nil)
	if code != 200 {
		t.Fatalf("map %s: %d %v", mapID, code, m)
	}
	ls, _ := m["layers"].([]any)
	for _, l := range ls {
		lm := l.(map[string]any)
		if lm["name"] == name {
			return lm["id"].(string)
		}
	}
	t.Fatalf("map %s has no layer %s: %v", mapID, name, m)
	return ""
}

// syncMap syncs a map and returns its per-service results by service name.
func syncMap(t *testing.T, d *daemon, mapID string) map[string]map[string]any {
	t.Helper()
	code, res := d.api(t, "POST", "/api/v1/maps/"+mapID+"/sync", nil)
	if code != 200 {
		t.Fatalf("sync %s: %d %v", mapID, code, res)
	}
	out := map[string]map[string]any{}
	for _, s := range res["services"].([]any) {
		sm := s.(map[string]any)
		out[sm["service"].(string)] = sm
	}
	return out
}

func countWhere(t *testing.T, c *arcgis.Client, layerURL, where string) int {
	t.Helper()
	n := 0
	err := c.QueryAll(t.Context(), layerURL, nil, arcgis.QueryParams{Where: where, OutFields: []string{"*"}}, func(fs *arcgis.FeatureSet) error {
		n += len(fs.Features)
		return nil
	})
	if err != nil {
		t.Fatalf("query %s: %v", layerURL, err)
	}
	return n
}

// The daemon with no portal takes a web map of public services offline
// from its URL, refuses edits to the snapshot layer, refreshes the snapshot
// when the server changes and syncs edits of the public sync-enabled layer
// exactly once, all without credentials. A service that starts to require
// a token puts it in needsAuth; the other maps still sync.
func TestPublicMapsWithoutPortal(t *testing.T) {
	t.Parallel()
	em, wms := publicServer(t)
	root := t.TempDir()
	d := startDaemon(t, root)

	jobSucceeds(t, d, "k2 without a portal", fmt.Sprintf(`{"source":{"webMapUrl":%q},"mapId":"k2","areaOfInterest":%s}`, wms.URL+"/map.json", publicAOI))
	// A second map, from a posted web map (Inspections only).
	jobSucceeds(t, d, "k3 from a posted web map", fmt.Sprintf(`{"source":{"webMap":%s},"mapId":"k3","areaOfInterest":%s}`, publicWebMap(em.ServicesURL, false), publicAOI))

	// An edit of the snapshot layer is refused; the layer is unchanged.
	zones := mapLayer(t, d, "k2", "Zones")
	_, before := d.api(t, "GET", "/api/v1/maps/k2/layers/"+zones+"/features?limit=1000", nil)
	feat := `{"type":"Feature","geometry":null,"properties":{"Owner":"local"}}`
	code, e := d.api(t, "POST", "/api/v1/maps/k2/layers/"+zones+"/features", strings.NewReader(feat))
	if code != 403 || e["error"].(map[string]any)["code"] != "readOnlyLayer" {
		t.Fatalf("edit of a snapshot layer: %d %v", code, e)
	}
	_, after := d.api(t, "GET", "/api/v1/maps/k2/layers/"+zones+"/features?limit=1000", nil)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("the snapshot layer changed after a refused edit")
	}
	nb := len(before["features"].([]any))

	// The server changes a zone and adds one; a sync refreshes the snapshot.
	anon, err := arcgis.New()
	if err != nil {
		t.Fatal(err)
	}
	zs, err := em.Features("Reference_Data", 0, "")
	if err != nil || len(zs) == 0 {
		t.Fatalf("zones on the server: %v", err)
	}
	upd := arcgis.Feature{Attributes: map[string]any{"GlobalID": zs[0].Attributes["GlobalID"], "Owner": "renamed by the server"}}
	add := arcgis.Feature{Attributes: map[string]any{"Owner": "added by the server"}, Geometry: zs[0].Geometry}
	if err := em.EditFeatures("Reference_Data", 0, []arcgis.Feature{add}, []arcgis.Feature{upd}, nil); err != nil {
		t.Fatalf("server-side edit: %v", err)
	}
	res := syncMap(t, d, "k2")
	ref := res["Reference_Data"]
	if ref["error"] != nil {
		t.Fatalf("sync of the snapshot: %v", ref)
	}
	rep := ref["report"].(map[string]any)
	snap, _ := rep["snapshot"].(map[string]any)
	if snap == nil || snap["added"].(float64) != 1 || snap["updated"].(float64) != 1 || snap["deleted"].(float64) != 0 {
		t.Fatalf("snapshot refresh counts: %v", rep)
	}
	_, after = d.api(t, "GET", "/api/v1/maps/k2/layers/"+zones+"/features?limit=1000", nil)
	if n := len(after["features"].([]any)); n != nb+1 || !strings.Contains(fmt.Sprint(after), "renamed by the server") {
		t.Fatalf("snapshot after refresh: %d features (want %d), renamed zone present: %v", n, nb+1, strings.Contains(fmt.Sprint(after), "renamed by the server"))
	}
	// Unchanged since: the next sync skips the download.
	res = syncMap(t, d, "k2")
	if snap, _ := res["Reference_Data"]["report"].(map[string]any)["snapshot"].(map[string]any); snap == nil || snap["skipped"] != true {
		t.Fatalf("second refresh of an unchanged snapshot: %v", res["Reference_Data"])
	}

	// An edit of the public sync-enabled layer syncs exactly once.
	insp := mapLayer(t, d, "k2", "Inspections")
	feat = `{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.17,34.03]},"properties":{"InspectionID":"ANON-1","Status":"open","Priority":3}}`
	if code, e := d.api(t, "POST", "/api/v1/maps/k2/layers/"+insp+"/features", strings.NewReader(feat)); code != 201 {
		t.Fatalf("add inspection: %d %v", code, e)
	}
	for range 2 {
		if r := syncMap(t, d, "k2")["Field_Survey"]; r["error"] != nil {
			t.Fatalf("anonymous replica sync: %v", r)
		}
	}
	if n := countWhere(t, anon, em.ServicesURL+"/Field_Survey/FeatureServer/0", "InspectionID = 'ANON-1'"); n != 1 {
		t.Fatalf("server has %d copies of the anonymous edit, want 1", n)
	}

	// Reference_Data starts to require a token: needsAuth for it, naming
	// the service and the fix; Field_Survey and the other map still sync.
	em.SetServicePublic("Reference_Data", false)
	res = syncMap(t, d, "k2")
	na, _ := res["Reference_Data"]["needsAuth"].(map[string]any)
	if na == nil || !strings.Contains(fmt.Sprint(na["service"]), "Reference_Data") || !strings.Contains(fmt.Sprint(na["command"]), "offlined login") {
		t.Fatalf("sync of a service that now requires a token: %v", res["Reference_Data"])
	}
	if res["Field_Survey"]["error"] != nil {
		t.Fatalf("the other service of the map: %v", res["Field_Survey"])
	}
	if r := syncMap(t, d, "k3")["Field_Survey"]; r["error"] != nil {
		t.Fatalf("the other map: %v", r)
	}
	code, st := d.api(t, "GET", "/api/v1/maps/k2/sync", nil)
	if code != 200 || st["services"].(map[string]any)["Reference_Data"].(map[string]any)["state"] != "needsAuth" {
		t.Fatalf("sync status: %d %v", code, st)
	}
}

// A sign-in to a standalone ArcGIS Server (offlined login -server, through
// the token service its /rest/info names) lets a daemon without a portal
// take its secured services offline; the token goes to that server only,
// never to the host that serves the web map.
func TestServerSignInWithoutPortal(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{})
	wm := publicWebMap(em.ServicesURL, false)
	var leaked atomic.Bool
	wms := webMapServer(t, wm, func(r *http.Request) {
		r.ParseForm()
		if r.Form.Get("token") != "" || r.Header.Get("X-Esri-Authorization") != "" {
			leaked.Store(true)
		}
	})
	root := t.TempDir()
	pw := demoPasswordFile(t)
	if err := cliErr(t, "login", "-data", root, "-server", em.URL+"/nothing-here", "-user", emulator.DemoUser, "-password-file", pw); !strings.HasPrefix(err.Error(), "-server:") {
		t.Fatalf("login to a URL that is no ArcGIS Server: %v", err)
	}
	out := cli(t, "login", "-data", root, "-server", em.ServicesURL+"/Field_Survey/FeatureServer", "-user", emulator.DemoUser, "-password-file", pw)
	if !strings.Contains(out, em.URL+"/arcgis") {
		t.Fatalf("login -server output: %s", out)
	}
	d := startDaemon(t, root)
	jobSucceeds(t, d, "with a server sign-in", fmt.Sprintf(`{"source":{"webMapUrl":%q},"mapId":"sec","areaOfInterest":%s}`, wms.URL+"/map.json", publicAOI))
	if leaked.Load() {
		t.Fatal("the server token was sent to the web map's host")
	}
	if r := syncMap(t, d, "sec")["Field_Survey"]; r["error"] != nil {
		t.Fatalf("sync with the server sign-in: %v", r)
	}
}

// A public web map item of a portal the daemon is not signed in to (here:
// no portal at all) is taken offline anonymously; a private one is refused
// with 403 needsAuth naming the sign-in command.
func TestPublicPortalItemWithoutSignIn(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{PublicServices: []string{"Field_Survey"}})
	if err := em.AddItem(emulator.Item{ID: "publicmap1", Title: "Public inspections", Type: "Web Map", Access: "public"}); err != nil {
		t.Fatal(err)
	}
	if err := em.SetWebMap("publicmap1", []byte(publicWebMap(em.ServicesURL, false))); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, t.TempDir())
	jobSucceeds(t, d, "from a public portal item", fmt.Sprintf(`{"source":{"portalUrl":%q,"itemId":"publicmap1"},"mapId":"pub","areaOfInterest":%s}`, em.PortalURL, publicAOI))
	code, job := d.api(t, "POST", "/api/v1/jobs", strings.NewReader(fmt.Sprintf(`{"source":{"portalUrl":%q,"itemId":%q},"mapId":"priv","areaOfInterest":%s}`, em.PortalURL, emulator.DemoWebMapFieldSurveyID, publicAOI)))
	e, _ := job["error"].(map[string]any)
	if code != 403 || e["code"] != "needsAuth" || e["field"] != "source" || !strings.Contains(fmt.Sprint(e["message"]), "offlined login -portal") {
		t.Fatalf("job from an org item without sign-in: %d %v", code, job)
	}
}
