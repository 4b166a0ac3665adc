package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
)

func startEmulator(t *testing.T) *emulatortest.Server {
	tiles := emulator.DemoTileOptions()
	tiles.WorkDir = t.TempDir()
	return emulatortest.Start(t, emulator.Options{Tiles: tiles})
}

func TestTakeOfflineItem(t *testing.T) {
	em := demoPortal(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	var res struct {
		offline.Result
		Capabilities *offline.Capabilities `json:"capabilities"`
	}
	out := cliJSON(t, &res, demoCmd(em, "take-offline", "--dir", dir, "--bbox", demoBBox, "--min-scale", "150000", "--max-scale", "70000",
		"--update-mode", "noUpdates", "--title", "Crew 7", "--accept-partial", "--json")...)
	if res.State != offline.JobSucceeded || res.Manifest == nil || res.Manifest.Title != "Crew 7" {
		t.Fatalf("result %+v", res)
	}
	// --json carries the capabilities; every entry of the map is in the
	// package, and the ones left out (dynamic map service, WMS) are the
	// only errors.
	if res.Capabilities == nil || len(res.Capabilities.Layers) == 0 {
		t.Fatalf("--json without capabilities: %s", out)
	}
	if !res.HasErrors || len(res.LayerErrors) != 2 {
		t.Errorf("layer errors %+v", res.LayerErrors)
	}
	for _, c := range append(res.Capabilities.Layers, res.Capabilities.Tables...) {
		found := false
		for _, ml := range append(res.Manifest.Layers, res.Manifest.Tables...) {
			found = found || ml.Key == c.Key
		}
		if !found {
			t.Errorf("%s (%s, %s) is in the capabilities but not in package.json", c.Key, c.LayerType, c.Method)
		}
	}
	if res.Manifest.Parameters.UpdateMode != offline.UpdateNoUpdates {
		t.Errorf("--update-mode not applied: %s", res.Manifest.Parameters.UpdateMode)
	}
	if q := em.Log().Matching("/createReplica"); len(q) != 1 || q[0].Query.Get("syncModel") != "none" {
		t.Errorf("createReplica %+v", q)
	}
	if _, err := offline.Open(dir); err != nil {
		t.Fatal(err)
	}
}

func TestTakeOfflineWebMapFile(t *testing.T) {
	em := startEmulator(t)
	tok := em.IssueToken(emulator.DemoUser)
	wm := writeWebMap(t, em, tok) // the web map as a file, from the item's data
	aoi := filepath.Join(t.TempDir(), "area.geojson")
	os.WriteFile(aoi, []byte(`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[-117.25,33.98],[-117.19,33.98],[-117.19,34.03],[-117.25,34.03],[-117.25,33.98]]]}}`), 0o644)
	dir := filepath.Join(t.TempDir(), "pkg")
	tokFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := cli(t, "take-offline", "--webmap", wm, "--dir", dir, "--aoi", aoi,
		"--min-scale", "150000", "--max-scale", "140000", "--include-basemap=false", "--accept-partial", "--token-file", tokFile)
	pkg, err := offline.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range pkg.All() {
		if l.Kind == offline.KindRasterTiles && l.Title == "Demo Basemap" {
			t.Errorf("--include-basemap=false: basemap taken")
		}
		if l.Title == "Demo Basemap" && (l.Kind != offline.KindNone || l.Reason != offline.ReasonBasemapExcluded) {
			t.Errorf("the excluded basemap is not listed with its reason: %+v", l)
		}
	}
	// The capabilities table comes before the job; the result table lists
	// the layers left out with their reason.
	capsAt, resAt := strings.Index(out, "HOW"), strings.Index(out, "result:")
	if capsAt < 0 || resAt < capsAt || !strings.Contains(out[resAt:], "(left out)") ||
		!strings.Contains(out[resAt:], "basemapExcluded") || !strings.Contains(out[resAt:], "unsupportedLayerType") {
		t.Errorf("take-offline output lacks the capabilities or the left-out layers:\n%s", out)
	}
	if !strings.Contains(out, "Inspections") {
		t.Errorf("output:\n%s", out)
	}
	if em.Log().Count("/Demo_Basemap/MapServer/tile/") != 0 {
		t.Errorf("basemap tiles requested")
	}
}

func TestTakeOfflineFlagErrors(t *testing.T) {
	t.Setenv("OFFLINED_PASSWORD", "")
	base := []string{"take-offline", "--portal", "http://127.0.0.1:1/sharing/rest", "--item", "x", "--bbox", "0,0,1,1", "--dir", t.TempDir() + "/p"}
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"take-offline", "--item", "x", "--bbox", "0,0,1,1"}, "--dir"},
		{[]string{"take-offline", "--dir", "d", "--bbox", "0,0,1,1"}, "--item or --webmap"},
		{[]string{"take-offline", "--dir", "d", "--item", "x", "--bbox", "0,0,1,1"}, "--portal"},
		{[]string{"take-offline", "--dir", "d", "--item", "x", "--webmap", "m.json", "--portal", "p"}, "--item and --webmap"},
		{[]string{"take-offline", "--dir", "d", "--webmap", "/nonexistent/map.json", "--bbox", "0,0,1,1"}, "--webmap"},
		{append(base[:len(base):len(base)], "--bbox", "1,2,3"), "--bbox"},
		{[]string{"take-offline", "--portal", "p", "--item", "x", "--dir", "d"}, "--bbox or --aoi"},
		{append(base[:len(base):len(base)], "--min-scale", "-5"), "--min-scale"},
		{append(base[:len(base):len(base)], "--user", "u"), "OFFLINED_PASSWORD"},
		{append(base[:len(base):len(base)], "--token", "a"), "--token-file FILE or $OFFLINED_TOKEN"},
		{append(base[:len(base):len(base)], "--api-key", "b"), "--api-key-file FILE or $OFFLINED_API_KEY"},
		{append(base[:len(base):len(base)], "--token-file", "a", "--api-key-file", "b"), "--api-key-file"},
		{append(base[:len(base):len(base)], "--token-file", "/nonexistent/token"), "--token-file"},
		{append(base[:len(base):len(base)], "--aoi", "/nonexistent.geojson"), "--bbox and --aoi"},
		{[]string{"take-offline", "--abandon", "--dir", t.TempDir()}, "--abandon"},
	} {
		err := run(context.Background(), tc.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.flag) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.flag)
		}
	}
}

// Secrets come from files or the environment, never from flag values.
func TestTakeOfflineSecretSources(t *testing.T) {
	ctx := context.Background()
	t.Setenv("OFFLINED_TOKEN", "env-token")
	t.Setenv("OFFLINED_API_KEY", "")
	c, err := credential(secretSources{})
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := c.Token(ctx, nil); tok != "env-token" {
		t.Fatalf("token from $OFFLINED_TOKEN: %q", tok)
	}
	kf := filepath.Join(t.TempDir(), "key")
	os.WriteFile(kf, []byte("file-key\n"), 0o600)
	c, err = credential(secretSources{apiKeyFile: kf})
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := c.Token(ctx, nil); tok != "file-key" {
		t.Fatalf("key from --api-key-file: %q (a file wins over the environment)", tok)
	}
	t.Setenv("OFFLINED_API_KEY", "env-key")
	if _, err := credential(secretSources{}); err == nil || !strings.Contains(err.Error(), "$OFFLINED_TOKEN and $OFFLINED_API_KEY") {
		t.Fatalf("both variables: %v", err)
	}
}
