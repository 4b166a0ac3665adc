package tiles

import (
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"

	"github.com/offlined/offlined/internal/testutil"
)

var updateTileGolden = flag.Bool("update-tiles", false, "rewrite testdata/tiles-golden files")

// tlStart runs an anonymous emulator with the given tile options (nil means
// the demo services) and a private export directory.
func tlStart(t testing.TB, tiles *TileOptions) (*testTiles, string) {
	t.Helper()
	if tiles != nil && tiles.WorkDir == "" {
		tiles.WorkDir = t.TempDir()
	}
	em := newTestTiles(nil, tiles)
	return em, httptestServer(t, em)
}

// testTiles is a tile server on its own router with the FailJobs knob the
// emulator's fault injection would turn.
type testTiles struct {
	*Tiles
	router   *mux.Router
	failJobs atomic.Bool
}

// Faults are the fault knobs the tile tests use.
type Faults struct{ FailJobs bool }

// SetFaults turns the knobs.
func (e *testTiles) SetFaults(f Faults) { e.failJobs.Store(f.FailJobs) }

// newTestTiles builds the tile services with auth (nil: anonymous) and
// the demo features for vector tiles.
func newTestTiles(auth rest.AuthFunc, tiles *TileOptions) *testTiles {
	e := &testTiles{router: mux.NewRouter()}
	e.router.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest.WriteError(w, http.StatusOK, 400, "Invalid URL", "Invalid URL")
	})
	e.Tiles = New(Config{Router: e.router, Authorize: auth, JobsFail: e.failJobs.Load, Seed: 1, Tiles: tiles,
		Features: testFeatures(e.router)})
	return e
}

// tlClient does not decompress responses, so gzip tiles arrive as stored.
var tlClient = &http.Client{Transport: &http.Transport{DisableCompression: true}, Timeout: 60 * time.Second}

// tlGet fetches url and returns the response and body.
func tlGet(t testing.TB, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := tlClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp, b
}

// tlJSON fetches url and decodes a JSON object.
func tlJSON(t testing.TB, url string) map[string]any {
	t.Helper()
	resp, b := tlGet(t, url)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: status %d, not JSON: %v: %.200s", url, resp.StatusCode, err, b)
	}
	return m
}

// tlFixture reads a copied ArcGIS fixture.
func tlFixture(t testing.TB, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tiles-fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return m
}

// tlMissingKeys lists keys of want absent from got, except those in skip.
func tlMissingKeys(want, got map[string]any, skip ...string) []string {
	var out []string
	for k := range want {
		if _, ok := got[k]; !ok && !contains(skip, k) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tlPollJob polls a GP job URL until it reaches a final status.
func tlPollJob(t testing.TB, jobURL string) map[string]any {
	t.Helper()
	seen := map[string]bool{}
	var j map[string]any
	testutil.Eventually(t, "job "+jobURL+" to finish", func() bool {
		j = tlJSON(t, jobURL+"?f=json")
		st, _ := j["jobStatus"].(string)
		seen[st] = true
		return terminal(st)
	})
	j["_seen"] = seen
	return j
}

// tlSubmit calls a job-submitting operation and returns the job id.
func tlSubmit(t testing.TB, url string) string {
	t.Helper()
	m := tlJSON(t, url)
	id, _ := m["jobId"].(string)
	if id == "" || m["jobStatus"] != arcgis.JobSubmitted {
		t.Fatalf("submit %s: %v", url, m)
	}
	return id
}

// tlGolden compares a JSON document with testdata/tiles-golden/name,
// replacing host with "HOST" first.
func tlGolden(t *testing.T, name, host string, doc any) {
	t.Helper()
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		b = []byte(strings.ReplaceAll(string(b), host, "HOST"))
	}
	b = append(b, '\n')
	testutil.Golden(t, filepath.Join("testdata", "tiles-golden", name), b, *updateTileGolden, "update-tiles")
}

// httptestServer serves em on loopback until the test ends.
func httptestServer(t testing.TB, em *testTiles) string {
	hs := httptest.NewServer(em.router)
	t.Cleanup(func() { hs.Close(); em.closeTiles() })
	return hs.URL
}

// readFixtureBytes reads a copied ArcGIS fixture without a testing.TB.
func readFixtureBytes(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", "tiles-fixtures", name))
}
