package main

import (
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// offlined sync -dry-run lists what the next sync sends; -direction,
// -layer-direction and -rollback-on-failure set the map's sync settings
// (kept); bad values name the flag.
func TestSyncDryRunAndSettingsFlags(t *testing.T) {
	t.Parallel()
	em, d, layer := surveyDaemon(t, "-sync-interval", "0")
	root := d.root
	gid := addInspection(t, d, "survey", layer, "DRY-1")
	out := cli(t, "sync", "-data", root, "-map", "survey", "-dry-run")
	if !strings.Contains(out, "1 edit(s)") || !strings.Contains(out, gid) || !strings.Contains(out, "1 add(s)") {
		t.Errorf("dry run: %s", out)
	}
	// Nothing was sent.
	c := demoClient(t, em)
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
