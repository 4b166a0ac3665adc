package offline

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// killAtBatch returns a job hook that kills the process with SIGKILL at
// its n-th tile batch when OFFLINED_TEST_KILL is set (the child half of a
// resume-after-kill test). Tile steps may run at once: the hook is safe
// for concurrent calls.
func killAtBatch(n int32) func(string) {
	kill := os.Getenv("OFFLINED_TEST_KILL") != ""
	var batches atomic.Int32
	return func(p string) {
		if p == "tilesBatch" && batches.Add(1) == n && kill {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Minute)
		}
	}
}

// checkResumeAfterKill runs the test function child (which reads its web
// map from the environment variable mapEnv and its package directory from
// OFFLINED_TEST_DIR) in a subprocess: once uninterrupted, then killed up to
// kills times (the first killed run must die, and no killed run may write
// package.json) and resumed. The resumed package must match the
// uninterrupted one file by file under digest.
func checkResumeAfterKill(t *testing.T, child, mapEnv, mapPath string, kills int, digest func(testing.TB, string) map[string]string) {
	t.Helper()
	run := func(dir string, kill bool) error {
		cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), mapEnv+"="+mapPath, "OFFLINED_TEST_DIR="+dir)
		if kill {
			cmd.Env = append(cmd.Env, "OFFLINED_TEST_KILL=1")
		}
		out, err := cmd.CombinedOutput()
		if err != nil && !kill {
			t.Logf("child output:\n%s", out)
		}
		return err
	}
	ref := filepath.Join(t.TempDir(), "ref")
	if err := run(ref, false); err != nil {
		t.Fatalf("uninterrupted run: %v", err)
	}
	want := digest(t, ref)
	dir := filepath.Join(t.TempDir(), "pkg")
	for i := 0; i < kills; i++ {
		if err := run(dir, true); err == nil {
			if i == 0 {
				t.Fatal("the killed run finished")
			}
			break // the rest fitted in one batch
		}
		if _, err := os.Stat(filepath.Join(dir, ManifestFile)); err == nil {
			t.Fatal("the killed run wrote package.json")
		}
	}
	if err := run(dir, false); err != nil {
		t.Fatalf("resume: %v", err)
	}
	got := digest(t, dir)
	if len(want) == 0 {
		t.Fatal("empty reference package")
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("resumed package: %s differs (or is missing)", k)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("resumed package: extra file %s", k)
		}
	}
}
