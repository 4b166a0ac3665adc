package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// The world the command tests run in: the emulator's demo portal, a data
// root signed in to it, a daemon on that root and jobs taking the demo
// survey map offline through the daemon's API.

// demoBBox is the demo survey area as a --bbox.
const demoBBox = "-117.25,33.98,-117.10,34.10"

// demoCmd is the command line of cmd (run without a daemon) for the demo
// survey web map on em's portal, signed in as the demo user (the password
// comes from $OFFLINED_PASSWORD: see demoPortal), with args added.
func demoCmd(em *emulatortest.Server, cmd string, args ...string) []string {
	return append([]string{cmd, "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID, "--user", emulator.DemoUser}, args...)
}

// demoPortal starts the emulator with the demo tiles and puts the demo
// user's password in $OFFLINED_PASSWORD for commands run without a daemon.
func demoPortal(t *testing.T) *emulatortest.Server {
	t.Helper()
	em := startEmulator(t)
	t.Setenv("OFFLINED_PASSWORD", emulator.DemoPassword)
	return em
}

// cliRun runs offlined with args and returns what it printed on stdout
// and its error.
func cliRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(t.Context(), args, &out, io.Discard)
	return out.String(), err
}

// tempFile writes data into a file named name in a new temporary
// directory and returns its path.
func tempFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// demoPasswordFile writes the demo user's password into a file for
// login -password-file.
func demoPasswordFile(t *testing.T) string {
	t.Helper()
	return tempFile(t, "pw", []byte(emulator.DemoPassword))
}

// signedInRoot is a new data root signed in to em's portal as the demo
// user (offlined login).
func signedInRoot(t *testing.T, em *emulatortest.Server) string {
	t.Helper()
	root := t.TempDir()
	cli(t, "login", "-data", root, "-portal", em.PortalURL, "-user", emulator.DemoUser, "-password-file", demoPasswordFile(t))
	return root
}

// signedInDaemon starts a daemon for em's portal on a signedInRoot, with
// args added to serve's flags.
func signedInDaemon(t *testing.T, em *emulatortest.Server, args ...string) *daemon {
	t.Helper()
	return startDaemon(t, signedInRoot(t, em), append([]string{"-portal", em.PortalURL}, args...)...)
}

// demoJob is a job request taking the demo survey map of em's portal
// offline as mapID (titled title unless empty), tiles from 1:150000 down
// to 1:maxScale.
func demoJob(em *emulatortest.Server, mapID, title string, maxScale int) string {
	req := map[string]any{
		"source":         map[string]string{"portalUrl": em.PortalURL, "itemId": emulator.DemoWebMapFieldSurveyID},
		"mapId":          mapID,
		"areaOfInterest": json.RawMessage(`{"xmin":-117.25,"ymin":33.98,"xmax":-117.10,"ymax":34.10,"spatialReference":{"wkid":4326}}`),
		"minScale":       150000,
		"maxScale":       maxScale,
	}
	if title != "" {
		req["title"] = title
	}
	b, _ := json.Marshal(req)
	return string(b)
}

// startJob starts taking the demo survey map offline as mapID.
func startJob(t *testing.T, d *daemon, em *emulatortest.Server, mapID string) string {
	t.Helper()
	return postJob(t, d, demoJob(em, mapID, "", 100000))["id"].(string)
}

// postJob creates the job of the JSON request body and returns it as the
// daemon answered.
func postJob(t *testing.T, d *daemon, body string) map[string]any {
	t.Helper()
	code, job := d.api(t, "POST", "/api/v1/jobs", strings.NewReader(body))
	if code != 201 {
		t.Fatalf("create job: %d %v", code, job)
	}
	return job
}

// jobSucceeds runs the job of the JSON request body to its end and fails
// the test, saying what the job was, unless it succeeded.
func jobSucceeds(t *testing.T, d *daemon, what, body string) {
	t.Helper()
	if st := waitJob(t, d, postJob(t, d, body)["id"].(string)); st["state"] != "succeeded" {
		t.Fatalf("job %s: %v\n%s", what, st, d.logs.String())
	}
}

// demoClient is an ArcGIS client of em's portal signed in as the demo user.
func demoClient(t *testing.T, em *emulatortest.Server) *arcgis.Client {
	t.Helper()
	c, err := arcgis.New(arcgis.WithPortal(em.PortalURL), arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// surveyReplicas fails the test unless the demo Field_Survey service on em
// holds exactly one replica; after says when.
func surveyReplicas(t *testing.T, em *emulatortest.Server, after string) {
	t.Helper()
	reps, err := demoClient(t, em).Replicas(t.Context(), em.ServicesURL+"/Field_Survey/FeatureServer")
	if err != nil || len(reps) != 1 {
		t.Fatalf("replicas on the server %s: %v %v", after, reps, err)
	}
}

// webMapServer serves the web map JSON wm at any path until the test ends;
// seen, when set, sees every request first.
func webMapServer(t *testing.T, wm string, seen func(*http.Request)) *httptest.Server {
	t.Helper()
	wms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen(r)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, wm)
	}))
	t.Cleanup(wms.Close)
	return wms
}

// addInspection adds an open inspection with the given InspectionID to the
// layer of a map through the daemon's API and returns its global id.
func addInspection(t *testing.T, d *daemon, mapID, layer, id string) string {
	t.Helper()
	feat := fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.17,34.03]},"properties":{"InspectionID":%q,"Status":"open","Priority":3}}`, id)
	code, added := d.api(t, "POST", "/api/v1/maps/"+mapID+"/layers/"+layer+"/features", strings.NewReader(feat))
	if code != 201 {
		t.Fatalf("add %s: %d %v", id, code, added)
	}
	return added["globalId"].(string)
}

// cliJSON runs offlined with args (a command given -json), decodes what it
// printed into v and returns it.
func cliJSON(t *testing.T, v any, args ...string) string {
	t.Helper()
	out := cli(t, args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("offlined %v: JSON output: %v\n%s", args, err, out)
	}
	return out
}

// surveyDaemon starts the emulator and a signedInDaemon (args added to
// serve's flags) holding the demo survey map taken offline as "survey",
// and returns them with the id of the map's Inspections layer.
func surveyDaemon(t *testing.T, args ...string) (*emulatortest.Server, *daemon, string) {
	t.Helper()
	em := emulatortest.Start(t, emulator.Options{})
	d := signedInDaemon(t, em, args...)
	jobSucceeds(t, d, "survey", demoJob(em, "survey", "", 100000))
	return em, d, mapLayer(t, d, "survey", "Inspections")
}
