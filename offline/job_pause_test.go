package offline_test

import (
	"context"
	"path/filepath"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/offline"
)

// A pause followed at once by Resume, before the interrupted steps have
// returned, still runs those steps again: the job used to see "not paused"
// and write the package with the cut-short layers missing (found when the
// daemon started pausing jobs in place, issue 11 live bug 3).
func TestPauseResumeAtOnceFinishesEveryStep(t *testing.T) {
	d := startDemo(t, false, 20000)
	c, task, p, o := d.c, d.task, d.p, d.o
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var job *offline.Job
	var once stdsync.Once
	paused := false
	job = task.NewJob(p, o, filepath.Join(t.TempDir(), "pkg"), offline.JobOptions{Client: c, PollInterval: 2 * time.Millisecond,
		Hook: func(point string) {
			if point == "tilesBatch" {
				once.Do(func() {
					job.Pause()
					job.Resume()
					paused = true
				})
			}
		}})
	res, err := job.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !paused {
		t.Fatal("the job never reached a tile batch")
	}
	if res.State != offline.JobSucceeded {
		t.Fatalf("state %s", res.State)
	}
	for _, lp := range job.Progress().Layers {
		if !lp.Done {
			t.Errorf("layer %s (%s) not done after the job succeeded: %+v", lp.Key, lp.Kind, *lp)
		}
	}
}
