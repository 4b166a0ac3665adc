package sync

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/testutil"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, cond)
}

func TestSchedulerWakesOnLocalAndExternalChanges(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, fixtureOpts{})
	s := NewScheduler(f.eng, SchedulerOptions{Interval: -1, Debounce: 50 * time.Millisecond, ProbeMin: 20 * time.Millisecond, ProbeMax: 100 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("Run returned %v", err)
		}
	}()
	// In-process edit: geodb notification.
	gids := addLocal(t, f, 1, "sched")
	waitFor(t, "in-process edit synced", func() bool { _, ok := f.em.Feature(svcName, 0, gids[0]); return ok })
	// Another process writes the GeoPackage: fsnotify.
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("sqlite3 CLI not installed")
	}
	// The attribute table: the sqlite3 CLI lacks the ST_* functions the
	// RTree triggers of spatial tables call (QGIS/GDAL bring their own).
	table := f.db.TableByID(3).Name
	out, err := exec.Command(sqlite, f.path, "PRAGMA busy_timeout=5000; INSERT INTO \""+table+"\" (Note) VALUES ('external1');").CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	waitFor(t, "external edit synced", func() bool {
		fs, _ := f.em.Features(svcName, 3, "Note = 'external1'")
		return len(fs) == 1
	})
	// SyncNow answers with the report.
	rep, err := s.SyncNow(ctx)
	if err != nil || rep == nil {
		t.Fatalf("SyncNow: %v", err)
	}
	st, _ := f.eng.Status(ctx)
	if st.PendingEdits != 0 || st.LastSuccess.IsZero() {
		t.Errorf("status %+v", st)
	}
}

func TestSchedulerProbesWhileOffline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := newFixture(t, fixtureOpts{})
	// An engine whose client points at a closed port: offline.
	dead, err := arcgis.New(arcgis.WithPortal("http://127.0.0.1:1/sharing/rest"), arcgis.WithRetryPolicy(fastRetry()))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := LoadConfig(ctx, f.db)
	good := cfg.ServiceURL
	cfg.ServiceURL = "http://127.0.0.1:1/arcgis/rest/services/Field_Survey/FeatureServer"
	if err := SaveConfig(ctx, f.db, cfg); err != nil {
		t.Fatal(err)
	}
	eng := New(f.db, dead, Options{})
	probes := make(chan time.Time, 100)
	online := make(chan struct{})
	s := NewScheduler(eng, SchedulerOptions{Interval: -1, Debounce: 10 * time.Millisecond, ProbeMin: 20 * time.Millisecond, ProbeMax: 80 * time.Millisecond,
		Probe: func(ctx context.Context) error {
			probes <- time.Now()
			select {
			case <-online:
				return nil
			default:
				return context.DeadlineExceeded
			}
		}})
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	gids := addLocal(t, f, 1, "offline")
	var times []time.Time
	for len(times) < 4 {
		select {
		case tm := <-probes:
			times = append(times, tm)
		case <-time.After(5 * time.Second):
			t.Fatal("no probes while offline")
		}
	}
	if st, _ := eng.Status(ctx); st.State != StateOffline || st.PendingEdits != 1 {
		t.Errorf("status %+v, want offline with the edit kept", st)
	}
	// Timers never fire early, so each gap is at least the doubled backoff
	// (20 → 40 → 80 ms, capped at 80 ms).
	for i, want := range []time.Duration{40 * time.Millisecond, 80 * time.Millisecond, 80 * time.Millisecond} {
		if gap := times[i+1].Sub(times[i]); gap < want {
			t.Errorf("probe gap %d = %v, want at least %v (exponential backoff)", i+1, gap, want)
		}
	}
	// Connectivity returns (the server URL is reachable again).
	cfg.ServiceURL = good
	if err := SaveConfig(ctx, f.db, cfg); err != nil {
		t.Fatal(err)
	}
	eng.c = f.client
	close(online)
	waitFor(t, "sync after connectivity returned", func() bool { _, ok := f.em.Feature(svcName, 0, gids[0]); return ok })
	cancel()
	<-done
}

func TestUnregisterQueue(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	path := filepath.Join(t.TempDir(), "unregister.json")
	dead, _ := arcgis.New(arcgis.WithRetryPolicy(fastRetry()))
	q := OpenUnregisterQueue(path, dead)
	cfg, _ := LoadConfig(ctx, f.db)
	deadCfg := cfg
	if err := q.AddPackage(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	_ = deadCfg
	// Offline: the entry stays (the dead client cannot reach the replica's
	// host because the emulator is replaced by a closed port).
	q2 := OpenUnregisterQueue(path, &failingClient{Client: f.client})
	if left, err := q2.Drain(ctx); left != 1 || err == nil {
		t.Fatalf("offline drain left %d (%v), want 1 and an error", left, err)
	}
	p, _ := q.Pending()
	if len(p) != 1 || p[0].Attempts != 1 || p[0].LastError == "" {
		t.Errorf("pending after failure: %+v", p)
	}
	// Online again (a new process opening the same queue file).
	q3 := OpenUnregisterQueue(path, f.client)
	if err := q3.Run(ctx, time.Millisecond, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.em.Replicas(svcName) {
		if r.ReplicaID == cfg.ReplicaID {
			t.Errorf("replica %s still registered", cfg.ReplicaID)
		}
	}
	if p, _ := q3.Pending(); len(p) != 0 {
		t.Errorf("queue not empty: %+v", p)
	}
}

// failingClient fails unregistration as an unreachable server would.
type failingClient struct{ *arcgis.Client }

func (c *failingClient) UnregisterReplica(ctx context.Context, svcURL, id string) error {
	return &netErr{}
}

type netErr struct{}

func (*netErr) Error() string   { return "dial tcp: connection refused" }
func (*netErr) Timeout() bool   { return false }
func (*netErr) Temporary() bool { return true }
