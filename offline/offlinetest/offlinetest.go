// Package offlinetest builds offline map packages for tests the way users
// get them: by running offline.Job against the ArcGIS emulator (as
// take-offline and the local API do), never by writing package files by
// hand, so every test sees what the package writer really writes.
package offlinetest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest/democlient"
)

// Options say which package to build. The zero value builds the demo
// "Field Survey" web map over DemoArea into a new temporary directory.
type Options struct {
	// WebMapID is the portal item of the web map (default
	// emulator.DemoWebMapFieldSurveyID).
	WebMapID string
	// Area is the area of interest (default DemoArea()).
	Area *arcgis.Geometry
	// MinScale and MaxScale bound the tile levels (default 150000 and
	// 70000: a few levels, a quick build).
	MinScale, MaxScale float64
	// Dir is the package directory (default a "pkg" directory under the
	// test's temporary directory).
	Dir string
	// Client talks to the emulator (default Client(tb, em)).
	Client *arcgis.Client
	// Parameters and Overrides, when set, edit the defaults before the job
	// runs (as a caller of take-offline --params / --overrides would).
	Parameters func(*offline.Parameters)
	Overrides  func(*offline.Overrides)
	// Job is passed to the job (Client is filled in).
	Job offline.JobOptions
	// Timeout bounds the build (default 60 s).
	Timeout time.Duration
}

// DemoArea is an area of the demo data that every demo layer covers.
func DemoArea() *arcgis.Geometry {
	f := func(v float64) *float64 { return &v }
	return &arcgis.Geometry{XMin: f(-117.25), YMin: f(33.98), XMax: f(-117.10), YMax: f(34.10),
		SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
}

// Client returns a REST client signed in to the emulator as the demo user,
// with quick retries and polling.
func Client(tb testing.TB, em *emulatortest.Server) *arcgis.Client {
	tb.Helper()
	return democlient.New(tb, em.PortalURL)
}

// BuildPackage runs an offline map job against the emulator and returns
// its result; the package is in result.Dir. It fails the test when the job
// does not succeed.
func BuildPackage(tb testing.TB, em *emulatortest.Server, opt Options) *offline.Result {
	tb.Helper()
	if opt.WebMapID == "" {
		opt.WebMapID = emulator.DemoWebMapFieldSurveyID
	}
	if opt.Area == nil {
		opt.Area = DemoArea()
	}
	if opt.MinScale == 0 && opt.MaxScale == 0 {
		opt.MinScale, opt.MaxScale = 150000, 70000
	}
	if opt.Dir == "" {
		opt.Dir = filepath.Join(tb.TempDir(), "pkg")
	}
	if opt.Client == nil {
		opt.Client = Client(tb, em)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), opt.Timeout)
	defer cancel()
	task, err := offline.NewTask(ctx, offline.Source{PortalURL: em.PortalURL, ItemID: opt.WebMapID}, opt.Client, opt.Client)
	if err != nil {
		tb.Fatalf("load web map %s: %v", opt.WebMapID, err)
	}
	p, err := task.CreateDefaultParameters(ctx, opt.Area, opt.MinScale, opt.MaxScale)
	if err != nil {
		tb.Fatalf("default parameters: %v", err)
	}
	if opt.Parameters != nil {
		opt.Parameters(p)
	}
	o, err := task.CreateOverrides(ctx, p)
	if err != nil {
		tb.Fatalf("overrides: %v", err)
	}
	if opt.Overrides != nil {
		opt.Overrides(o)
	}
	jo := opt.Job
	jo.Client = opt.Client
	if jo.PollInterval == 0 {
		jo.PollInterval = 2 * time.Millisecond
	}
	res, err := task.NewJob(p, o, opt.Dir, jo).Run(ctx)
	if err != nil {
		tb.Fatalf("offline map job into %s: %v", opt.Dir, err)
	}
	if res.State != offline.JobSucceeded {
		tb.Fatalf("offline map job into %s: state %s", opt.Dir, res.State)
	}
	return res
}
