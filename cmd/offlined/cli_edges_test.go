package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/offline"
)

// TestTakeOfflineSignInHint: a portal item without credentials names the
// flags that sign in, instead of a bare "499 Token Required".
func TestTakeOfflineSignInHint(t *testing.T) {
	em := startEmulator(t)
	t.Setenv("OFFLINED_TOKEN", "")
	t.Setenv("OFFLINED_API_KEY", "")
	_, err := cliRun(t, "take-offline", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID,
		"--dir", filepath.Join(t.TempDir(), "p"), "--bbox", demoBBox)
	if err == nil || !strings.Contains(err.Error(), "--user NAME") || !strings.Contains(err.Error(), "--token-file") {
		t.Errorf("no sign-in hint: %v", err)
	}
}

// TestReferenceBasemapDirAlone: --reference-basemap-dir without a file
// name takes the name from the web map's offline settings; a missing file
// is reported once (issue 23 item 14).
func TestReferenceBasemapDirAlone(t *testing.T) {
	em := demoPortal(t)
	_, err := cliRun(t, demoCmd(em, "take-offline", "--dir", filepath.Join(t.TempDir(), "p"), "--bbox", demoBBox, "--reference-basemap-dir", t.TempDir())...)
	if err == nil || strings.Count(err.Error(), "Demo_Basemap.tpkx") != 1 {
		t.Errorf("missing reference basemap named by the web map: %v", err)
	}
}

// TestTakeOfflineEmptyLayersWarned: an area that misses every layer's data
// gives a package with per-layer warnings, not plain silence (issue 15
// item 3).
func TestTakeOfflineEmptyLayersWarned(t *testing.T) {
	em := demoPortal(t)
	dir := filepath.Join(t.TempDir(), "p")
	var res offline.Result
	cliJSON(t, &res, demoCmd(em, "take-offline", "--dir", dir, "--bbox", "-100.2,40.0,-100.1,40.1", "--min-scale", "150000", "--max-scale", "140000", "--online-only", "include", "--json")...)
	warned := map[string]bool{}
	for _, w := range res.Warnings {
		if w.Code == offline.WarnEmptyLayer {
			warned[w.Layer] = true
		}
	}
	for _, l := range res.Manifest.Layers {
		if (l.Kind == offline.KindReplica || l.Kind == offline.KindSnapshot) && l.Features == 0 && !warned[l.Title] {
			t.Errorf("empty layer %s not warned (warnings %+v)", l.Title, res.Warnings)
		}
	}
	if len(warned) == 0 {
		t.Fatalf("no warnings for an area with no data: %+v", res.Warnings)
	}
	m, err := offline.ReadManifest(dir)
	if err != nil || len(m.Warnings) != len(res.Warnings) {
		t.Errorf("package.json warnings %v (%v), result %d", m, err, len(res.Warnings))
	}
}

// TestTakeOfflineSaysResumed: a take-offline run on the directory of an
// interrupted job says it resumes it (issue 23 item 7).
func TestTakeOfflineSaysResumed(t *testing.T) {
	em := demoPortal(t)
	dir := filepath.Join(t.TempDir(), "p")
	args := demoCmd(em, "take-offline", "--dir", dir, "--bbox", demoBBox, "--min-scale", "150000", "--max-scale", "140000", "--online-only", "include")
	// createReplica is slow (the estimate before the job does not call it):
	// the first run is interrupted once its journal exists.
	em.SetFaults(emulator.Faults{Latency: 3 * time.Second, Paths: []string{"createReplica"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out1, err1 bytes.Buffer
	go func() { done <- run(ctx, args, &out1, &err1) }()
	testutil.Eventually(t, "the job's journal", func() bool {
		_, err := os.Stat(filepath.Join(dir, offline.JournalFile))
		return err == nil
	})
	cancel()
	<-done
	if strings.Contains(err1.String(), "resuming") {
		t.Fatalf("a fresh job says it resumes: %s", err1.String())
	}
	em.SetFaults(emulator.Faults{})
	var out2, err2 bytes.Buffer
	if err := run(context.Background(), args, &out2, &err2); err != nil {
		t.Fatalf("resume: %v\n%s", err, err2.String())
	}
	if !strings.Contains(err2.String(), "resuming the interrupted job in "+dir) {
		t.Errorf("the resumed run does not say so:\n%s", err2.String())
	}
}
