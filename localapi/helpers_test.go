package localapi

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/localapi/localapitest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
	editsync "github.com/offlined/offlined/sync"
)

const (
	testToken = localapitest.Token
	svcName   = localapitest.Service
)

// env is a daemon API over a data root holding one offline map "demo":
// the one-service demo package (offlinetest.DemoOptions: Field_Survey as a
// replica, the Demo_Basemap raster and Demo_Vector vector tile layers)
// built by a real offline job from the emulator.
type env struct {
	*localapitest.Client
	t      *testing.T
	root   string
	em     *emulatortest.Server
	client *arcgis.Client
	reg    TestMaps
	srv    *Server
	hs     *httptest.Server
	hub    *Hub
	logs   *testutil.SyncBuffer
	svcURL string
	daemon *TestDaemon
}

type envOpts struct {
	jobs        Jobs
	run         TestRunFunc
	realJobs    bool // jobs run the daemon's real offline runner
	cors        []string
	maxBody     int64
	maxAttach   int64
	bodyTimeout time.Duration
	noMap       bool
	noPackages  bool
	withSyncer  bool
	withPlanner bool
	// fresh builds the package from this test's emulator (needed when the
	// test syncs or unregisters); otherwise the shared template is copied.
	fresh bool
	// packages are more package directories copied under packages/ (name →
	// source directory), e.g. ones built by offlinetest.BuildPackage.
	packages map[string]string
}

// template is the demo package built once by TestMain (read-only).
var template localapitest.Template

func TestMain(m *testing.M) { localapitest.RunWithTemplate(m, &template, offlinetest.DemoOptions()) }

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, root: t.TempDir(), logs: &testutil.SyncBuffer{}}
	e.em = emulatortest.Start(t, emulator.Options{})
	c := offlinetest.Client(t, e.em)
	e.client = c
	e.svcURL = e.em.ServicesURL + "/" + svcName + "/FeatureServer"
	demoDir := filepath.Join(e.root, "packages", localapitest.MapID)
	switch {
	case o.noMap:
	case o.fresh:
		opt := offlinetest.DemoOptions()
		opt.Dir, opt.Client = demoDir, c
		offlinetest.BuildPackage(t, e.em, opt)
	default:
		template.CopyTo(t, demoDir)
	}
	for name, src := range o.packages {
		offlinetest.CopyDir(t, src, filepath.Join(e.root, "packages", name))
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.hub = NewHub(0)
	d := NewTestDaemon(t, TestDaemonOptions{Root: e.root, Client: c, Hub: e.hub, Logger: log, Run: o.run, RealJobs: o.realJobs, Syncer: o.withSyncer})
	e.daemon, e.reg = d, d.Maps
	opts := Options{Token: testToken, Maps: e.reg, Hub: e.hub, Logger: log, CORSOrigins: o.cors,
		MaxBodyBytes: o.maxBody, MaxAttachmentBytes: o.maxAttach, BodyTimeout: o.bodyTimeout, Version: "test", KeepAlive: 50 * time.Millisecond, Portal: c}
	if o.jobs != nil {
		opts.Jobs = o.jobs
	}
	if d.Jobs != nil {
		opts.Jobs = d.Jobs
	}
	if d.Sync != nil {
		opts.Sync = d.Sync
	}
	if !o.noPackages {
		opts.Packages = d.Packages
	}
	if o.withPlanner {
		opts.Planner = &TaskPlanner{Portal: c, Services: c}
	}
	var err error
	e.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	RegisterRoutes(e.srv)
	e.hs = httptest.NewServer(e.srv)
	t.Cleanup(e.hs.Close)
	// Requests are checked against openapi.json (openapi_contract_test.go).
	e.Client = &localapitest.Client{TB: t, URL: e.hs.URL, HTTP: contractClient(t)}
	return e
}

func writeFile(t testing.TB, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// do sends a request with the API token (see localapitest.Client.Do).
func (e *env) do(method, path string, body io.Reader, hdr ...string) *http.Response {
	e.t.Helper()
	return e.Do(method, path, body, hdr...)
}

// jsonOf decodes a response body, checking the status.
func (e *env) jsonOf(resp *http.Response, status int) map[string]any {
	e.t.Helper()
	return e.JSONOf(resp, status)
}

// wantError checks a 4xx JSON error naming field.
func (e *env) wantError(resp *http.Response, status int, field string) map[string]any {
	e.t.Helper()
	return e.WantError(resp, status, field)
}

// store returns the demo map's Field_Survey feature store.
func (e *env) store() *geodb.DB {
	e.t.Helper()
	db, err := e.reg.FeatureStore(e.t.Context(), localapitest.MapID, svcName)
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}

// storeChecksum hashes every feature, attachment and the change log of the
// demo map's GeoPackage as seen through geodb.
func (e *env) storeChecksum() string {
	e.t.Helper()
	return localapitest.StoreChecksum(e.t, e.store())
}

// firstFeature returns the GlobalID and OID of some feature of layer 0.
func (e *env) firstFeature() (string, int64) {
	e.t.Helper()
	return localapitest.FirstFeature(e.t, e.store())
}

func jsonBody(v any) io.Reader {
	if s, ok := v.(string); ok {
		return strings.NewReader(s)
	}
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func geodbQuery(layer, limit int) geodb.Query { return geodb.Query{LayerID: layer, Limit: limit} }

// editSyncConfig changes the stored sync configuration of db.
func editSyncConfig(t *testing.T, db *geodb.DB, edit func(*editsync.Config)) {
	t.Helper()
	cfg, err := editsync.LoadConfig(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	edit(&cfg)
	if err := editsync.SaveConfig(t.Context(), db, cfg); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// form encodes key, value pairs as a form body.
func form(kv ...string) io.Reader { return localapitest.Form(kv...) }

// buildWebMapFile takes the web map document wm (written to a file: open
// layers that need no portal) offline over the WGS 84 box area into dir
// with an anonymous client; edit, when set, changes the overrides first.
func buildWebMapFile(t *testing.T, wm string, area [4]float64, dir string, edit func(*offline.Overrides)) {
	t.Helper()
	ctx := t.Context()
	mapPath := filepath.Join(t.TempDir(), "map.json")
	writeFile(t, mapPath, wm)
	c, err := arcgis.New()
	if err != nil {
		t.Fatal(err)
	}
	task, err := offline.NewTask(ctx, offline.Source{File: mapPath}, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	g := &arcgis.Geometry{XMin: &area[0], YMin: &area[1], XMax: &area[2], YMax: &area[3], SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
	p, err := task.CreateDefaultParameters(ctx, g, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	o, err := task.CreateOverrides(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(o)
	}
	if res, err := task.NewJob(p, o, dir, offline.JobOptions{Client: c}).Run(ctx); err != nil || res.HasErrors {
		t.Fatalf("job: %v %+v", err, res)
	}
}
