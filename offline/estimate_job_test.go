package offline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
)

// demoJob prepares the demo map's task, parameters and overrides over the
// demo area at 1:150k-1:10k, with a context that ends after a minute (or
// with the test). It skips the test with -short: it runs the emulator end
// to end.
func demoJob(t *testing.T) (context.Context, *offline.Task, *offline.Parameters, *offline.Overrides, *arcgis.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("emulator end-to-end")
	}
	d := startDemo(t, true, 10000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, d.task, d.p, d.o, d.c
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	return names
}

// A job over its budget refuses to start, writing nothing, with a
// proposal; the proposal applied to the overrides fits the budget and the
// job succeeds within it.
func TestJobOverBudgetProposalFits(t *testing.T) {
	ctx, task, p, o, c := demoJob(t)
	const budget = 1_100_000
	p.MaxBytes = budget
	dir := filepath.Join(t.TempDir(), "pkg")
	_, err := task.NewJob(p, o, dir, offline.JobOptions{Client: c, PollInterval: 2 * time.Millisecond}).Run(ctx)
	var ob *offline.OverBudgetError
	if !errors.As(err, &ob) {
		t.Fatalf("over budget: got %v, want *OverBudgetError", err)
	}
	if ob.MaxBytes != budget || ob.Estimate.Bytes <= budget || ob.Proposal == nil || !ob.Proposal.Fits || len(ob.Proposal.MaxLevels) == 0 {
		t.Fatalf("refusal %+v proposal %+v", ob, ob.Proposal)
	}
	t.Logf("refused: %v", err)
	if files := dirEntries(t, dir); len(files) > 0 {
		t.Fatalf("the refused job wrote %v", files)
	}

	ob.Proposal.Apply(o)
	est, err := task.Estimate(ctx, p, o, offline.EstimateOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	if est.OverBudget || est.Bytes.Bytes > budget {
		t.Fatalf("with the proposal the estimate is %d, over %d", est.Bytes.Bytes, budget)
	}
	res, err := task.NewJob(p, o, dir, offline.JobOptions{Client: c, PollInterval: 2 * time.Millisecond, Estimate: est}).Run(ctx)
	// (The demo map's WMS and dynamic layers are left-out errors; every
	// layer the proposal keeps must succeed.)
	if err != nil || res.State != offline.JobSucceeded || len(res.LayerErrors) > 2 {
		t.Fatalf("job with the proposal: %v %+v", err, res)
	}
	for k, le := range res.LayerErrors {
		if le.Call != "capabilities" {
			t.Errorf("layer %s failed with the proposal: %v", k, le)
		}
	}
	if r := res.Manifest.Estimate; r == nil || r.Actual > budget {
		t.Fatalf("package with the proposal: %+v, budget %d", r, budget)
	}

	// Told to, the job runs over budget.
	p.AllowOverBudget = true
	p.MaxBytes = 1
	if _, err := task.NewJob(p, o, filepath.Join(t.TempDir(), "over"), offline.JobOptions{Client: c, PollInterval: 2 * time.Millisecond}).Run(ctx); err != nil {
		t.Fatalf("allowOverBudget: %v", err)
	}
}

// A job refuses before writing anything when the volume's free space is
// below the estimate plus the margin, naming both figures; when space runs
// short between steps it stops resumable, and resumes once there is room.
func TestJobChecksFreeSpace(t *testing.T) {
	ctx, task, p, o, c := demoJob(t)
	est, err := task.Estimate(ctx, p, o, offline.EstimateOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pkg")
	small := func(string) (int64, error) { return 500_000, nil }
	_, err = task.NewJob(p, o, dir, offline.JobOptions{Client: c, Estimate: est, FreeSpace: small}).Run(ctx)
	var ise *offline.InsufficientSpaceError
	if !errors.As(err, &ise) || ise.Free != 500_000 || ise.Needed <= est.Bytes.Bytes {
		t.Fatalf("got %v, want *InsufficientSpaceError with free 500000 and needed over %d", err, est.Bytes.Bytes)
	}
	t.Logf("refused: %v", err)
	if files := dirEntries(t, dir); len(files) > 0 {
		t.Fatalf("the refused job wrote %v", files)
	}

	// Room for the start only: the first step runs, the next is refused.
	calls := 0
	shrinking := func(string) (int64, error) {
		calls++
		if calls == 1 {
			return 1 << 40, nil
		}
		return 1000, nil
	}
	res, err := task.NewJob(p, o, dir, offline.JobOptions{Client: c, Estimate: est, FreeSpace: shrinking, Concurrency: 1,
		PollInterval: 2 * time.Millisecond}).Run(ctx)
	if !errors.As(err, &ise) || res == nil || res.State != offline.JobPaused {
		t.Fatalf("between steps: got %v %+v, want a paused job and *InsufficientSpaceError", err, res)
	}
	if _, err := os.Stat(filepath.Join(dir, offline.ManifestFile)); err == nil {
		t.Fatal("a stopped job wrote package.json")
	}
	res, err = task.NewJob(p, o, dir, offline.JobOptions{Client: c, Estimate: est, PollInterval: 2 * time.Millisecond,
		FreeSpace: func(string) (int64, error) { return 1 << 40, nil }}).Run(ctx)
	if err != nil || res.State != offline.JobSucceeded {
		t.Fatalf("resume with room: %v %+v", err, res)
	}
}

// On a real small volume (a 4 MB tmpfs, when this test may mount one) the
// job refuses before writing anything.
func TestJobRefusesOnSmallTmpfs(t *testing.T) {
	if testing.Short() || runtime.GOOS != "linux" {
		t.Skip("needs linux and the emulator")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.MkdirAll(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", 4<<20), "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", mnt).Run() })
	ctx, task, p, o, c := demoJob(t)
	dir := filepath.Join(mnt, "pkg")
	_, err := task.NewJob(p, o, dir, offline.JobOptions{Client: c, EstimateFirst: true}).Run(ctx)
	var ise *offline.InsufficientSpaceError
	if !errors.As(err, &ise) || ise.Free > 4<<20 {
		t.Fatalf("got %v, want *InsufficientSpaceError on the 4 MB volume", err)
	}
	if files := dirEntries(t, mnt); len(files) > 0 {
		t.Fatalf("the refused job wrote %v", files)
	}
}
