package offline

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

// The child half of TestJobResumeAfterKill: run the demo job against the
// parent's emulator into OFFLINED_TEST_DIR, killing itself with SIGKILL at
// the hook point OFFLINED_TEST_KILL_AT.
func TestJobChild(t *testing.T) {
	root := os.Getenv("OFFLINED_TEST_EMULATOR")
	if root == "" {
		t.Skip("child process of TestJobResumeAfterKill")
	}
	e := newJobEnvFor(t, nil, root)
	p := e.params(t)
	o := e.overrides(t, p)
	killAt := os.Getenv("OFFLINED_TEST_KILL_AT")
	job := e.task.NewJob(p, o, os.Getenv("OFFLINED_TEST_DIR"), JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond,
		Hook: func(point string) {
			if point == killAt {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Minute)
			}
		}})
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func runChild(t *testing.T, root, dir, killAt string) error {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestJobChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "OFFLINED_TEST_EMULATOR="+root, "OFFLINED_TEST_DIR="+dir, "OFFLINED_TEST_KILL_AT="+killAt)
	out, err := cmd.CombinedOutput()
	if err != nil && killAt == "" {
		t.Logf("child output:\n%s", out)
	}
	return err
}

func TestJobResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	e := newJobEnv(t, emulator.Options{})
	ref := filepath.Join(t.TempDir(), "ref")
	if err := runChild(t, e.em.URL, ref, ""); err != nil {
		t.Fatalf("uninterrupted run: %v", err)
	}
	want := packageDigest(t, ref)
	if len(want) < 4 {
		t.Fatalf("reference digest too small: %v", want)
	}
	points := []string{"replicaRequested", "replicaAnswered", "replicaSubmitted", "replicaCreated", "replicaFetched", "tilesBatch", "serviceDone", "beforeManifest"}
	if raceEnabled && os.Getenv("OFFLINED_KILL_ALL") == "" {
		// Under -race each child takes seconds: three points (a replica
		// job in flight, a tile download, the manifest) keep it short.
		points = []string{"replicaSubmitted", "tilesBatch", "beforeManifest"}
	}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "pkg")
			e.em.Log().Reset()
			err := runChild(t, e.em.URL, dir, point)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child was not killed at %s: %v", point, err)
			}
			if _, err := Open(dir); err == nil {
				t.Fatalf("killed at %s, yet the package opens", point)
			}
			if _, err := os.Stat(filepath.Join(dir, JournalFile)); err != nil {
				t.Fatalf("no journal after the kill: %v", err)
			}
			sent, inFlight := e.em.Log().Count(createReplicaPath), replicaInFlight(t, dir)
			if err := runChild(t, e.em.URL, dir, ""); err != nil {
				t.Fatalf("resume after kill at %s: %v", point, err)
			}
			if got := packageDigest(t, dir); !reflect.DeepEqual(got, want) {
				t.Errorf("package after kill at %s differs:\n got %v\nwant %v", point, got, want)
			}
			// Nothing finished was redone: the resume sends createReplica
			// only when the killed run had not saved its answer (phase
			// requested: the kill can land there at any point, tilesBatch
			// included, as tiles and features download side by side; the
			// resume removes the orphan, checked below), and then once.
			want := sent
			if inFlight || sent == 0 {
				want++
			}
			if n := e.em.Log().Count(createReplicaPath); n != want {
				t.Errorf("createReplica sent %d times (%d before the kill, answer saved: %v), want %d", n, sent, !inFlight, want)
			}
			if point == "replicaFetched" || point == "serviceDone" || point == "beforeManifest" {
				if n := len(e.em.Log().Matching("/replicafiles/")) + len(e.em.Log().Matching("/replicas/")); n > 0 && point == "beforeManifest" {
					t.Logf("%d replica file requests", n)
				}
			}
			if _, err := Open(dir); err != nil {
				t.Fatal(err)
			}
			validateGeoPackages(t, dir)
		})
	}
	// One live replica per package: interrupted runs left no orphans.
	if n := len(e.em.Replicas("Field_Survey")); n != 1+len(points) {
		t.Errorf("%d replicas registered on the server, want %d", n, 1+len(points))
	}
}

const createReplicaPath = "/Field_Survey/FeatureServer/createReplica"

// replicaInFlight reports whether the journal in dir has a replica step
// that sent (or was about to send) createReplica without saving the answer.
func replicaInFlight(t *testing.T, dir string) bool {
	t.Helper()
	jr, err := loadJournal(dir)
	if err != nil || jr == nil {
		t.Fatalf("journal after the kill: %v", err)
	}
	for _, s := range jr.Steps {
		if s.ReplicaPhase == replicaRequested {
			return true
		}
	}
	return false
}

// failZones makes every query on the Reference_Data layer fail.
func failZones(e *jobEnv) {
	e.em.SetFaults(emulator.Faults{ErrorRate: 1, Paths: []string{"/Reference_Data/FeatureServer/0/query"}})
}

func TestJobContinueOnErrors(t *testing.T) {
	e := newJobEnv(t, emulator.Options{})
	zones := LayerKey(e.em.ServicesURL+"/Reference_Data/FeatureServer", 0)
	fs := LayerKey(e.em.ServicesURL+"/Field_Survey/FeatureServer", 0)

	t.Run("true", func(t *testing.T) {
		p := e.params(t)
		p.ContinueOnErrors = true
		o := e.overrides(t, p)
		failZones(e)
		defer e.em.SetFaults(emulator.Faults{})
		dir := filepath.Join(t.TempDir(), "pkg")
		res, err := e.run(t, p, o, dir)
		if err != nil {
			t.Fatal(err)
		}
		le := res.LayerErrors[zones]
		if !res.HasErrors || le == nil || le.Layer != "Zones" || !strings.Contains(le.Service, "Reference_Data") || le.Call == "" || le.Message == "" {
			t.Fatalf("layer errors %+v", res.LayerErrors)
		}
		if _, ok := res.LayerErrors[fs]; ok || len(res.TableErrors) != 0 {
			t.Errorf("unexpected errors %+v %+v", res.LayerErrors, res.TableErrors)
		}
		// Online-only / excluded layers are not errors.
		if len(jobErrors(res.LayerErrors)) != 1 {
			t.Errorf("%d layer errors, want 1: %+v", len(res.LayerErrors), res.LayerErrors)
		}
		pkg, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		if l := pkg.Layer(zones); l == nil || l.Error == nil || l.Store != "" {
			t.Errorf("zones entry %+v", l)
		}
		if l := pkg.Layer(fs); l == nil || l.Store == "" || l.Features == 0 {
			t.Errorf("inspections entry %+v", l)
		}
		for _, en := range pkg.Map.Entries() {
			if en.Key == zones {
				t.Errorf("failed layer Zones kept in map.json")
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "data", "Reference_Data.gpkg")); !os.IsNotExist(err) {
			t.Errorf("partial snapshot store left: %v", err)
		}
		validateGeoPackages(t, dir)
	})

	t.Run("false", func(t *testing.T) {
		p := e.params(t)
		p.ContinueOnErrors = false
		// Keep the online-only layers online: a left-out error would stop
		// the job before the failing step this test is about.
		p.OnlineOnlyServicesOption = OnlineOnlyInclude
		o := e.overrides(t, p)
		before := len(e.em.Replicas("Field_Survey"))
		failZones(e)
		defer e.em.SetFaults(emulator.Faults{})
		dir := filepath.Join(t.TempDir(), "pkg")
		res, err := e.run(t, p, o, dir)
		if err == nil {
			t.Fatal("job succeeded despite the failing layer")
		}
		if res == nil || !res.HasErrors || res.LayerErrors[zones] == nil || res.State != JobFailed {
			t.Fatalf("result %+v", res)
		}
		// Cleaned up: no files, replicas unregistered.
		names, _ := os.ReadDir(dir)
		if len(names) != 0 {
			t.Errorf("left behind: %v", names)
		}
		if n := len(e.em.Replicas("Field_Survey")); n != before {
			t.Errorf("%d replicas after cleanup, want %d", n, before)
		}
	})
}

func TestJobCancelPauseNeedsAuth(t *testing.T) {
	e := newJobEnv(t, emulator.Options{})
	ctx := context.Background()

	t.Run("cancel", func(t *testing.T) {
		p := e.params(t)
		o := e.overrides(t, p)
		before := len(e.em.Replicas("Field_Survey"))
		dir := filepath.Join(t.TempDir(), "pkg")
		var job *Job
		job = e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond,
			Hook: func(pt string) {
				if pt == "replicaCreated" {
					go job.Cancel()
				}
			}})
		res, err := job.Run(ctx)
		if !errors.Is(err, context.Canceled) || res == nil || !res.Canceled || res.State != JobCanceled {
			t.Fatalf("cancel: %+v %v", res, err)
		}
		if names, _ := os.ReadDir(dir); len(names) != 0 {
			t.Errorf("left behind: %v", names)
		}
		if n := len(e.em.Replicas("Field_Survey")); n != before {
			t.Errorf("replica of the canceled job still registered (%d, want %d)", n, before)
		}
	})

	t.Run("pause", func(t *testing.T) {
		p := e.params(t)
		o := e.overrides(t, p)
		dir := filepath.Join(t.TempDir(), "pkg")
		var job *Job
		paused := make(chan struct{})
		once := false
		job = e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond, Concurrency: 1,
			Hook: func(pt string) {
				if pt == "serviceDone" && !once {
					once = true
					job.Pause()
					close(paused)
				}
			}})
		done := make(chan error, 1)
		go func() { _, err := job.Run(ctx); done <- err }()
		<-paused
		time.Sleep(50 * time.Millisecond)
		if s := job.State(); s != JobPaused {
			t.Errorf("state %s while paused", s)
		}
		n := e.em.Log().Count("/tile/")
		time.Sleep(50 * time.Millisecond)
		if m := e.em.Log().Count("/tile/"); m != n {
			t.Errorf("tile requests went on while paused (%d → %d)", n, m)
		}
		job.Resume()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("needsAuth", func(t *testing.T) {
		c, err := arcgis.New(arcgis.WithPortal(e.em.PortalURL), arcgis.WithCredential(arcgis.StaticToken(e.em.IssueToken(emulator.DemoUser))),
			arcgis.WithRetryPolicy(arcgis.NoRetry()), arcgis.WithPollInterval(2*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		p := e.params(t)
		o := e.overrides(t, p)
		dir := filepath.Join(t.TempDir(), "pkg")
		var job *Job
		fired := false
		waiting := make(chan struct{})
		job = e.task.NewJob(p, o, dir, JobOptions{Client: c, PollInterval: 2 * time.Millisecond, Concurrency: 1,
			Hook: func(pt string) {
				if pt == "replicaSubmitted" && !fired {
					fired = true
					e.em.SetFaults(emulator.Faults{ExpireTokensNow: true})
				}
			},
			Progress: func(pr Progress) {
				if pr.State == JobNeedsAuth {
					select {
					case <-waiting:
					default:
						close(waiting)
					}
				}
			}})
		done := make(chan error, 1)
		go func() { _, err := job.Run(ctx); done <- err }()
		select {
		case <-waiting:
		case err := <-done:
			t.Fatalf("job ended without waiting for authentication: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("no needsAuth state")
		}
		if s := job.State(); s != JobNeedsAuth {
			t.Errorf("state %s", s)
		}
		c.Credentials().SetFallback(arcgis.StaticToken(e.em.IssueToken(emulator.DemoUser)))
		job.Resume()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAbandonJob(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	e := newJobEnv(t, emulator.Options{})
	dir := filepath.Join(t.TempDir(), "pkg")
	if err := runChild(t, e.em.URL, dir, "replicaCreated"); err == nil {
		t.Fatal("child was not killed")
	}
	if n := len(e.em.Replicas("Field_Survey")); n != 1 {
		t.Fatalf("%d replicas after the kill, want the job's one", n)
	}
	if err := AbandonJob(context.Background(), dir, e.c); err != nil {
		t.Fatal(err)
	}
	if n := len(e.em.Replicas("Field_Survey")); n != 0 {
		t.Errorf("abandoned job's replica still registered (%d)", n)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
	if err := AbandonJob(context.Background(), dir, e.c); err == nil {
		t.Error("abandoning an empty directory succeeded")
	}
}

func TestJobTokenRenewedMidJob(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	expired := false
	var states []JobState
	job := e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond, Concurrency: 1,
		Hook: func(pt string) {
			if pt == "replicaSubmitted" && !expired {
				expired = true
				e.em.SetFaults(emulator.Faults{ExpireTokensNow: true})
			}
		},
		Progress: func(pr Progress) { states = append(states, pr.State) }})
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s == JobNeedsAuth {
			t.Fatal("a renewable credential made the job wait for authentication")
		}
	}
	if n := e.em.Log().Count("/generateToken"); n < 2 {
		t.Errorf("token not renewed (%d generateToken calls)", n)
	}
}

func TestJobCancelWhilePaused(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	var job *Job
	paused := make(chan struct{})
	job = e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond, Concurrency: 1,
		Hook: func(pt string) {
			if pt == "serviceDone" && job.State() == JobRunning {
				job.Pause()
				close(paused)
			}
		}})
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() { r, err := job.Run(context.Background()); done <- out{r, err} }()
	<-paused
	e.em.Log().Reset()
	job.Cancel()
	r := <-done
	if r.res == nil || !r.res.Canceled || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancel while paused: %+v %v", r.res, r.err)
	}
	if n := e.em.Log().Count("/tile/") + e.em.Log().Count("/createReplica"); n != 0 {
		t.Errorf("%d requests after the cancel of a paused job", n)
	}
	if len(e.em.Replicas("Field_Survey")) != 0 {
		t.Errorf("replica left registered")
	}
}

// A kill during the first journal write leaves only the journal's temporary
// file: the restart must treat the directory as empty, not refuse it.
func TestJobResumeAfterKillAtFirstJournalWrite(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, JournalFile+".tmp"), []byte(`{"version":1,"id":"trunc`), 0o644)
	if _, err := e.run(t, p, o, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	// Anything else in the directory is still refused.
	other := filepath.Join(t.TempDir(), "other")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, JournalFile+".tmp"), nil, 0o644)
	os.WriteFile(filepath.Join(other, "notes.txt"), nil, 0o644)
	if _, err := e.run(t, p, o, other); !HasCode(err, ErrTargetNotEmpty) {
		t.Errorf("directory with foreign content: %v", err)
	}
}

// Tokens expiring again and again during a vector tile download are
// renewed; the layer does not fail.
func TestJobVectorTilesTokenExpiry(t *testing.T) {
	tiles := emulator.DemoTileOptions()
	tiles.WorkDir = t.TempDir()
	slow := emulator.Faults{Latency: 20 * time.Millisecond, Paths: []string{"/VectorTileServer/tile/"}}
	e := newJobEnv(t, emulator.Options{Tiles: tiles, Faults: slow})
	p := e.params(t)
	o := e.overrides(t, p)
	o.GenerateGeodatabase = map[Key]*GenerateGeodatabaseParameters{}
	o.ExportTileCache = map[Key]*ExportTileCacheParameters{}
	// Invalidate every token once the vector download is under way (after
	// its tenth tile request): the rest of the layer must renew, not fail.
	// Token errors are answered as HTTP 403 so the request log shows them.
	stop := make(chan struct{})
	expired := make(chan struct{})
	go func() {
		defer close(expired)
		for e.em.Log().Count("/VectorTileServer/tile/") < 10 {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		f := slow
		f.ExpireTokensNow, f.TokenErrorAsHTTP = true, true
		e.em.SetFaults(f)
	}()
	res, err := e.run(t, p, o, filepath.Join(t.TempDir(), "pkg"))
	close(stop)
	<-expired
	if err != nil {
		t.Fatal(err)
	}
	if len(jobErrors(res.LayerErrors)) > 0 {
		t.Fatalf("layer errors %+v", res.LayerErrors)
	}
	n := int64(0)
	for _, l := range res.Manifest.Layers {
		n += l.Tiles
	}
	if n == 0 {
		t.Error("no vector tiles")
	}
	rejected := 0
	for _, en := range e.em.Log().Matching("/VectorTileServer/tile/") {
		if en.Status == 401 || en.Status == 403 {
			rejected++
		}
	}
	if rejected == 0 {
		t.Fatal("no tile request met an expired token: the test did not exercise renewal")
	}
	if r := e.em.Log().Count("/generateToken"); r < 2 {
		t.Errorf("%d generateToken calls, want a renewal after the expiry", r)
	}
}

func TestIsDiskFull(t *testing.T) {
	for _, tc := range []struct {
		err  error
		full bool
	}{
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{errors.New("load replica: database or disk is full (13)"), true},
		{errors.New("write tiles: no space left on device"), true},
		{errors.New("createReplica: Invalid token"), false},
		{context.Canceled, false},
	} {
		if got := isDiskFull(tc.err); got != tc.full {
			t.Errorf("isDiskFull(%v) = %v", tc.err, got)
		}
	}
}

// A passing server error on the vector style is retried by the job.
func TestJobVectorStyleTransientError(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	o.GenerateGeodatabase = map[Key]*GenerateGeodatabaseParameters{}
	o.ExportTileCache = map[Key]*ExportTileCacheParameters{}
	e.em.SetFaults(emulator.Faults{ErrorBurst: 1, Paths: []string{"/resources/styles/root.json"}})
	res, err := e.run(t, p, o, filepath.Join(t.TempDir(), "pkg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(jobErrors(res.LayerErrors)) > 0 {
		t.Fatalf("layer errors %+v", res.LayerErrors)
	}
	if n := e.em.Log().Count("/resources/styles/root.json"); n < 2 {
		t.Errorf("style fetched %d times; the injected 503 was not seen", n)
	}
}
