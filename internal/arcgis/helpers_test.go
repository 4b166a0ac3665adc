package arcgis

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// fastRetry is a retry policy with tiny delays for tests.
func fastRetry() RetryPolicy {
	return RetryPolicy{MaxAttempts: 4, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Multiplier: 2, Jitter: 0.5, MaxElapsed: 10 * time.Second}
}

// newTestClient builds a client for a test server with fast retries.
func newTestClient(t *testing.T, portal string, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithRetryPolicy(fastRetry()), WithPollInterval(time.Millisecond)}
	if portal != "" {
		base = append(base, WithPortal(portal))
	}
	c, err := New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// fakeServer is an httptest server with per-path handlers and hit counters.
type fakeServer struct {
	*httptest.Server
	mux  *http.ServeMux
	hits map[string]*atomic.Int64
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{mux: http.NewServeMux(), hits: map[string]*atomic.Int64{}}
	f.Server = httptest.NewServer(f.mux)
	t.Cleanup(f.Close)
	return f
}

// handle registers h for pattern and counts its requests.
func (f *fakeServer) handle(pattern string, h http.HandlerFunc) {
	n := &atomic.Int64{}
	f.hits[pattern] = n
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	})
}

func (f *fakeServer) count(pattern string) int64 { return f.hits[pattern].Load() }

// fixture registers a handler for pattern that answers testdata/name.
func (f *fakeServer) fixture(t testing.TB, pattern, name string) {
	b := readFixture(t, name)
	f.handle(pattern, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) })
}

// captureForm registers answer for pattern and keeps each request's parsed
// form (post: the body's only); the returned func gives the last one.
func (f *fakeServer) captureForm(pattern string, post bool, answer http.HandlerFunc) func() url.Values {
	var form atomic.Value
	f.handle(pattern, func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if post {
			form.Store(r.PostForm)
		} else {
			form.Store(r.Form)
		}
		answer(w, r)
	})
	return func() url.Values { return form.Load().(url.Values) }
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func arcErr(code int, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": msg, "details": []string{}}}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// mustSub returns the member key of a JSON object fixture.
func mustSub(t testing.TB, b []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m[key] == nil {
		t.Fatalf("fixture has no %q: %v", key, err)
	}
	return m[key]
}

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
}
