package localapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	editsync "github.com/offlined/offlined/sync"
	"github.com/offlined/offlined/tiles"
)

const (
	testToken = "test-token-0123456789abcdef"
	svcName   = "Field_Survey"
)

// env is a daemon API over a data root holding one offline map "demo"
// (Field_Survey taken offline from the emulator with createReplica and
// geodb's loader, plus a raster and a vector tile layer).
type env struct {
	t      *testing.T
	root   string
	em     *emulatortest.Server
	client *arcgis.Client
	reg    TestMaps
	srv    *Server
	hs     *httptest.Server
	hub    *Hub
	logs   *syncBuffer
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

// templateDir holds a package built once by TestMain (read-only).
var templateDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "localapi-template")
	if err != nil {
		panic(err)
	}
	em := emulator.New(emulator.Options{})
	hs := httptest.NewServer(em)
	c, err := arcgis.New(arcgis.WithPortal(hs.URL+"/sharing/rest"), arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}),
		arcgis.WithRetryPolicy(fastRetry()))
	if err != nil {
		panic(err)
	}
	templateDir = filepath.Join(dir, "demo")
	tb := &panicTB{}
	buildPackage(tb, c, hs.URL+"/arcgis/rest/services/"+svcName+"/FeatureServer", templateDir)
	hs.Close()
	em.Close()
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// panicTB lets buildPackage run outside a test.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                   {}
func (panicTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }

// copyDir copies a package directory.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func fastRetry() arcgis.RetryPolicy {
	return arcgis.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Multiplier: 2, Jitter: 0.5, MaxElapsed: 5 * time.Second}
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{t: t, root: t.TempDir(), logs: &syncBuffer{}}
	e.em = emulatortest.Start(t, emulator.Options{})
	c, err := arcgis.New(arcgis.WithPortal(e.em.PortalURL), arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}),
		arcgis.WithRetryPolicy(fastRetry()), arcgis.WithPollInterval(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	e.client = c
	e.svcURL = e.em.ServicesURL + "/" + svcName + "/FeatureServer"
	switch {
	case o.noMap:
	case o.fresh:
		buildPackage(t, c, e.svcURL, filepath.Join(e.root, "packages", "demo"))
	default:
		copyDir(t, templateDir, filepath.Join(e.root, "packages", "demo"))
	}
	for name, src := range o.packages {
		copyDir(t, src, filepath.Join(e.root, "packages", name))
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
	e.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	RegisterRoutes(e.srv)
	e.hs = httptest.NewServer(e.srv)
	t.Cleanup(e.hs.Close)
	return e
}

// buildPackage writes a package directory: data/Field_Survey.gpkg from a
// createReplica of the emulator, tiles/basemap.mbtiles (PNG, z0-2),
// tiles/vector.mbtiles with style resources, package.json and map.json.
func buildPackage(t testing.TB, c *arcgis.Client, svcURL, dir string) {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	svc, err := c.FeatureService(ctx, svcURL)
	if err != nil {
		t.Fatal(err)
	}
	var svcRaw json.RawMessage
	if err := c.GetJSON(ctx, svcURL, nil, &svcRaw); err != nil {
		t.Fatal(err)
	}
	layers, err := c.Layers(ctx, svcURL, svc)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int
	for _, l := range layers {
		ids = append(ids, l.ID)
	}
	b := emulator.DemoBounds()
	resp, err := c.CreateReplica(ctx, svcURL, arcgis.CreateReplicaParams{
		Layers: ids, GeometryText: fmt.Sprintf("%f,%f,%f,%f", b.Min[0], b.Min[1], b.Max[0], b.Max[1]), GeometryType: arcgis.GeometryEnvelope, InSR: 4326,
		ReplicaSR: 3857, SyncModel: arcgis.SyncModelPerLayer, DataFormat: "json", TransportType: arcgis.TransportEmbedded,
		ReturnAttachments: arcgis.Bool(true), AttachmentsSyncDirection: "bidirectional", SyncDirection: arcgis.SyncBidirectional,
	})
	if err != nil {
		t.Fatal(err)
	}
	var body io.Reader = bytes.NewReader(resp.Raw)
	if resp.ResultURL != "" {
		rc, err := c.Download(ctx, resp.ResultURL)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		body = rc
	}
	db, err := geodb.Open(ctx, filepath.Join(dir, "data", svcName+".gpkg"), geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SaveService(ctx, svcRaw); err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		if _, err := db.CreateLayer(ctx, l, nil); err != nil {
			t.Fatal(err)
		}
	}
	rep, _, err := db.LoadReplica(ctx, body, geodb.LoadOptions{FetchAttachment: func(ctx context.Context, _ int, a *arcgis.AttachmentInfo) (io.ReadCloser, error) {
		return c.Download(ctx, a.URL)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveReplica(ctx, rep); err != nil {
		t.Fatal(err)
	}
	cfg := editsync.Config{ServiceURL: svcURL, Mode: editsync.ModeReplica, ReplicaID: rep.ReplicaID, SyncModel: arcgis.SyncModelPerLayer, AttachmentsSyncDirection: "bidirectional"}
	if err := editsync.SaveConfig(ctx, db, cfg); err != nil {
		t.Fatal(err)
	}
	writeTiles(t, filepath.Join(dir, "tiles"))
	writeFile(t, filepath.Join(dir, "package.json"), `{"formatVersion":1,"id":"demo","title":"Demo map","layers":[{"key":"Field_Survey","kind":"feature"}]}`)
	writeFile(t, filepath.Join(dir, "map.json"), `{"operationalLayers":[{"id":"inspections","title":"Inspections","url":"data/Field_Survey.gpkg"}],"version":"2.31"}`)
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

// pngTile returns distinct PNG-signed bytes for a tile.
func pngTile(z, x, y int) []byte {
	return append([]byte("\x89PNG\r\n\x1a\n"), fmt.Sprintf("tile %d/%d/%d", z, x, y)...)
}

func writeTiles(t testing.TB, dir string) {
	t.Helper()
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := tiles.OpenStore(ctx, filepath.Join(dir, "basemap.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Configure(ctx, tiles.WebMercatorScheme(256, 0, 2), "png"); err != nil {
		t.Fatal(err)
	}
	var recs []tiles.TileRecord
	for z := 0; z <= 2; z++ {
		for x := 0; x < 1<<z; x++ {
			for y := 0; y < 1<<z; y++ {
				if z == 2 && x == 3 && y == 3 {
					continue // one missing tile
				}
				recs = append(recs, tiles.TileRecord{Key: tiles.TileKey{Level: z, Row: y, Col: x}, Data: pngTile(z, x, y)})
			}
		}
	}
	if err := st.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := st.Finalize(ctx, "basemap", &[4]float64{-180, -85, 180, 85}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	vs, err := tiles.OpenStore(ctx, filepath.Join(dir, "vector.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	if err := vs.Configure(ctx, tiles.WebMercatorScheme(512, 0, 1), "pbf"); err != nil {
		t.Fatal(err)
	}
	gz := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0} // empty gzip stream
	if err := vs.Put(ctx, []tiles.TileRecord{{Key: tiles.TileKey{Level: 0}, Data: gz}}); err != nil {
		t.Fatal(err)
	}
	if err := vs.SetMetadata(ctx, map[string]string{"json": `{"vector_layers":[{"id":"Inspections","fields":{}}]}`}); err != nil {
		t.Fatal(err)
	}
	if err := vs.Finalize(ctx, "vector", nil); err != nil {
		t.Fatal(err)
	}
	vs.Close()
	res := filepath.Join(dir, "vector", "resources")
	writeFile(t, filepath.Join(res, "styles", "root.json"), `{"version":8,"sources":{"esri":{"type":"vector","url":"https://example.com/VectorTileServer"}},"sprite":"../sprites/sprite","glyphs":"../fonts/{fontstack}/{range}.pbf","layers":[{"id":"bg","type":"background"},{"id":"lbl","type":"symbol","source":"esri","source-layer":"Inspections","layout":{"text-font":["Arial Regular"],"text-field":"{name}"}}]}`)
	writeFile(t, filepath.Join(res, "sprites", "sprite.json"), `{"dot":{"x":0,"y":0,"width":8,"height":8,"pixelRatio":1}}`)
	writeFile(t, filepath.Join(res, "sprites", "sprite.png"), "\x89PNG\r\n\x1a\nsprite")
	writeFile(t, filepath.Join(res, "fonts", "Arial Regular", "0-255.pbf"), "glyphs-0-255")
}

// do sends a request with the API token (unless hdr sets Authorization).
func (e *env) do(method, path string, body io.Reader, hdr ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.hs.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := contractClient(e.t).Do(req) // checked against openapi.json (openapi_contract_test.go)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// jsonOf decodes a response body, checking the status.
func (e *env) jsonOf(resp *http.Response, status int) map[string]any {
	e.t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s: body is not a JSON object: %v: %.300s", resp.Request.URL.Path, err, b)
	}
	return m
}

// wantError checks a 4xx JSON error naming field.
func (e *env) wantError(resp *http.Response, status int, field string) map[string]any {
	e.t.Helper()
	m := e.jsonOf(resp, status)
	er, ok := m["error"].(map[string]any)
	if !ok {
		e.t.Fatalf("%s: no error object: %v", resp.Request.URL.Path, m)
	}
	if er["field"] != field {
		e.t.Fatalf("%s %s: error field %v, want %q (%v)", resp.Request.Method, resp.Request.URL.Path, er["field"], field, er["message"])
	}
	if er["message"] == "" || er["code"] == nil {
		e.t.Fatalf("error without code or message: %v", er)
	}
	return er
}

// storeChecksum hashes every feature, attachment and the change log of the
// demo map's GeoPackage as seen through geodb.
func (e *env) storeChecksum() string {
	e.t.Helper()
	ctx := e.t.Context()
	db, err := e.reg.FeatureStore(ctx, "demo", svcName)
	if err != nil {
		e.t.Fatal(err)
	}
	h := sha256.New()
	for _, tb := range db.Tables() {
		fs, err := db.Features(ctx, geodb.Query{LayerID: tb.LayerID, OrderBy: []string{tb.OIDCol}})
		if err != nil {
			e.t.Fatal(err)
		}
		json.NewEncoder(h).Encode(fs)
		if tb.AttachTable != "" {
			as, err := db.Attachments(ctx, tb.LayerID, "")
			if err != nil {
				e.t.Fatal(err)
			}
			json.NewEncoder(h).Encode(as)
		}
	}
	seq, _ := db.LastChangeSeq(ctx)
	pend, _ := db.PendingChanges(ctx)
	fmt.Fprint(h, seq, pend)
	return hex.EncodeToString(h.Sum(nil))
}

// firstFeature returns the GlobalID and OID of some feature of layer 0.
func (e *env) firstFeature() (string, int64) {
	e.t.Helper()
	db, err := e.reg.FeatureStore(e.t.Context(), "demo", svcName)
	if err != nil {
		e.t.Fatal(err)
	}
	tb := db.TableByID(0)
	var gid string
	var oid int64
	err = db.Each(e.t.Context(), geodb.Query{LayerID: 0, Limit: 1, OrderBy: []string{tb.OIDCol}}, func(r *geodb.Row) error {
		gid, _ = r.Attributes[tb.GIDCol].(string)
		oid = r.OID
		return nil
	})
	if err != nil || gid == "" {
		e.t.Fatalf("no feature in layer 0: %v", err)
	}
	return gid, oid
}

func jsonBody(v any) io.Reader {
	if s, ok := v.(string); ok {
		return strings.NewReader(s)
	}
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

func geodbQuery(layer, limit int) geodb.Query { return geodb.Query{LayerID: layer, Limit: limit} }

// setPolicy changes the stored sync policy of db.
func setPolicy(t *testing.T, db *geodb.DB, p string) {
	t.Helper()
	cfg, err := editsync.LoadConfig(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy = editsync.Policy(p)
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
func form(kv ...string) io.Reader {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode())
}
