package features

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gorilla/mux"

	"github.com/paulmach/orb/geojson"

	"github.com/offlined/offlined/internal/emulator/rest"
	"github.com/offlined/offlined/internal/testutil"
)

// fsEnv is a running emulator for FeatureServer tests.
type fsEnv struct {
	em  *testFS
	url string // root URL
}

// fsStart runs an anonymous emulator with the given feature services (nil:
// the demo services).
func fsStart(t testing.TB, svcs []FeatureServiceOptions) *fsEnv {
	t.Helper()
	em := newTestFS(svcs, 7)
	hs := httptest.NewServer(em)
	t.Cleanup(hs.Close)
	return &fsEnv{em: em, url: hs.URL}
}

// testFS is an anonymous FeatureServer on its own router, with the FailJobs
// knob the emulator's fault injection would turn and a log of request paths.
type testFS struct {
	*FeatureServer
	router   *mux.Router
	failJobs atomic.Bool
	mu       sync.Mutex
	paths    []string
}

// Faults are the fault knobs the FeatureServer tests use.
type Faults struct{ FailJobs bool }

// newTestFS builds the feature services (nil: the demo services).
func newTestFS(svcs []FeatureServiceOptions, seed int64) *testFS {
	e := &testFS{router: mux.NewRouter()}
	e.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest.WriteError(w, http.StatusOK, 400, "Invalid URL", "Invalid URL")
	})
	e.FeatureServer = New(Config{Router: e.router, JobsFail: e.failJobs.Load, Seed: seed, Services: svcs})
	return e
}

// SetFaults turns the knobs.
func (e *testFS) SetFaults(f Faults) { e.failJobs.Store(f.FailJobs) }

// ServeHTTP records the path and routes the request.
func (e *testFS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	e.paths = append(e.paths, r.URL.Path)
	e.mu.Unlock()
	e.router.ServeHTTP(w, r)
}

// requestCount is how many requests had a path containing substr.
func (e *testFS) requestCount(substr string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, p := range e.paths {
		if strings.Contains(p, substr) {
			n++
		}
	}
	return n
}

// svc returns the FeatureServer URL of a service.
func (e *fsEnv) svc(name string) string {
	return e.url + "/arcgis/rest/services/" + name + "/FeatureServer"
}

// fsDo performs a request and returns status, headers and body.
func fsDo(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	return testutil.Do(t, req)
}

func fsDecode(t testing.TB, what string, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: not a JSON object: %v: %.300s", what, err, b)
	}
	return m
}

// fsGet GETs u with q (f=json added) and decodes a JSON object.
func fsGet(t testing.TB, u string, q url.Values) map[string]any {
	t.Helper()
	if q == nil {
		q = url.Values{}
	}
	if q.Get("f") == "" {
		q.Set("f", "json")
	}
	req, _ := http.NewRequest(http.MethodGet, u+"?"+q.Encode(), nil)
	_, b := fsDo(t, req)
	return fsDecode(t, "GET "+u, b)
}

// fsPostRaw POSTs a form and returns the raw body.
func fsPostRaw(t testing.TB, u string, form url.Values) []byte {
	t.Helper()
	if form.Get("f") == "" {
		form.Set("f", "json")
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, b := fsDo(t, req)
	return b
}

// fsPost POSTs a form and decodes a JSON object.
func fsPost(t testing.TB, u string, form url.Values) map[string]any {
	t.Helper()
	return fsDecode(t, "POST "+u, fsPostRaw(t, u, form))
}

// fsMultipart POSTs a multipart form with one file field.
func fsMultipart(t testing.TB, u string, fields map[string]string, fileField, fileName string, data []byte) map[string]any {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile(fileField, fileName)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, u, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	_, b := fsDo(t, req)
	return fsDecode(t, "POST "+u, b)
}

// fsJSON marshals v to a string parameter.
func fsJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fsFixture reads a copied ArcGIS fixture from testdata/fs-fixtures.
func fsFixture(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fs-fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return fsDecode(t, name, b)
}

// fsErrCode returns body.error.code (0 when absent).
func fsErrCode(m map[string]any) int {
	e, ok := m["error"].(map[string]any)
	if !ok {
		return 0
	}
	c, _ := e["code"].(float64)
	return int(c)
}

// fsErrText joins the error message and details.
func fsErrText(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	b, _ := json.Marshal(e)
	return string(b)
}

func fsKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// fsPoll polls a job status URL until it ends, returning every status seen
// and the final body.
func fsPoll(t testing.TB, statusURL string) ([]string, map[string]any) {
	t.Helper()
	var seen []string
	var st map[string]any
	testutil.Eventually(t, "job "+statusURL+" to end", func() bool {
		st = fsGet(t, statusURL, nil)
		s, _ := st["status"].(string)
		seen = append(seen, s)
		return s == "Completed" || s == "Failed" || s == "CompletedWithErrors"
	})
	return seen, st
}

// fsFeatures extracts features[] of a body.
func fsFeatures(m map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := m["features"].([]any)
	for _, f := range list {
		out = append(out, f.(map[string]any))
	}
	return out
}

func fsAttr(f map[string]any, name string) any {
	a, _ := f["attributes"].(map[string]any)
	return a[name]
}

// jsonRoundTrip re-decodes a decoded JSON value into a typed value.
func jsonRoundTrip(v any, dst any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, dst)
}

func itoa(i int) string     { return strconv.Itoa(i) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func lenFC(fc *geojson.FeatureCollection) int {
	if fc == nil {
		return -1
	}
	return len(fc.Features)
}

// jsonUnmarshalOK decodes s into dst and reports success.
func jsonUnmarshalOK(s string, dst any) bool { return json.Unmarshal([]byte(s), dst) == nil }
