package offline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/ogc"
	"github.com/offlined/offlined/tiles"
)

// wmtsWebMap writes a web map with WMTS layers on the emulator's open WMTS
// server: the RESTful encoding over GoogleMapsCompatible, the KVP-only
// layer over WorldCRS84Quad (EPSG:4326, a non-Mercator tiling scheme), and
// a WMTS layer naming no service (left out).
func wmtsWebMap(t testing.TB, dir, base string) string {
	t.Helper()
	wm := fmt.Sprintf(`{"version":"2.31","spatialReference":{"wkid":102100,"latestWkid":3857},
 "operationalLayers":[
  {"id":"wmts_kvp","title":"WMTS KVP","layerType":"WMTS","url":"%[1]s/wmts",
   "wmtsInfo":{"url":"%[1]s/wmts","layerIdentifier":"%[3]s","tileMatrixSet":"%[5]s"},"format":"png"},
  {"id":"wmts_none","title":"WMTS nowhere","layerType":"WMTS"}],
 "baseMap":{"title":"Open","baseMapLayers":[{"id":"wmts_rest","title":"WMTS REST","layerType":"WMTS","url":"%[1]s%[2]s",
   "wmtsInfo":{"url":"%[1]s%[2]s","layerIdentifier":"%[4]s","tileMatrixSet":"%[6]s"},"style":"default"}]}}`,
		base, emulator.DemoWMTSCapabilities, emulator.DemoWMTSLayerKVP, emulator.DemoWMTSLayer, emulator.WMTSCRS84Set, emulator.WMTSMercatorSet)
	return writeWebMap(t, dir, wm)
}

// wmtsLevels are the levels taken: Web Mercator 9-13, CRS84 8-12 (the
// demo area is a few tiles wide at the deepest).
var wmtsLevels = map[string][]int{"wmts_rest": {9, 10, 11, 12, 13}, "wmts_kvp": {8, 9, 10, 11, 12}}

func wmtsJob(t testing.TB, mapPath string, opt JobOptions, dir string) (*Task, *Parameters, *Overrides, *Job) {
	t.Helper()
	b := emulator.DemoBounds()
	task, p, o, c := mapFileTask(t, mapPath, wgs84Box(b.Min[0], b.Min[1], b.Max[0], b.Max[1]))
	for k, wp := range o.WMTS {
		wp.LevelIDs = wmtsLevels[task.Entry(k).ID]
	}
	opt.Client = c
	return task, p, o, task.NewJob(p, o, dir, opt)
}

func TestWMTSJob(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	mapPath := wmtsWebMap(t, t.TempDir(), em.URL)
	dir := filepath.Join(t.TempDir(), "pkg")
	task, p, o, job := wmtsJob(t, mapPath, JobOptions{}, dir)
	ctx := context.Background()

	caps := mustCaps(ctx, t, task, p)
	keys := map[string]Key{}
	for _, c := range caps.Layers {
		keys[task.Entry(c.Key).ID] = c.Key
		switch task.Entry(c.Key).ID {
		case "wmts_rest", "wmts_kvp":
			if !c.SupportsOffline || c.Method != MethodWMTS {
				t.Errorf("capability %+v", c)
			}
		case "wmts_none":
			if c.SupportsOffline || c.Reason != ReasonInvalidURL || !strings.Contains(c.Message, "wmtsInfo") {
				t.Errorf("layer without a service: %+v", c)
			}
		}
	}
	if len(o.WMTS) != 2 {
		t.Fatalf("wmts overrides %+v", o.WMTS)
	}

	est, err := task.Estimate(ctx, p, o, EstimateOptions{Client: job.opt.Client})
	if err != nil {
		t.Fatal(err)
	}
	estTiles := map[Key]int64{}
	for _, le := range est.Layers {
		estTiles[le.Key] = le.Tiles
	}

	res, err := job.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.State != JobSucceeded || len(jobErrors(res.LayerErrors)) != 0 {
		t.Fatalf("result %+v", res)
	}
	pkg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]string{"wmts_rest": emulator.WMTSMercatorSet, "wmts_kvp": emulator.WMTSCRS84Set}
	for id, set := range sets {
		k := keys[id]
		ml := pkg.Layer(k)
		if ml == nil || ml.Kind != KindRasterTiles || ml.Error != nil || !strings.HasPrefix(filepath.Base(ml.Store), "wmts_") {
			t.Fatalf("%s: package layer %+v", id, ml)
		}
		w, err := resolveWMTS(ctx, &task.wmtsCaps, job.opt.Client.HTTPClient(), task.Entry(k))
		if err != nil {
			t.Fatal(err)
		}
		covers, _, err := w.cover(o.WMTS[k])
		if err != nil {
			t.Fatal(err)
		}
		if estTiles[k] == 0 {
			t.Errorf("%s: estimate has no tiles", id)
		}
		st, err := pkg.OpenTiles(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		// Per level: every tile of the cover the server has is stored with
		// the server's bytes, and nothing else.
		var total, coverTotal int64
		for _, cv := range covers {
			var present, stored int64
			cv.Each(func(row, col int) bool {
				want, ok := em.WMTSTileBytes(set, cv.Level, row, col)
				got, err := st.TileByKey(ctx, tiles.TileKey{Level: cv.Level, Row: row, Col: col})
				if ok {
					present++
				}
				if err == nil && got != nil {
					stored++
				}
				if ok && (err != nil || !bytes.Equal(got, want)) {
					t.Errorf("%s level %d tile %d/%d: stored bytes differ from the server's (%v)", id, cv.Level, row, col, err)
				}
				return true
			})
			if present != stored || present != cv.Count() {
				t.Errorf("%s level %d: cover %d, server has %d, stored %d", id, cv.Level, cv.Count(), present, stored)
			}
			total += stored
			coverTotal += cv.Count()
		}
		if ml.Tiles != total || total == 0 || estTiles[k] != coverTotal {
			t.Errorf("%s: package says %d tiles, stored %d, estimate %d, cover %d", id, ml.Tiles, total, estTiles[k], coverTotal)
		}
		st.Close()
		if gdal, err := exec.LookPath("gdalinfo"); err == nil && id == "wmts_rest" {
			if out, err := exec.Command(gdal, pkg.Path(ml.Store)).CombinedOutput(); err != nil {
				t.Errorf("gdalinfo: %v\n%s", err, out)
			}
		}
	}
	// Both encodings were used.
	var rest, kvp bool
	for _, r := range em.Log().Entries() {
		rest = rest || strings.HasPrefix(r.Path, "/wmts/tile/1.0.0/")
		kvp = kvp || (r.Path == "/wmts" && r.Query.Get("REQUEST") == "GetTile")
	}
	if !rest || !kvp {
		t.Errorf("requests: RESTful %v, KVP %v", rest, kvp)
	}
}

// The child half of TestWMTSResumeAfterKill.
func TestWMTSChild(t *testing.T) {
	mapPath := os.Getenv("OFFLINED_TEST_WMTS_MAP")
	if mapPath == "" {
		t.Skip("child process of TestWMTSResumeAfterKill")
	}
	// Two WMTS steps run at once: the hook is called concurrently.
	_, _, _, job := wmtsJob(t, mapPath, JobOptions{TileConcurrency: 2, Hook: killAtBatch(2)}, os.Getenv("OFFLINED_TEST_DIR"))
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A WMTS job killed with SIGKILL mid-download resumes to the same package
// as an uninterrupted run.
func TestWMTSResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	em := emulatortest.Start(t, emulator.Options{})
	mapPath := wmtsWebMap(t, t.TempDir(), em.URL)
	checkResumeAfterKill(t, "TestWMTSChild", "OFFLINED_TEST_WMTS_MAP", mapPath, 1, packageDigest)
}

// capsRequests counts the capabilities requests the emulator's WMTS server
// received: of the RESTful document and of the KVP GetCapabilities.
func capsRequests(em *emulatortest.Server) (rest, kvp int) {
	for _, r := range em.Log().Entries() {
		switch {
		case r.Path == emulator.DemoWMTSCapabilities:
			rest++
		case r.Path == "/wmts" && strings.EqualFold(r.Query.Get("REQUEST"), "GetCapabilities"):
			kvp++
		}
	}
	return rest, kvp
}

// A take-offline job reads each WMTS capabilities document once, however
// often its layers are resolved: defaults and overrides (analysis), the
// capabilities report, the limit checks, the estimate and the steps.
func TestWMTSCapabilitiesOncePerJob(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	mapPath := wmtsWebMap(t, t.TempDir(), em.URL)
	task, p, o, job := wmtsJob(t, mapPath, JobOptions{}, filepath.Join(t.TempDir(), "pkg"))
	ctx := context.Background()
	mustCaps(ctx, t, task, p)
	if errs := TileChecks(job.opt.Client)(ctx, task, p, o); len(errs) != 0 {
		t.Fatal(errs)
	}
	if _, err := task.Estimate(ctx, p, o, EstimateOptions{Client: job.opt.Client}); err != nil {
		t.Fatal(err)
	}
	res, err := job.Run(ctx)
	if err != nil || res.State != JobSucceeded || len(jobErrors(res.LayerErrors)) != 0 {
		t.Fatalf("result %+v, %v", res, err)
	}
	if rest, kvp := capsRequests(em); rest != 1 || kvp != 1 {
		t.Errorf("capabilities fetched %d times (RESTful document) and %d times (KVP), want once each", rest, kvp)
	}
	// A new task (another job) asks again.
	task2, _, _, _ := wmtsJob(t, mapPath, JobOptions{}, filepath.Join(t.TempDir(), "pkg2"))
	if rest, kvp := capsRequests(em); rest != 2 || kvp != 2 || task2 == task {
		t.Errorf("second task: capabilities fetched %d and %d times in all, want twice each", rest, kvp)
	}
}

// wmtsCapsCache: concurrent callers share one fetch; a failed or canceled
// fetch is not kept, the next call asks again.
func TestWMTSCapsCache(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	ctx := context.Background()
	doc, err := getBody(ctx, http.DefaultClient, em.URL+emulator.DemoWMTSCapabilities, "", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hits int
	fail := true
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		f := fail
		mu.Unlock()
		if f {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(doc)
	}))
	defer hs.Close()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return hits
	}
	var c wmtsCapsCache
	u := hs.URL + "/WMTSCapabilities.xml"
	if _, err := c.get(ctx, hs.Client(), u); err == nil {
		t.Fatal("503 read as a document")
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.get(canceled, hs.Client(), u); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	before := count()
	var wg sync.WaitGroup
	docs := make([]*ogc.Capabilities, 16)
	for i := range docs {
		wg.Go(func() {
			d, err := c.get(ctx, hs.Client(), u)
			if err != nil {
				t.Error(err)
			}
			docs[i] = d
		})
	}
	wg.Wait()
	if got := count() - before; got != 1 {
		t.Errorf("16 concurrent calls made %d requests, want 1", got)
	}
	for _, d := range docs {
		if d == nil || d != docs[0] || d.Layer(emulator.DemoWMTSLayer) == nil {
			t.Fatalf("documents %p, %p", d, docs[0])
		}
	}
	if d, err := c.get(ctx, hs.Client(), u); err != nil || d != docs[0] || count()-before != 1 {
		t.Errorf("cached call: %v, %d requests", err, count()-before)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// wmtsCapsCache: a caller waiting for a fetch that failed with a timeout
// of its own (the HTTP client's, not the context's) gets that error and
// does not fetch again; only a fetch whose caller's context ended is
// retried by the callers that waited for it.
func TestWMTSCapsCacheWaiterSharesTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var mu sync.Mutex
		calls := 0
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			calls++
			mu.Unlock()
			<-release
			return nil, fmt.Errorf("client timeout: %w", context.DeadlineExceeded)
		})}
		var c wmtsCapsCache
		const u = "http://wmts.invalid/WMTSCapabilities.xml"
		errs := make(chan error, 2)
		get := func() { _, err := c.get(context.Background(), hc, u); errs <- err }
		go get()
		synctest.Wait() // the first call is fetching
		go get()
		synctest.Wait() // the second waits for it
		close(release)
		for range 2 {
			if err := <-errs; !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v, want the fetch's timeout", err)
			}
		}
		if calls != 1 {
			t.Errorf("%d requests, want 1", calls)
		}
	})
}

// wmtsCapsCache: a caller waiting for a fetch whose caller's context ended
// fetches again with its own context.
func TestWMTSCapsCacheWaiterRetriesCanceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		calls := 0
		hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			if n == 1 {
				<-r.Context().Done()
				return nil, r.Context().Err()
			}
			return &http.Response{StatusCode: http.StatusServiceUnavailable, Body: http.NoBody, Request: r}, nil
		})}
		var c wmtsCapsCache
		const u = "http://wmts.invalid/WMTSCapabilities.xml"
		ctx, cancel := context.WithCancel(context.Background())
		first, second := make(chan error, 1), make(chan error, 1)
		go func() { _, err := c.get(ctx, hc, u); first <- err }()
		synctest.Wait() // the first call is fetching
		go func() { _, err := c.get(context.Background(), hc, u); second <- err }()
		synctest.Wait() // the second waits for it
		cancel()
		if err := <-first; !errors.Is(err, context.Canceled) {
			t.Errorf("first call: %v, want canceled", err)
		}
		var se *tiles.StatusError
		if err := <-second; !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
			t.Errorf("second call: %v, want its own fetch's 503", err)
		}
		if calls != 2 {
			t.Errorf("%d requests, want 2", calls)
		}
	})
}
