package reliability

// The fleet harness's devices: each a real `offlined serve` process with
// its own data root, logged in to the emulator through its own link proxy,
// holding its own replica of the Field_Survey map for its area.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// area is a WGS84 box.
type area struct{ MinLon, MinLat, MaxLon, MaxLat float64 }

func (a area) contains(lon, lat float64) bool {
	return lon >= a.MinLon && lon <= a.MaxLon && lat >= a.MinLat && lat <= a.MaxLat
}

// fleetAreas are the devices' areas, in turn: the whole demo area, its
// west and its east part; the strip -117.19..-117.16 is in all three.
var fleetAreas = []area{
	{-117.25, 33.98, -117.10, 34.10},
	{-117.25, 33.98, -117.16, 34.10},
	{-117.19, 33.98, -117.10, 34.10},
}

// overlap is the strip every area holds.
var overlap = area{-117.19, 33.98, -117.16, 34.10}

// fleetDevice is one device of the fleet.
type fleetDevice struct {
	n      int
	root   string
	area   area
	link   *linkProxy
	portal string // the portal URL through the link
	bin    string
	layer  string // API id of the Inspections layer

	proc *daemonProc
	logs bytes.Buffer // logs of earlier (killed) processes
}

// newFleetDevice logs the device in through its link.
func newFleetDevice(t testing.TB, bin string, em *emulatortest.Server, n int, a area) *fleetDevice {
	t.Helper()
	u, _ := url.Parse(em.URL)
	link := startLink(t, u.Host)
	d := &fleetDevice{n: n, root: t.TempDir(), area: a, link: link, bin: bin,
		portal: "http://" + link.Addr() + "/sharing/rest"}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(emulator.DemoPassword), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "login", "-data", d.root, "-portal", d.portal, "-user", emulator.DemoUser, "-password-file", pw).CombinedOutput(); err != nil {
		t.Fatalf("device %d login: %v\n%s", n, err, out)
	}
	return d
}

// start runs `offlined serve` for the device (background sync on) and
// waits for its API.
func (d *fleetDevice) start(t testing.TB, syncInterval time.Duration) error {
	_ = os.Remove(filepath.Join(d.root, "api-addr"))
	p := &daemonProc{root: d.root, stderr: &bytes.Buffer{}}
	p.cmd = exec.Command(d.bin, "serve", "-data", d.root, "-listen", "127.0.0.1:0", "-portal", d.portal,
		"-poll-interval", "20ms", "-sync-interval", syncInterval.String(), "-log-level", envStr("FLEET_LOG_LEVEL", "warn"))
	p.cmd.Stderr = lockedWriter{&p.mu, p.stderr}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	d.proc = p
	deadline := time.Now().Add(time.Minute)
	for {
		if b, err := os.ReadFile(filepath.Join(d.root, "api-addr")); err == nil && len(b) > 0 {
			p.base, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("device %d: daemon did not start:\n%s", d.n, tail(p.logs()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	tok, err := config.ReadAPIToken(d.root)
	if err != nil {
		return err
	}
	p.token = tok
	return nil
}

// stop ends the daemon: SIGINT, or SIGKILL when kill is set or it hangs.
func (d *fleetDevice) stop(kill bool) {
	p := d.proc
	if p == nil {
		return
	}
	d.proc = nil
	stopProcess(p.cmd, kill, 30*time.Second)
	d.logs.WriteString(p.logs())
}

// allLogs are the logs of every process the device ran.
func (d *fleetDevice) allLogs() string {
	s := d.logs.String()
	if d.proc != nil {
		s += d.proc.logs()
	}
	return s
}

// takeOffline downloads the map for the device's area through the API.
func (d *fleetDevice) takeOffline(t testing.TB) error {
	// The crew shares photos: attachments sync both ways (the web map's
	// own setting uploads them only).
	src := fmt.Sprintf(`{"portalUrl":%q,"itemId":%q}`, d.portal, emulator.DemoWebMapFieldSurveyID)
	code, params, err := d.call("POST", "/api/v1/parameters", fmt.Sprintf(`{"source":%s,"areaOfInterest":{"xmin":%g,"ymin":%g,"xmax":%g,"ymax":%g,"spatialReference":{"wkid":4326}},"minScale":150000,"maxScale":70000}`,
		src, d.area.MinLon, d.area.MinLat, d.area.MaxLon, d.area.MaxLat))
	if err != nil || code != 200 {
		return fmt.Errorf("device %d: parameters: %d %v %v", d.n, code, params, err)
	}
	params["attachmentSyncDirection"] = "bidirectional"
	pj, _ := json.Marshal(params)
	code, job, err := d.call("POST", "/api/v1/jobs", fmt.Sprintf(`{"source":%s,"mapId":"survey","title":"Survey","parameters":%s}`, src, pj))
	if err != nil || code != 201 {
		return fmt.Errorf("device %d: create job: %d %v %v", d.n, code, job, err)
	}
	id, _ := job["id"].(string)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		_, j, err := d.call("GET", "/api/v1/jobs/"+id, "")
		if err != nil {
			return err
		}
		switch s, _ := j["state"].(string); s {
		case "succeeded":
			_, m, err := d.call("GET", "/api/v1/maps/survey/layers", "")
			if err != nil {
				return err
			}
			ls, _ := m["layers"].([]any)
			for _, l := range ls {
				if lm, ok := l.(map[string]any); ok && lm["name"] == "Inspections" {
					d.layer = fmt.Sprint(lm["id"])
				}
			}
			if d.layer == "" {
				return fmt.Errorf("device %d: no Inspections layer: %v", d.n, m)
			}
			return nil
		case "failed", "canceled":
			return fmt.Errorf("device %d: job %s: %v", d.n, s, j)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("device %d: job did not finish: %v", d.n, j)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// call is one local API request; err only for transport failures.
func (d *fleetDevice) call(method, path, body string) (int, map[string]any, error) {
	return d.callRaw(method, path, "application/json", strings.NewReader(body))
}

var fleetHTTP = &http.Client{Timeout: 2 * time.Minute}

func (d *fleetDevice) callRaw(method, path, ctype string, body io.Reader) (int, map[string]any, error) {
	p := d.proc
	if p == nil {
		return 0, nil, fmt.Errorf("device %d is not running", d.n)
	}
	req, err := http.NewRequest(method, p.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", ctype)
	resp, err := fleetHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m == nil && len(b) > 0 {
		m = map[string]any{"raw": firstN(string(b), 300)}
	}
	return resp.StatusCode, m, nil
}

func (d *fleetDevice) featuresPath() string {
	return "/api/v1/maps/survey/layers/" + d.layer + "/features"
}

// apiFeature is a feature as the local API returns it (WGS84).
type apiFeature struct {
	GlobalID string
	Props    map[string]any
	Lon, Lat float64
	HasGeom  bool
}

// features pages through the device's Inspections layer.
func (d *fleetDevice) features() ([]apiFeature, error) {
	var out []apiFeature
	for off := 0; ; off += 1000 {
		code, m, err := d.call("GET", fmt.Sprintf("%s?limit=1000&offset=%d", d.featuresPath(), off), "")
		if err != nil || code != 200 {
			return nil, fmt.Errorf("device %d: query: %d %v %v", d.n, code, firstN(fmt.Sprint(m), 300), err)
		}
		fs, _ := m["features"].([]any)
		for _, f := range fs {
			out = append(out, toAPIFeature(f))
		}
		if len(fs) < 1000 {
			return out, nil
		}
	}
}

func toAPIFeature(v any) apiFeature {
	fm, _ := v.(map[string]any)
	props, _ := fm["properties"].(map[string]any)
	af := apiFeature{Props: props}
	for k, v := range props {
		if strings.EqualFold(k, "GlobalID") {
			af.GlobalID = strings.ToUpper(fmt.Sprint(v))
		}
	}
	if g, ok := fm["geometry"].(map[string]any); ok {
		if c, ok := g["coordinates"].([]any); ok && len(c) >= 2 {
			af.Lon, _ = c[0].(float64)
			af.Lat, _ = c[1].(float64)
			af.HasGeom = true
		}
	}
	return af
}

// attachments lists a feature's attachments as name → SHA-256 list.
func (d *fleetDevice) attachments(gid string) ([]attRef, error) {
	code, m, err := d.call("GET", d.featuresPath()+"/"+url.PathEscape(gid)+"/attachments", "")
	if err != nil || code != 200 {
		return nil, fmt.Errorf("device %d: attachments of %s: %d %v %v", d.n, gid, code, m, err)
	}
	var out []attRef
	as, _ := m["attachments"].([]any)
	for _, a := range as {
		am, _ := a.(map[string]any)
		out = append(out, attRef{GlobalID: strings.ToUpper(fmt.Sprint(am["globalId"])), Name: fmt.Sprint(am["name"]), SHA: fmt.Sprint(am["sha256"])})
	}
	return out, nil
}

// attRef is one attachment by name and content hash.
type attRef struct{ GlobalID, Name, SHA string }

// envStr reads a string from the environment, else def.
func envStr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
