package offline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/dirlock"
)

// A second job on a directory a running job holds is refused with a typed
// error and leaves the first job's package whole.
func TestJobDirLocked(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var second error
	ran := false
	first := e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond,
		Hook: func(point string) {
			if point != "beforeManifest" || ran {
				return
			}
			ran = true
			// The first job holds the directory here, mid-run.
			_, second = e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond}).Run(ctx)
		}})
	res, err := first.Run(ctx)
	if err != nil || res.State != JobSucceeded {
		t.Fatalf("first job: %v %+v", err, res)
	}
	var le *dirlock.LockedError
	if !ran || !errors.Is(second, dirlock.ErrLocked) || !errors.As(second, &le) || le.Path != dir {
		t.Fatalf("second job: %v, want a dirlock.LockedError for %s", second, dir)
	}
	pkg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append(pkg.Manifest.Layers, pkg.Manifest.Tables...) {
		if l.Store == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, l.Store)); err != nil {
			t.Errorf("store %s: %v", l.Store, err)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("package directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	// The lock is released when the job ends.
	l, err := dirlock.Dir(dir)
	if err != nil {
		t.Fatalf("after the job: %v", err)
	}
	l.Unlock()
}
