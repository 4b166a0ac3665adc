package offline

import (
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/offline/offlinetest/democlient"
)

// TestJobLogsCarryNoToken runs the demo job through the emulator with a
// plain DEBUG handler (no redaction wrapper of its own) capturing every
// line of the client and the job, with connections cut now and then so
// that transport errors (whose text holds the request URL) are logged and
// retried. Neither the token nor the password may appear.
func TestJobLogsCarryNoToken(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator end-to-end")
	}
	em := newJobEnv(t, emulator.Options{}).em // the demo tiles, 1 ms job steps
	// Slow answers on some paths: the client's timeout turns them into
	// transport errors (*url.Error, whose text is the whole request URL,
	// token included) that are retried and logged at DEBUG.
	em.SetFaults(emulator.Faults{Latency: 400 * time.Millisecond, Paths: []string{"/queryDomains", "/2/query", "/tilemap/", "/query", "/exportTiles"}})
	var logs testutil.SyncBuffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newJobEnvFor(t, em, em.URL)
	c := democlient.New(t, em.PortalURL,
		arcgis.WithHTTPClient(&http.Client{Timeout: 150 * time.Millisecond}),
		arcgis.WithRetryPolicy(arcgis.RetryPolicy{MaxAttempts: 2, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Multiplier: 2, MaxElapsed: 20 * time.Second}),
		arcgis.WithLogger(lg))
	p := e.params(t)
	o := e.overrides(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	job := e.task.NewJob(p, o, filepath.Join(t.TempDir(), "pkg"), JobOptions{Client: c, PollInterval: 2 * time.Millisecond, Logger: lg})
	res, err := job.Run(ctx)
	if err != nil {
		t.Logf("job: %v", err)
		if strings.Contains(err.Error(), "token=") && !strings.Contains(err.Error(), "token=REDACTED") {
			t.Errorf("job error carries a token: %v", err)
		}
	} else if res.State != JobSucceeded {
		t.Logf("job state %s", res.State)
	}
	tok, err := c.TokenFor(ctx, em.ServicesURL+"/Field_Survey/FeatureServer")
	if err != nil || tok == "" {
		t.Fatalf("token: %q %v", tok, err)
	}
	out := logs.String()
	if !strings.Contains(out, "level=DEBUG") || !strings.Contains(out, "Client.Timeout") {
		t.Fatalf("no DEBUG retry lines were logged; the test does not exercise the log path:\n%.2000s", out)
	}
	for _, secret := range []string{tok, emulator.DemoPassword} {
		if n := strings.Count(out, secret); n > 0 {
			i := strings.Index(out, secret)
			t.Fatalf("log has %d occurrences of a secret, e.g. …%s…", n, out[max(0, i-200):min(len(out), i+50)])
		}
	}
}
