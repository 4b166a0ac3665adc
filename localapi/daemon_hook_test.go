package localapi

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	editsync "github.com/offlined/offlined/sync"
)

// The daemon under the API in these tests is internal/daemon's (its maps,
// job manager and syncer) with the FeatureServer-compatible routes of
// localapi/featureserver. Both import localapi, so this package's internal
// tests cannot import them: daemon_link_test.go, an external test file
// compiled into the same test binary, sets NewTestDaemon and
// RegisterRoutes in its init.

// TestDaemonOptions configure NewTestDaemon.
type TestDaemonOptions struct {
	Root   string
	Client *arcgis.Client // nil: replicas are queued, never unregistered; no syncer
	Hub    *Hub
	Logger *slog.Logger
	// Run, when set, runs jobs (a fake offline job); nil: no jobs.
	Run TestRunFunc
	// RealJobs runs jobs with the daemon's offline runner (Client
	// required) instead of Run.
	RealJobs bool
	// Syncer adds the sync engine (Client required).
	Syncer bool
	// NoStart leaves the job manager unstarted until StartJobs.
	NoStart bool
}

// TestRunFunc is a fake offline job: it runs (or resumes) job into dir.
type TestRunFunc func(ctx context.Context, job JobInfo, dir string, rep JobReporter) error

// JobReporter receives a fake job's progress and, from runners that pause
// in place, its control.
type JobReporter interface {
	Progress(JobProgress)
	Attach(JobControl)
}

// JobControl pauses and resumes a running job in place.
type JobControl interface {
	Pause()
	Resume()
}

// TestMaps are the daemon's maps with registration.
type TestMaps interface {
	Maps
	Register(id string) error
}

// TestDaemon is internal/daemon's state on a data root, running until the
// test ends.
type TestDaemon struct {
	Maps     TestMaps
	Packages Packages
	Jobs     Jobs   // nil without Run
	Sync     Syncer // nil without Syncer
	// StartJobs starts the job manager (with NoStart), which resumes
	// interrupted jobs.
	StartJobs func()
	// StopJobs stops the job manager as a daemon shutdown does (running
	// jobs checkpoint and stay pending).
	StopJobs func()
	// ResumeNeedsAuth resumes jobs waiting for sign-in (credentials changed).
	ResumeNeedsAuth func()
	// RunSchedulers runs background sync schedulers until ctx ends.
	RunSchedulers func(ctx context.Context, opts editsync.SchedulerOptions, recheck time.Duration)
}

// NewTestDaemon opens the daemon's state on o.Root (set by
// daemon_link_test.go).
var NewTestDaemon func(t testing.TB, o TestDaemonOptions) *TestDaemon

// RegisterRoutes adds the FeatureServer-compatible routes to s (set by
// daemon_link_test.go).
var RegisterRoutes func(s *Server)
