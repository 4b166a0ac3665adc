package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/offline"
)

// TestTakeOfflineWholeWorld: a whole-world area (and one clamped to the
// Web Mercator latitude range) takes every layer offline; it used to be
// refused by the overrides as "ring 0 has no area".
func TestTakeOfflineWholeWorld(t *testing.T) {
	em := startEmulator(t)
	t.Setenv("OFFLINED_PASSWORD", emulator.DemoPassword)
	for _, bbox := range []string{"-180,-90,180,90", "-180,-85,180,85"} {
		t.Run(bbox, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pkg")
			var out, errOut bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			err := run(ctx, []string{"take-offline", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID,
				"--dir", dir, "--bbox", bbox, "--min-scale", "300000000", "--max-scale", "100000000",
				"--user", emulator.DemoUser, "--json"}, &out, &errOut)
			if err != nil {
				t.Fatalf("%v\n%s", err, errOut.String())
			}
			var res offline.Result
			if err := json.Unmarshal(out.Bytes(), &res); err != nil {
				t.Fatalf("json output: %v\n%s", err, out.String())
			}
			if res.State != offline.JobSucceeded || res.HasErrors || res.Manifest == nil {
				t.Fatalf("result %+v\n%s", res, errOut.String())
			}
			var features, tiles int64
			for _, l := range res.Manifest.Layers {
				if l.Error != nil {
					t.Errorf("layer %s: %v", l.Key, l.Error)
				}
			}
			pkg, err := offline.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range pkg.Manifest.Layers {
				features += l.Features
				tiles += l.Tiles
			}
			if features == 0 || tiles == 0 {
				t.Errorf("whole world took %d features and %d tiles", features, tiles)
			}
		})
	}
}
