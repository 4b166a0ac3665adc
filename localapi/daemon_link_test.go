package localapi_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/daemon"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/localapi/featureserver"
	editsync "github.com/offlined/offlined/sync"
)

// This external test file links internal/daemon and localapi/featureserver
// into localapi's tests (see daemon_hook_test.go).
func init() {
	localapi.NewTestDaemon = newTestDaemon
	localapi.RegisterRoutes = featureserver.Register
}

// reporter adapts the daemon's job reporter to the tests' one.
type reporter struct{ r daemon.JobReporter }

func (r reporter) Progress(p localapi.JobProgress) { r.r.Progress(p) }
func (r reporter) Attach(c localapi.JobControl)    { r.r.Attach(c) }

func newTestDaemon(t testing.TB, o localapi.TestDaemonOptions) *localapi.TestDaemon {
	t.Helper()
	var unreg editsync.Unregisterer
	if o.Client != nil {
		unreg = o.Client
	}
	reg, err := daemon.OpenRegistry(o.Root, daemon.RegistryOptions{Logger: o.Logger,
		Unregister: editsync.OpenUnregisterQueue(filepath.Join(o.Root, daemon.UnregisterFile), unreg)})
	if err != nil {
		t.Fatal(err)
	}
	d := &localapi.TestDaemon{Maps: reg, Packages: reg, StartJobs: func() {}, StopJobs: func() {}, ResumeNeedsAuth: func() {}}
	var stops []func()
	if o.Run != nil || o.RealJobs {
		run := func(ctx context.Context, job localapi.JobInfo, dir string, rep daemon.JobReporter) error {
			return o.Run(ctx, job, dir, reporter{rep})
		}
		if o.RealJobs {
			run = daemon.OfflineRunner(o.Client, nil, o.Logger)
		}
		jm, err := daemon.NewJobManager(o.Root, reg, o.Hub, run, o.Logger)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		d.StartJobs = func() { jm.Start(ctx) }
		if !o.NoStart {
			d.StartJobs()
		}
		stopped := false
		d.StopJobs = func() {
			if !stopped {
				stopped = true
				cancel()
				jm.Shutdown()
			}
		}
		d.ResumeNeedsAuth = jm.ResumeNeedsAuth
		d.Jobs = jm
		stops = append(stops, d.StopJobs)
	}
	if o.Syncer {
		ctx, cancel := context.WithCancel(context.Background())
		sy := daemon.NewEngineSyncer(ctx, reg, o.Client, o.Hub, o.Logger)
		d.Sync = sy
		d.RunSchedulers = sy.RunSchedulers
		stops = append(stops, func() { cancel(); sy.Wait() })
	}
	t.Cleanup(func() {
		for _, stop := range stops {
			stop()
		}
		reg.Close()
	})
	return d
}
