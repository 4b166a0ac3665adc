package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

// TestParseBBoxExplains: a swapped box is not silently read as a box
// crossing the antimeridian almost the world wide; out-of-range degrees
// are named (issue 23 item 13).
func TestParseBBoxExplains(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"-117.10,33.98,-117.25,34.10", "swap them"},
		{"33.98,-117.25,34.10,-117.10", "ymin"},
		{"-117.25,33.98,-117.10,95", "ymax 95 is outside ±90"},
		{"-190,0,10,1", "xmin -190 is outside ±180"},
		{"-117.25,33.98,-117.10,34.10", ""},
		{"170,-10,-170,10", ""}, // a real antimeridian box, 20° wide
		{"-180,-90,180,90", ""},
	} {
		_, err := parseBBox(tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", tc.in, err, tc.want)
		}
	}
}

// TestTakeOfflineSignInHint: a portal item without credentials names the
// flags that sign in, instead of a bare "499 Token Required".
func TestTakeOfflineSignInHint(t *testing.T) {
	em := startEmulator(t)
	t.Setenv("OFFLINED_TOKEN", "")
	t.Setenv("OFFLINED_API_KEY", "")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"take-offline", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID,
		"--dir", filepath.Join(t.TempDir(), "p"), "--bbox", "-117.25,33.98,-117.10,34.10"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--user NAME") || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("no sign-in hint: %v", err)
	}
}

// TestReferenceBasemapDirAlone: --reference-basemap-dir without a file
// name takes the name from the web map's offline settings; a missing file
// is reported once (issue 23 item 14).
func TestReferenceBasemapDirAlone(t *testing.T) {
	em := startEmulator(t)
	t.Setenv("OFFLINED_PASSWORD", emulator.DemoPassword)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"take-offline", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID, "--user", emulator.DemoUser,
		"--dir", filepath.Join(t.TempDir(), "p"), "--bbox", "-117.25,33.98,-117.10,34.10", "--reference-basemap-dir", t.TempDir()}, &out, &errOut)
	if err == nil || strings.Count(err.Error(), "Demo_Basemap.tpkx") != 1 {
		t.Errorf("missing reference basemap named by the web map: %v", err)
	}
}
