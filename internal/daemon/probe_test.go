package daemon

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// The daemon's schedulers probe the portal while offline (bug: no Probe
// was set, so every retry was a full sync).
func TestSchedulerOptionsProbeThePortal(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusNotFound) // any answer means reachable
	}))
	defer srv.Close()
	c, err := arcgis.New(arcgis.WithPortal(srv.URL + "/sharing/rest"))
	if err != nil {
		t.Fatal(err)
	}
	opts := SchedulerOptions(c, time.Minute, slog.New(slog.DiscardHandler))
	if opts.Probe == nil || opts.Interval != time.Minute {
		t.Fatalf("options %+v: want a probe and the interval", opts)
	}
	if err := opts.Probe(t.Context()); err != nil || hits.Load() != 1 {
		t.Errorf("probe of a reachable portal: %v (%d requests)", err, hits.Load())
	}
	srv.Close()
	if err := opts.Probe(t.Context()); err == nil {
		t.Error("probe of a closed portal succeeded")
	}
	if opts := SchedulerOptions(nil, time.Minute, nil); opts.Probe != nil {
		t.Error("probe without a portal")
	}
}
