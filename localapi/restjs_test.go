package localapi

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestArcGISRestJS reads and edits through the FeatureServer subset with
// arcgis-rest-js. It runs when OFFLINED_ARCGIS_REST_JS names a directory
// holding node_modules/@esri/arcgis-rest-feature-service (npm install
// @esri/arcgis-rest-feature-service@4 @esri/arcgis-rest-request@4) and node
// is installed; otherwise it is skipped.
func TestArcGISRestJS(t *testing.T) {
	t.Parallel()
	mods := os.Getenv("OFFLINED_ARCGIS_REST_JS")
	node, err := exec.LookPath("node")
	if mods == "" || err != nil {
		t.Skip("set OFFLINED_ARCGIS_REST_JS to a directory with arcgis-rest-js installed (and install node)")
	}
	if _, err := os.Stat(filepath.Join(mods, "node_modules", "@esri", "arcgis-rest-feature-service")); err != nil {
		t.Skipf("arcgis-rest-js not installed in %s", mods)
	}
	e := newEnv(t, envOpts{})
	dir := t.TempDir()
	script, err := os.ReadFile("testdata/arcgis-rest-js/check.mjs")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "check.mjs"), script, 0o600)
	os.Symlink(filepath.Join(mods, "node_modules"), filepath.Join(dir, "node_modules"))
	cmd := exec.CommandContext(t.Context(), node, "check.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LAYER="+e.hs.URL+"/arcgis/rest/services/demo/FeatureServer/0", "TOKEN="+testToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var res struct {
		Name                                     string
		Total, Pages, OpenCount                  int
		AddSuccess, UpdateSuccess, DeleteSuccess bool
		Notes, BadAdd                            string
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("output %s: %v", out, err)
	}
	if res.Name != "Inspections" || res.Total != 200 || res.Pages != 4 || res.OpenCount == 0 {
		t.Fatalf("reads: %+v", res)
	}
	if !res.AddSuccess || !res.UpdateSuccess || !res.DeleteSuccess || res.Notes != "edited by arcgis-rest-js" {
		t.Fatalf("edits: %+v", res)
	}
	if !strings.Contains(res.BadAdd, "Status") {
		t.Fatalf("a bad value was not refused naming the field: %q", res.BadAdd)
	}
}
