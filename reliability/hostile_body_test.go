package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// daemonProc is a running `offlined serve` subprocess with one offline map
// "survey" (the demo web map, taken offline through the API).
type daemonProc struct {
	root, base, token string
	cmd               *exec.Cmd
	stderr            *bytes.Buffer
	mu                stdsync.Mutex
}

func (d *daemonProc) logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stderr.String()
}

type lockedWriter struct {
	mu *stdsync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startDaemonWithMap logs in, starts the daemon and takes the demo map
// offline through POST /api/v1/jobs.
func startDaemonWithMap(t *testing.T, bin string, em *emulatortest.Server) *daemonProc {
	t.Helper()
	root := t.TempDir()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(emulator.DemoPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "login", "-data", root, "-portal", em.PortalURL, "-user", emulator.DemoUser, "-password-file", pw).CombinedOutput(); err != nil {
		t.Fatalf("login: %v\n%s", err, out)
	}
	d := &daemonProc{root: root, stderr: &bytes.Buffer{}}
	d.cmd = exec.Command(bin, "serve", "-data", root, "-listen", "127.0.0.1:0", "-portal", em.PortalURL, "-poll-interval", "10ms", "-sync-interval", "1s", "-log-level", "warn")
	d.cmd.Stderr = lockedWriter{&d.mu, d.stderr}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(d.cmd, false, 20*time.Second) })
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(root, "api-addr")); err == nil {
			d.base, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start:\n%s", d.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := config.ReadAPIToken(root)
	if err != nil {
		t.Fatal(err)
	}
	d.token = tok
	id := d.createJob(t, fmt.Sprintf(`{"portalUrl":%q,"itemId":%q}`, em.PortalURL, emulator.DemoWebMapFieldSurveyID), "survey", "Survey")
	for {
		_, j := d.api(t, "GET", "/api/v1/jobs/"+id, "")
		if s, _ := j["state"].(string); s == "succeeded" {
			break
		} else if s == "failed" || s == "canceled" {
			t.Fatalf("job %s: %v\n%s", s, j, d.logs())
		}
		if time.Now().After(deadline.Add(time.Minute)) {
			t.Fatalf("job did not finish: %v", j)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d
}

func (d *daemonProc) api(t testing.TB, method, path, body string) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, d.base+path, r)
	req.Header.Set("Authorization", "Bearer "+d.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// jobArea is the area of interest and scale range of the scenarios' jobs.
const jobArea = `"areaOfInterest":{"xmin":-117.25,"ymin":33.98,"xmax":-117.10,"ymax":34.10,"spatialReference":{"wkid":4326}},"minScale":150000,"maxScale":70000`

// createJob posts a take-offline job of source (a JSON object) to the
// daemon as map mapID (titled title unless "") and returns the job id.
func (d *daemonProc) createJob(t testing.TB, source, mapID, title string) string {
	t.Helper()
	body := fmt.Sprintf(`{"source":%s,"mapId":%q,`, source, mapID)
	if title != "" {
		body += fmt.Sprintf(`"title":%q,`, title)
	}
	code, job := d.api(t, "POST", "/api/v1/jobs", body+jobArea+"}")
	if code != 201 {
		t.Fatalf("create job %s: %d %v", mapID, code, job)
	}
	id, _ := job["id"].(string)
	return id
}

// layerIDs lists the API ids of the map's feature layers.
func (d *daemonProc) layerIDs(t testing.TB) []string {
	_, m := d.api(t, "GET", "/api/v1/maps/survey/layers", "")
	var ids []string
	ls, _ := m["layers"].([]any)
	for _, l := range ls {
		if lm, ok := l.(map[string]any); ok {
			ids = append(ids, fmt.Sprint(lm["id"]))
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no layers: %v", m)
	}
	return ids
}

// hostileFigures are scenario 5's figures.
type hostileFigures struct {
	Requests, By4xx, By2xx, Documented5xx, Undocumented5xx, TransportErrors int
	AcceptedWrites, ChangedRows                                             int
}

var hostileStrings = []string{
	"", "../../../../etc/passwd", "..%2f..%2fregistry.json", "%00", "survey/../../x", "' OR 1=1 --", "1; DROP TABLE gpkg_contents; --",
	"\"; DELETE FROM gpkgext_offlined_changes; --", strings.Repeat("A", 5000), "日本語", "\u202e", "NaN", "-1", "99999999999999999999999999",
	"1e309", "null", "true", "[]", "{}", "0x10", "OBJECTID > 0 UNION SELECT * FROM sqlite_master", "Notes LIKE '%' ESCAPE '",
}

var hostileBodies = []string{
	"{", "}", "null", "[]", `{"type":"Feature"}`, `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1e309,2]},"properties":{}}]}`,
	`{"properties":{"InspectionID":12345678901234567890123456789}}`, `{"properties":{"Notes":{"a":[1,2,3]}}}`, `{"geometry":{"type":"Polygon","coordinates":[[[0,0]]]}}`,
	`{"type":"Feature","geometry":{"type":"Point","coordinates":["a","b"]},"properties":{"GlobalID":"' OR 1=1"}}`, `"` + strings.Repeat("x", 1<<16) + `"`,
	`{"features":` + strings.Repeat("[", 10000) + `}`, `{"adds":[{"attributes":{"OBJECTID":-1}}],"deletes":"1,2,3; DROP"}`, "\x00\x01\x02\xff",
}

// hostileRequest builds one random hostile request; write says whether it
// could change a store if the daemon accepted it.
func hostileRequest(rnd *rand.Rand, d *daemonProc, layers []string) (req *http.Request, desc string, write bool) {
	pick := func(xs []string) string { return xs[rnd.IntN(len(xs))] }
	layer := pick(layers)
	if rnd.IntN(4) == 0 {
		layer = pick(hostileStrings)
	}
	mapID := "survey"
	if rnd.IntN(6) == 0 {
		mapID = pick(hostileStrings)
	}
	base := "/api/v1/maps/" + mapID
	paths := []struct {
		method, path string
	}{
		{"GET", base + "/layers/" + layer + "/features?where=" + urlq(pick(hostileStrings)) + "&limit=" + urlq(pick(hostileStrings))},
		{"GET", base + "/layers/" + layer + "/features?bbox=" + urlq(pick(hostileStrings)) + "&offset=" + urlq(pick(hostileStrings))},
		{"GET", base + "/layers/" + layer + "/features/" + urlq(pick(hostileStrings))},
		{"POST", base + "/layers/" + layer + "/features"},
		{"PATCH", base + "/layers/" + layer + "/features/" + urlq(pick(hostileStrings))},
		{"DELETE", base + "/layers/" + layer + "/features/" + urlq(pick(hostileStrings))},
		{"POST", base + "/layers/" + layer + "/features/" + urlq(pick(hostileStrings)) + "/attachments"},
		{"GET", base + "/tiles/" + urlq(pick(hostileStrings)) + "/" + urlq(pick(hostileStrings)) + "/1/" + urlq(pick(hostileStrings))},
		{"GET", "/arcgis/rest/services/" + mapID + "/FeatureServer/" + layer + "/query?f=json&where=" + urlq(pick(hostileStrings)) + "&outFields=" + urlq(pick(hostileStrings))},
		{"POST", "/arcgis/rest/services/" + mapID + "/FeatureServer/" + layer + "/applyEdits"},
		{"POST", "/api/v1/jobs"},
		{"POST", base + "/conflicts/" + urlq(pick(hostileStrings)) + "/resolve"},
		{"DELETE", "/api/v1/maps/" + urlq(pick(hostileStrings[1:]))},
		{"GET", "/api/v1/" + pick(hostileStrings)},
	}
	p := paths[rnd.IntN(len(paths))]
	var body io.Reader
	bdesc := ""
	if p.method != "GET" && p.method != "DELETE" {
		b := pick(hostileBodies)
		if rnd.IntN(20) == 0 {
			b = strings.Repeat(`{"a":1}`, 2<<20) // oversize
		}
		if strings.Contains(p.path, "applyEdits") {
			b = "f=json&adds=" + urlq(pick(hostileBodies)) + "&updates=" + urlq(pick(hostileStrings)) + "&deletes=" + urlq(pick(hostileStrings))
		}
		body, bdesc = strings.NewReader(b), firstN(b, 60)
	}
	req, err := http.NewRequest(p.method, d.base+p.path, body)
	if err != nil {
		req, _ = http.NewRequest("GET", d.base+"/api/v1/maps/%2e%2e", nil)
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	switch rnd.IntN(10) {
	case 0:
		req.Header.Set("Authorization", "Bearer "+pick(hostileStrings))
	case 1:
		req.Host = pick([]string{"evil.example.com", "127.0.0.1.nip.io", "localhost.evil", "[::2]:80"})
	case 2:
		req.Header.Set("Content-Type", pick([]string{"multipart/form-data; boundary=", "application/x-www-form-urlencoded", "text/plain"}))
	default:
		if strings.Contains(p.path, "applyEdits") {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		} else {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	write = p.method != "GET" && !strings.HasSuffix(p.path, "/jobs")
	return req, p.method + " " + firstN(p.path, 120) + " " + bdesc, write
}

func urlq(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func firstN(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// hostileInput sends n hostile requests to a daemon whose map syncs
// (background interval and POST /sync) meanwhile; no panic, no 5xx outside
// the documented ones (501 not available, 502 portal error), the daemon
// alive, the stores unchanged when no write was accepted.
func hostileInput(t *testing.T, n int, seed uint64) hostileFigures {
	bin := offlinedBinary(t, false)
	em := startEmu(t, emulator.Options{})
	d := startDaemonWithMap(t, bin, em)
	layers := d.layerIDs(t)
	dataDir := filepath.Join(d.root, "packages")
	if _, err := os.Stat(dataDir); err != nil {
		dataDir = d.root
	}
	// One sync first so the store is quiet (no server changes pending).
	d.api(t, "POST", "/api/v1/maps/survey/sync", "")
	time.Sleep(500 * time.Millisecond)
	before := packageDigest(t, dataDir)

	ctx, cancel := context.WithCancel(context.Background())
	var wg stdsync.WaitGroup
	wg.Go(func() { // syncs keep running during the attack
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "POST", d.base+"/api/v1/maps/survey/sync", nil)
			req.Header.Set("Authorization", "Bearer "+d.token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	rnd := rand.New(rand.NewPCG(seed, 11))
	var fig hostileFigures
	hc := &http.Client{Timeout: 30 * time.Second}
	for range n {
		req, desc, write := hostileRequest(rnd, d, layers)
		fig.Requests++
		resp, err := hc.Do(req)
		if err != nil {
			fig.TransportErrors++
			if fig.TransportErrors < 5 {
				t.Logf("transport error (oversize bodies may be cut by the server): %s: %v", desc, err)
			}
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch s := resp.StatusCode; {
		case s == 501 || s == 502:
			fig.Documented5xx++
		case s >= 500:
			fig.Undocumented5xx++
			t.Errorf("%d for %s", s, desc)
		case s >= 400:
			fig.By4xx++
		default:
			fig.By2xx++
			if write {
				fig.AcceptedWrites++
				t.Logf("write accepted (%d): %s", s, desc)
			}
		}
	}
	cancel()
	wg.Wait()
	if code, _ := d.api(t, "GET", "/api/v1/status", ""); code != 200 {
		t.Errorf("daemon status after the attack: %d", code)
	}
	if strings.Contains(d.logs(), "panic") {
		t.Errorf("daemon logged a panic:\n%s", tail(d.logs()))
	}
	after := packageDigest(t, dataDir)
	for k, m := range before.Features {
		for id, h := range m {
			if after.Features[k][id] != h {
				fig.ChangedRows++
			}
		}
		fig.ChangedRows += max(0, len(after.Features[k])-len(m))
	}
	if fig.ChangedRows > fig.AcceptedWrites {
		t.Errorf("%d rows changed but only %d writes were accepted", fig.ChangedRows, fig.AcceptedWrites)
	}
	integrityOK(t, dataDir)
	t.Logf("hostile input: requests=%d 2xx=%d 4xx=%d documented 5xx=%d undocumented 5xx=%d transport errors=%d accepted writes=%d changed rows=%d",
		fig.Requests, fig.By2xx, fig.By4xx, fig.Documented5xx, fig.Undocumented5xx, fig.TransportErrors, fig.AcceptedWrites, fig.ChangedRows)
	return fig
}
