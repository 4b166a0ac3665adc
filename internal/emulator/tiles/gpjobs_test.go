package tiles

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

func waitJob(t *testing.T, j *gpJob) map[string]any {
	t.Helper()
	select {
	case <-j.done:
	case <-time.After(10 * time.Second):
		t.Fatal("job did not finish")
	}
	return j.jobJSON()
}

func TestGPJobsLifecycle(t *testing.T) {
	g := newGPJobs(1, time.Millisecond)
	defer g.close()
	started := make(chan struct{})
	release := make(chan struct{})
	ok := g.submit("", map[string]any{"levels": "1"}, func(ctx context.Context, j *gpJob) error {
		close(started)
		<-release
		j.info("working")
		j.setResult("out", "GPString", func(r *http.Request) any { return "v:" + r.Host })
		return nil
	})
	if st := ok.jobJSON()["jobStatus"]; st != arcgis.JobSubmitted && st != arcgis.JobExecuting {
		t.Errorf("first status %v", st)
	}
	<-started
	if st := ok.jobJSON()["jobStatus"]; st != arcgis.JobExecuting {
		t.Errorf("running status %v", st)
	}
	if len(ok.jobJSON()["results"].(map[string]any)) != 0 {
		t.Error("results before success")
	}
	close(release)
	js := waitJob(t, ok)
	res := js["results"].(map[string]any)["out"].(map[string]string)
	if js["jobStatus"] != arcgis.JobSucceeded || res["paramUrl"] != "results/out" || js["inputs"].(map[string]any)["levels"] == nil {
		t.Errorf("succeeded job %v", js)
	}
	if v := ok.results["out"].value(httptest.NewRequest("GET", "http://h:1/x", nil)); v != "v:h:1" {
		t.Errorf("result value %v", v)
	}

	bad := g.submit("_et", nil, func(context.Context, *gpJob) error { return errors.New("ERROR 000001: boom") })
	js = waitJob(t, bad)
	msgs := js["messages"].([]arcgis.JobMessage)
	if js["jobStatus"] != arcgis.JobFailed || !strings.HasSuffix(bad.id, "_et") || msgs[len(msgs)-2].Type != arcgis.JobMessageError || msgs[len(msgs)-2].Description != "ERROR 000001: boom" {
		t.Errorf("failed job %v", js)
	}
	if ok.id == bad.id || g.get(ok.id) != ok || g.get("nope") != nil {
		t.Error("job lookup")
	}
}

func TestGPJobsCloseCancelsRunning(t *testing.T) {
	g := newGPJobs(1, time.Millisecond)
	running := make(chan struct{})
	j := g.submit("", nil, func(ctx context.Context, j *gpJob) error {
		close(running)
		<-ctx.Done()
		return ctx.Err()
	})
	<-running
	g.close() // returns only after the job goroutine ended
	if st := j.jobJSON()["jobStatus"]; st != arcgis.JobCancelled {
		t.Errorf("status after close %v", st)
	}
}
