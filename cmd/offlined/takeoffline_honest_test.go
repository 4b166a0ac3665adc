package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
)

// honestWebMap is a web map (as a file) of public services on em: the
// given operational layers over no basemap.
func honestWebMap(t *testing.T, layers ...map[string]any) string {
	t.Helper()
	wm := map[string]any{"operationalLayers": layers, "baseMap": map[string]any{"baseMapLayers": []any{}, "title": "none"},
		"spatialReference": map[string]any{"wkid": 102100, "latestWkid": 3857}, "version": "2.31"}
	b, err := json.Marshal(wm)
	if err != nil {
		t.Fatal(err)
	}
	return tempFile(t, "map.json", b)
}

// TestTakeOfflineHonestResults: a web map whose every layer fails no longer
// ends "succeeded" with an empty package and exit 0; a package with some
// failed layers is written but take-offline exits 3 unless
// --accept-partial (issue 14 item 3).
func TestTakeOfflineHonestResults(t *testing.T) {
	tiles := emulator.DemoTileOptions()
	tiles.WorkDir = t.TempDir()
	em := emulatortest.Start(t, emulator.Options{Tiles: tiles, Anonymous: true})
	svc := em.ServicesURL
	layer := func(id, typ, url string) map[string]any {
		return map[string]any{"id": id, "title": id, "layerType": typ, "url": url, "visibility": true}
	}
	missing := layer("missing", "ArcGISFeatureLayer", svc+"/Nope/FeatureServer/0")
	root := layer("root", "ArcGISFeatureLayer", svc+"/Field_Survey/FeatureServer")
	dynamic := layer("dynamic", "ArcGISMapServiceLayer", svc+"/Dynamic_Layers/MapServer")
	good := layer("good", "ArcGISFeatureLayer", svc+"/Field_Survey/FeatureServer/0")

	run1 := func(wm string, extra ...string) (*offline.Result, error) {
		dir := filepath.Join(t.TempDir(), "pkg")
		var out, errOut bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args := append([]string{"take-offline", "--webmap", wm, "--dir", dir, "--bbox", "-117.25,33.98,-117.10,34.10", "--json"}, extra...)
		err := run(ctx, args, &out, &errOut)
		var res offline.Result
		if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
			return nil, fmt.Errorf("%v (output %q, stderr %s)", err, out.String(), errOut.String())
		}
		return &res, err
	}

	for _, coe := range []string{"true", "false"} {
		res, err := run1(honestWebMap(t, missing, root, dynamic), "--continue-on-errors="+coe)
		var none *offline.NothingOfflineError
		if err == nil || coe == "true" && !errors.As(err, &none) {
			t.Errorf("continue-on-errors=%s: every layer failing gave err %v", coe, err)
		}
		if res == nil || res.State == offline.JobSucceeded || res.Manifest != nil {
			t.Errorf("continue-on-errors=%s: every layer failing gave result %+v", coe, res)
		}
	}

	// Reference_Data answers every query with a server error: its layer
	// fails during the job, the rest of the package is written.
	ref := layer("reference", "ArcGISFeatureLayer", svc+"/Reference_Data/FeatureServer/0")
	em.SetFaults(emulator.Faults{ErrorRate: 1, Paths: []string{"/Reference_Data/FeatureServer/0/query"}})
	res, err := run1(honestWebMap(t, good, ref))
	var partial *PartialError
	if !errors.As(err, &partial) || partial.ExitCode() != 3 {
		t.Fatalf("partial package: err %v, want a PartialError (exit 3)", err)
	}
	if res.State != offline.JobSucceeded || !res.HasErrors || res.Manifest == nil {
		t.Errorf("partial package result %+v", res)
	}
	res, err = run1(honestWebMap(t, good, ref), "--accept-partial")
	if err != nil || res.State != offline.JobSucceeded || !res.HasErrors {
		t.Errorf("--accept-partial: err %v, result %+v", err, res)
	}
	// continueOnErrors=false: a layer that cannot go offline stops the job
	// before it downloads anything (ArcGIS's rule: any layer error fails it).
	em.Log().Reset()
	res, err = run1(honestWebMap(t, good, missing), "--continue-on-errors=false")
	if err == nil || res.State == offline.JobSucceeded {
		t.Errorf("continue-on-errors=false with a failing layer: err %v, state %s", err, res.State)
	}
	if n := em.Log().Count("/createReplica"); n != 0 {
		t.Errorf("continue-on-errors=false: %d createReplica calls after a layer already failed", n)
	}
	if _, err := run1(honestWebMap(t, good)); err != nil {
		t.Errorf("a clean package: %v", err)
	}
}
