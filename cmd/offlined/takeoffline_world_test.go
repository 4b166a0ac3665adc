package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
)

// TestTakeOfflineWholeWorld: a whole-world area (and one clamped to the
// Web Mercator latitude range) takes every layer offline; it used to be
// refused by the overrides as "ring 0 has no area".
func TestTakeOfflineWholeWorld(t *testing.T) {
	em := demoPortal(t)
	for _, bbox := range []string{"-180,-90,180,90", "-180,-85,180,85"} {
		t.Run(bbox, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pkg")
			var res offline.Result
			out := cliJSON(t, &res, demoCmd(em, "take-offline", "--dir", dir, "--bbox", bbox, "--min-scale", "300000000", "--max-scale", "100000000",
				"--online-only", "include", "--json")...)
			if res.State != offline.JobSucceeded || res.HasErrors || res.Manifest == nil {
				t.Fatalf("result %+v\n%s", res, out)
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

// TestCapabilitiesLocal: `offlined capabilities -webmap FILE` examines an
// anonymous web map with no daemon and no portal.
func TestCapabilitiesLocal(t *testing.T) {
	em := startEmulator(t)
	tok := em.IssueToken(emulator.DemoUser)
	wm := writeWebMap(t, em, tok)
	var caps offline.Capabilities
	out := cliJSON(t, &caps, "capabilities", "-webmap", wm, "-json")
	if len(caps.Layers) == 0 {
		t.Fatalf("no layers: %s", out)
	}
	// The emulator's services need a token here, so the file's layers are
	// reported with a reason instead of failing the command.
	for _, l := range append(caps.Layers, caps.Tables...) {
		if !l.SupportsOffline && l.Reason == "" && l.Method != offline.MethodOnlineOnly {
			t.Errorf("layer %s: neither offline nor a reason: %+v", l.Title, l)
		}
	}
	// An item on a portal, signed in, without a daemon: every demo layer
	// goes offline.
	t.Setenv("OFFLINED_PASSWORD", emulator.DemoPassword)
	caps = offline.Capabilities{}
	cliJSON(t, &caps, demoCmd(em, "capabilities", "-json")...)
	anyErr := false
	for _, l := range append(caps.Layers, caps.Tables...) {
		anyErr = anyErr || l.Error
	}
	if caps.HasErrors != anyErr || len(caps.Layers) == 0 {
		t.Errorf("signed-in capabilities: hasErrors %v, a layer with an error %v", caps.HasErrors, anyErr)
	}
	offlineCount := 0
	for _, l := range caps.Layers {
		if l.SupportsOffline {
			offlineCount++
		} else if l.Reason == "" {
			t.Errorf("layer %s cannot go offline and says not why", l.Title)
		}
	}
	if offlineCount < 3 {
		t.Errorf("only %d layers go offline signed in", offlineCount)
	}
	// No daemon, no source: the flag is named.
	if err := cliErr(t, "capabilities", "-portal", em.PortalURL); !strings.Contains(err.Error(), "-webmap or -item") {
		t.Errorf("missing source: %v", err)
	}
}

func writeWebMap(t *testing.T, em *emulatortest.Server, tok string) string {
	t.Helper()
	return tempFile(t, "map.json", em.ItemData(t, tok, emulator.DemoWebMapFieldSurveyID))
}
