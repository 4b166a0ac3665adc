package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/offline"
)

// offlined estimate prints a table per layer (and JSON with --json) for a
// portal item without a daemon, and makes no createReplica, exportTiles
// or download; --max-size over the estimate shows the proposal.
func TestEstimateCommand(t *testing.T) {
	em := demoPortal(t)
	args := demoCmd(em, "estimate", "--bbox", demoBBox, "--min-scale", "150000", "--max-scale", "10000")
	out := cli(t, append(args, "--max-size", "1.1MB")...)
	for _, want := range []string{"LAYER", "Demo Basemap", "tiles", "features", "sampled", "package", "expected download time", "over the budget of 1.1 MB; to fit"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if n := len(em.Log().Matching("/createReplica")) + len(em.Log().Matching("/exportTiles")); n != 0 {
		t.Errorf("estimate made %d createReplica/exportTiles requests", n)
	}
	dir := t.TempDir()
	var est struct {
		offline.PackageEstimate
		FreeBytes *int64 `json:"freeBytes"`
	}
	cliJSON(t, &est, append(args, "--json", "--dir", dir)...)
	if len(est.Layers) < 4 || est.Bytes.Bytes <= 0 || est.Bytes.Low > est.Bytes.Bytes || est.Bytes.High < est.Bytes.Bytes || est.FreeBytes == nil {
		t.Fatalf("estimate %+v", est)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("estimate wrote into --dir: %v", entries)
	}
	if err := cliErr(t, append(args, "--max-size", "lots")...); !strings.Contains(err.Error(), "--max-size") {
		t.Errorf("bad --max-size: %v", err)
	}
}

// take-offline over --max-size refuses, writing nothing, naming the flag's
// figure and a proposal.
func TestTakeOfflineOverMaxSize(t *testing.T) {
	em := demoPortal(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	out, err := cliRun(t, demoCmd(em, "take-offline", "--dir", dir, "--bbox", demoBBox, "--min-scale", "150000", "--max-scale", "10000", "--max-size", "1MB")...)
	var ob *offline.OverBudgetError
	if !errors.As(err, &ob) || !strings.Contains(err.Error(), "over the budget of 1.0 MB") || !strings.Contains(out, "Estimate:") {
		t.Fatalf("got %v (%T)\n%s", err, err, out)
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
