package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/offline"
)

// offlined estimate prints a table per layer (and JSON with --json) for a
// portal item without a daemon, and makes no createReplica, exportTiles
// or download; --max-size over the estimate shows the proposal.
func TestEstimateCommand(t *testing.T) {
	em := startEmulator(t)
	t.Setenv("OFFLINED_PASSWORD", emulator.DemoPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"estimate", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID,
		"--bbox", "-117.25,33.98,-117.10,34.10", "--min-scale", "150000", "--max-scale", "10000", "--user", emulator.DemoUser}
	var out, errOut bytes.Buffer
	if err := run(ctx, append(args, "--max-size", "1.1MB"), &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"LAYER", "Demo Basemap", "tiles", "features", "sampled", "package", "expected download time", "over the budget of 1.1 MB; to fit"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if n := len(em.Log().Matching("/createReplica")) + len(em.Log().Matching("/exportTiles")); n != 0 {
		t.Errorf("estimate made %d createReplica/exportTiles requests", n)
	}
	out.Reset()
	dir := t.TempDir()
	if err := run(ctx, append(args, "--json", "--dir", dir), &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	var est struct {
		offline.PackageEstimate
		FreeBytes *int64 `json:"freeBytes"`
	}
	if err := json.Unmarshal(out.Bytes(), &est); err != nil {
		t.Fatalf("json: %v\n%s", err, out.String())
	}
	if len(est.Layers) < 4 || est.Bytes.Bytes <= 0 || est.Bytes.Low > est.Bytes.Bytes || est.Bytes.High < est.Bytes.Bytes || est.FreeBytes == nil {
		t.Fatalf("estimate %+v", est)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("estimate wrote into --dir: %v", entries)
	}
	if err := run(ctx, append(args, "--max-size", "lots"), &out, &errOut); err == nil || !strings.Contains(err.Error(), "--max-size") {
		t.Errorf("bad --max-size: %v", err)
	}
}

// take-offline over --max-size refuses, writing nothing, naming the flag's
// figure and a proposal.
func TestTakeOfflineOverMaxSize(t *testing.T) {
	em := startEmulator(t)
	t.Setenv("OFFLINED_PASSWORD", emulator.DemoPassword)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "pkg")
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"take-offline", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID, "--dir", dir,
		"--bbox", "-117.25,33.98,-117.10,34.10", "--min-scale", "150000", "--max-scale", "10000", "--user", emulator.DemoUser,
		"--max-size", "1MB"}, &out, &errOut)
	var ob *offline.OverBudgetError
	if !errors.As(err, &ob) || !strings.Contains(err.Error(), "over the budget of 1.0 MB") || !strings.Contains(out.String(), "Estimate:") {
		t.Fatalf("got %v (%T)\n%s", err, err, out.String())
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the refused job created %s", dir)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"2GB": 2e9, "500 MB": 5e8, "1.5GiB": 1.5 * (1 << 30), "123456": 123456, "10k": 1e4} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1GB", "2XB", "GB", "0", "1e400"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

// parseSize never panics and accepts only positive sizes.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"2GB", "500 MB", "1.5GiB", "0", "-1", "1e9", "..", "9999999999999TB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n <= 0 {
			t.Fatalf("parseSize(%q) = %d without error", s, n)
		}
	})
}
