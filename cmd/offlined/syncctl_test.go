package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

// offlined sync -dry-run lists what the next sync sends; -direction,
// -layer-direction and -rollback-on-failure set the map's sync settings
// (kept); bad values name the flag.
func TestSyncDryRunAndSettingsFlags(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{})
	root := t.TempDir()
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(emulator.DemoPassword), 0o600)
	cli(t, "login", "-data", root, "-portal", em.PortalURL, "-user", emulator.DemoUser, "-password-file", pw)
	d := startDaemon(t, root, "-portal", em.PortalURL, "-sync-interval", "0")
	body := fmt.Sprintf(`{"source":{"portalUrl":%q,"itemId":%q},"mapId":"survey","areaOfInterest":{"xmin":-117.25,"ymin":33.98,"xmax":-117.10,"ymax":34.10,"spatialReference":{"wkid":4326}},"minScale":150000,"maxScale":100000}`,
		em.PortalURL, emulator.DemoWebMapFieldSurveyID)
	code, job := d.api(t, "POST", "/api/v1/jobs", strings.NewReader(body))
	if code != 201 {
		t.Fatalf("create job: %d %v", code, job)
	}
	jobPath := "/api/v1/jobs/" + job["id"].(string)
	testutil.Eventually(t, "the offline job to end", func() bool {
		_, j := d.api(t, "GET", jobPath, nil)
		return j["state"] == "succeeded" || j["state"] == "failed"
	})
	_, layers := d.api(t, "GET", "/api/v1/maps/survey/layers", nil)
	layer := ""
	for _, l := range layers["layers"].([]any) {
		if m := l.(map[string]any); m["name"] == "Inspections" {
			layer = fmt.Sprint(m["id"])
		}
	}
	if layer == "" {
		t.Fatalf("no Inspections layer: %v", layers)
	}
	code, added := d.api(t, "POST", "/api/v1/maps/survey/layers/"+layer+"/features", strings.NewReader(`{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.17,34.03]},"properties":{"InspectionID":"DRY-1","Status":"open","Priority":3}}`))
	if code != 201 {
		t.Fatalf("add: %d %v", code, added)
	}
	gid := added["globalId"].(string)
	out := cli(t, "sync", "-data", root, "-map", "survey", "-dry-run")
	if !strings.Contains(out, "1 edit(s)") || !strings.Contains(out, gid) || !strings.Contains(out, "1 add(s)") {
		t.Errorf("dry run: %s", out)
	}
	// Nothing was sent.
	c, err := arcgis.New(arcgis.WithPortal(em.PortalURL), arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}))
	if err != nil {
		t.Fatal(err)
	}
	lurl := em.ServicesURL + "/Field_Survey/FeatureServer/0"
	if fs, err := c.Query(t.Context(), lurl, arcgis.QueryParams{Where: "InspectionID = 'DRY-1'"}); err != nil || len(fs.Features) != 0 {
		t.Fatalf("dry run sent the edit: %v %v", fs, err)
	}
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-direction", "sideways"}, "-direction"},
		{[]string{"-layer-direction", "nope"}, "-layer-direction"},
		{[]string{"-layer-direction", "Nope.0=uploadOnly"}, "-layer-direction"},
		{[]string{"-rollback-on-failure", "maybe"}, "-rollback-on-failure"},
		{[]string{"-dry-run", "-status"}, "-dry-run"},
	} {
		err := cliErr(t, append([]string{"sync", "-data", root, "-map", "survey"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.flag)
		}
	}
	cli(t, "sync", "-data", root, "-map", "survey", "-direction", "uploadOnly", "-rollback-on-failure", "false", "-layer-direction", layer+"=bidirectional")
	_, s := d.api(t, "GET", "/api/v1/maps/survey/sync/settings", nil)
	svc := strings.SplitN(layer, ".", 2)[0]
	set := s["services"].(map[string]any)[svc].(map[string]any)
	if set["syncDirection"] != "uploadOnly" || set["rollbackOnFailure"] != false {
		t.Errorf("settings after the CLI: %v", set)
	}
	if fs, err := c.Query(t.Context(), lurl, arcgis.QueryParams{Where: "InspectionID = 'DRY-1'"}); err != nil || len(fs.Features) != 1 {
		t.Fatalf("sync did not send the edit: %v %v", fs, err)
	}
}
