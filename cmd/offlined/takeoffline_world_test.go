package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
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
				"--user", emulator.DemoUser, "--online-only", "include", "--json"}, &out, &errOut)
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

// TestCapabilitiesLocal: `offlined capabilities -webmap FILE` examines an
// anonymous web map with no daemon and no portal.
func TestCapabilitiesLocal(t *testing.T) {
	em := startEmulator(t)
	tok := em.IssueToken(emulator.DemoUser)
	wm := writeWebMap(t, em, tok)
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"capabilities", "-webmap", wm, "-json"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var caps offline.Capabilities
	if err := json.Unmarshal(out.Bytes(), &caps); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(caps.Layers) == 0 {
		t.Fatalf("no layers: %s", out.String())
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
	out.Reset()
	if err := run(context.Background(), []string{"capabilities", "-portal", em.PortalURL, "-item", emulator.DemoWebMapFieldSurveyID, "-user", emulator.DemoUser, "-json"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	caps = offline.Capabilities{}
	if err := json.Unmarshal(out.Bytes(), &caps); err != nil {
		t.Fatal(err)
	}
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
	err := run(context.Background(), []string{"capabilities", "-portal", em.PortalURL}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "-webmap or -item") {
		t.Errorf("missing source: %v", err)
	}
}

func writeWebMap(t *testing.T, em *emulatortest.Server, tok string) string {
	t.Helper()
	resp, err := http.Get(em.PortalURL + "/content/items/" + emulator.DemoWebMapFieldSurveyID + "/data?f=json&token=" + tok)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	wm := filepath.Join(t.TempDir(), "map.json")
	if err := os.WriteFile(wm, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return wm
}
