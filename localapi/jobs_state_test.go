package localapi

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"

	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/offline"
)

// inPlaceRunner runs a job that pauses and resumes in place, as
// offline.Job does: it attaches itself as the job's control, reports half
// its progress, optionally waits for sign-in (needsAuth) until Resume, and
// finishes when finish is closed. It stands in for the real job where a
// test must hold the job at a known point (waiting for sign-in, paused at
// half its progress) and count its runs and pauses.
type inPlaceRunner struct {
	finish  chan struct{}
	resumed chan struct{}

	mu     stdsync.Mutex
	runs   int
	pauses int
}

func newInPlaceRunner() *inPlaceRunner {
	return &inPlaceRunner{finish: make(chan struct{}), resumed: make(chan struct{}, 1)}
}

func (r *inPlaceRunner) Pause() {
	r.mu.Lock()
	r.pauses++
	r.mu.Unlock()
}

func (r *inPlaceRunner) Resume() {
	select {
	case r.resumed <- struct{}{}:
	default:
	}
}

func (r *inPlaceRunner) counts() (runs, pauses int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs, r.pauses
}

func (r *inPlaceRunner) run(ctx context.Context, job JobInfo, dir string, rep JobReporter) error {
	r.mu.Lock()
	r.runs++
	r.mu.Unlock()
	rep.Attach(r)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	rep.Progress(JobProgress{State: offline.JobRunning, Phase: "running", Percent: 50, Message: "half"})
	if job.Request.Title == "auth" {
		rep.Progress(JobProgress{State: offline.JobNeedsAuth, Phase: "needsAuth", Percent: 50, Message: "needs authentication"})
		select {
		case <-r.resumed:
		case <-ctx.Done():
			return ctx.Err()
		}
		rep.Progress(JobProgress{State: offline.JobRunning, Phase: "running", Percent: 60})
	}
	select {
	case <-r.finish:
	case <-ctx.Done():
		return ctx.Err()
	}
	return os.WriteFile(filepath.Join(dir, "package.json"), []byte(fmt.Sprintf(`{"id":%q,"title":%q}`, job.MapID, job.Request.Title)), 0o600)
}

// A job waiting for sign-in shows needsAuth (not running) and resume
// works from it, continuing the same run (issue 11 live bug 3: it showed
// running and resume answered 409).
func TestJobNeedsAuthShownAndResumable(t *testing.T) {
	t.Parallel()
	r, e, id := startInPlaceJob(t, "auth")
	j := waitJob(t, e, id, string(offline.JobNeedsAuth))
	if p := j["progress"].(map[string]any); p["percent"].(float64) != 50 {
		t.Fatalf("progress while waiting for sign-in: %v", p)
	}
	st := e.jsonOf(e.do("GET", "/api/v1/status", nil), 200)
	if n := st["jobStates"].(map[string]any)["needsAuth"]; n != float64(1) {
		t.Fatalf("status job states %v", st["jobStates"])
	}
	r.resumeInPlace(t, e, id, "resume from needsAuth ran the job again")
}

// Pause uses the job's own Pause and Resume: the runner is not stopped and
// restarted, and the progress made stays (issue 11 live bug 3: pause was
// cancel and restart).
func TestJobPauseKeepsProgress(t *testing.T) {
	t.Parallel()
	r, e, id := startInPlaceJob(t, "Field")
	testutil.Eventually(t, "the job to report progress", func() bool {
		j := e.jsonOf(e.do("GET", "/api/v1/jobs/"+id, nil), 200)
		return j["progress"].(map[string]any)["percent"].(float64) == 50
	})
	p := e.jsonOf(e.do("POST", "/api/v1/jobs/"+id+"/pause", nil), 200)
	if p["state"] != string(offline.JobPaused) || p["progress"].(map[string]any)["percent"].(float64) != 50 {
		t.Fatalf("after pause: %v", p)
	}
	if _, pauses := r.counts(); pauses != 1 {
		t.Fatalf("the job's Pause was called %d times", pauses)
	}
	e.wantError(e.do("POST", "/api/v1/jobs/"+id+"/pause", nil), 409, "state")
	r.resumeInPlace(t, e, id, "pause and resume restarted the job")
}

// New credentials resume the jobs waiting for sign-in (the daemon calls
// ResumeNeedsAuth when credentials.json changes).
func TestResumeNeedsAuth(t *testing.T) {
	t.Parallel()
	r, e, id := startInPlaceJob(t, "auth")
	waitJob(t, e, id, string(offline.JobNeedsAuth))
	e.daemon.ResumeNeedsAuth()
	close(r.finish)
	j := waitJob(t, e, id, string(offline.JobSucceeded))
	if j["attempts"].(float64) != 1 {
		t.Fatalf("attempts %v", j["attempts"])
	}
}

// Job files written by older versions say "queued"; they are read as
// offline's pending (the one state machine) and resumed at start.
func TestLegacyQueuedJobReadAsPending(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "jobs", "old.json"), `{"id":"old","mapId":"m1","state":"queued","created":"2026-01-01T00:00:00Z","request":{"mapId":"m1","title":"M1"}}`)
	sr := &stepRunner{steps: 1}
	d := NewTestDaemon(t, TestDaemonOptions{Root: root, Hub: NewHub(0), Run: sr.run, NoStart: true})
	jm := d.Jobs
	ctx := t.Context()
	info, err := jm.Get(ctx, "old")
	if err != nil || info.State != offline.JobPending {
		t.Fatalf("legacy job %+v %v, want pending", info, err)
	}
	d.StartJobs()
	testutil.Eventually(t, "the legacy job to resume and succeed", func() bool {
		info, _ = jm.Get(ctx, "old")
		return info.State == offline.JobSucceeded
	})
}

// resumeInPlace resumes job id, lets the runner finish and checks that the
// job went on in place: one run, one attempt (else fails with restarted).
func (r *inPlaceRunner) resumeInPlace(t *testing.T, e *env, id, restarted string) {
	t.Helper()
	res := e.jsonOf(e.do("POST", "/api/v1/jobs/"+id+"/resume", nil), 200)
	if res["state"] != string(offline.JobRunning) {
		t.Fatalf("after resume: %v", res)
	}
	close(r.finish)
	j := waitJob(t, e, id, string(offline.JobSucceeded))
	if runs, _ := r.counts(); runs != 1 || j["attempts"].(float64) != 1 {
		t.Fatalf("%s: %d runs, %v attempts", restarted, runs, j["attempts"])
	}
}

// startInPlaceJob creates a job titled title (the runner waits for sign-in
// when it is "auth") run by a new inPlaceRunner.
func startInPlaceJob(t *testing.T, title string) (*inPlaceRunner, *env, string) {
	t.Helper()
	r := newInPlaceRunner()
	e := newEnv(t, envOpts{noMap: true, run: r.run})
	body := strings.Replace(jobBody, `"title":"Field"`, `"title":"`+title+`"`, 1)
	return r, e, e.jsonOf(e.do("POST", "/api/v1/jobs", strings.NewReader(body)), 201)["id"].(string)
}
