package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

// daemon is a running `offlined serve`.
type daemon struct {
	root, base, token string
	logs              *testutil.SyncBuffer
	stop              func() error
}

func startDaemon(t *testing.T, root string, args ...string) *daemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{root: root, logs: &testutil.SyncBuffer{}}
	errc := make(chan error, 1)
	os.Remove(filepath.Join(root, AddrFile))
	go func() {
		errc <- run(ctx, append([]string{"serve", "-data", root, "-listen", "127.0.0.1:0", "-log-format", "json", "-log-level", "debug", "-poll-interval", "10ms", "-sync-interval", "0"}, args...), io.Discard, d.logs)
	}()
	exited := false
	var exitErr error
	started := testutil.Poll(testutil.Timeout, func() bool {
		if b, err := os.ReadFile(filepath.Join(root, AddrFile)); err == nil {
			d.base, _, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
			return true
		}
		select {
		case exitErr = <-errc:
			exited = true
			return true
		default:
			return false
		}
	})
	switch {
	case exited:
		cancel()
		t.Fatalf("serve exited: %v\n%s", exitErr, d.logs.String())
	case !started:
		cancel()
		t.Fatalf("daemon did not start:\n%s", d.logs.String())
	}
	tok, err := config.ReadAPIToken(root)
	if err != nil {
		t.Fatal(err)
	}
	d.token = tok
	stopped := false
	var stopErr error
	d.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(20 * time.Second):
				stopErr = fmt.Errorf("serve did not stop")
			}
		}
		return stopErr
	}
	t.Cleanup(func() { d.stop() })
	return d
}

// api calls the daemon and decodes JSON.
func (d *daemon) api(t *testing.T, method, path string, body io.Reader, hdr ...string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, d.base+path, body)
	req.Header.Set("Authorization", "Bearer "+d.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

// cli runs a command and returns stdout (failing on error).
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(t.Context(), args, &out, &errb); err != nil {
		t.Fatalf("offlined %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

func cliErr(t *testing.T, args ...string) error {
	t.Helper()
	var out bytes.Buffer
	err := run(t.Context(), args, &out, io.Discard)
	if err == nil {
		t.Fatalf("offlined %v succeeded: %s", args, out.String())
	}
	return err
}

func TestServeRefusesNonLoopbackWithoutTLS(t *testing.T) {
	root := t.TempDir()
	err := run(t.Context(), []string{"serve", "-data", root, "-listen", "0.0.0.0:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-listen") {
		t.Fatalf("non-loopback listen: %v", err)
	}
	err = run(t.Context(), []string{"serve", "-data", root, "-listen", "0.0.0.0:0", "-allow-remote"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-tls-cert") {
		t.Fatalf("remote without TLS: %v", err)
	}
	err = run(t.Context(), []string{"serve", "-data", root, "-portal", "https://nowhere.example/sharing/rest"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-portal") {
		t.Fatalf("portal without credentials: %v", err)
	}
}

func TestLoginLogoutKeepSecretsOut(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	root := t.TempDir()
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(emulator.DemoPassword+"\n"), 0o600)
	var out, errb bytes.Buffer
	if err := run(t.Context(), []string{"login", "-data", root, "-portal", em.URL + "/sharing/rest/", "-user", emulator.DemoUser, "-password-file", pw}, &out, &errb); err != nil {
		t.Fatalf("login: %v %s", err, errb.String())
	}
	fi, err := os.Stat(filepath.Join(root, config.CredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(filepath.Join(root, config.CredentialsFile))
	if bytes.Contains(raw, []byte(emulator.DemoPassword)) {
		t.Fatal("the password was stored")
	}
	c, err := config.FindCredential(root, em.PortalURL)
	if err != nil || c.Kind != config.KindToken || c.Token == "" || c.Expires.Before(time.Now()) {
		t.Fatalf("stored credential %+v %v", c.Redacted(), err)
	}
	for _, s := range []string{out.String(), errb.String()} {
		if strings.Contains(s, emulator.DemoPassword) || strings.Contains(s, c.Token) {
			t.Fatal("login printed a secret")
		}
	}
	js := cli(t, "login", "-data", root, "-portal", em.PortalURL, "-user", emulator.DemoUser, "-password-file", pw, "-json")
	if strings.Contains(js, emulator.DemoPassword) || !strings.Contains(js, "[redacted]") {
		t.Fatalf("login -json: %s", js)
	}
	// Wrong password, and flag errors name the flag.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("nope\n"), 0o600)
	for args, flagName := range map[string]string{
		"-portal " + em.PortalURL + " -user " + emulator.DemoUser + " -password-file " + bad: "-user",
		"-user x":                 "-portal",
		"-portal ftp://x -user x": "-portal",
		"-portal " + em.PortalURL: "-user",
		"-portal " + em.PortalURL + " -client-secret-file " + bad:          "-client-id",
		"-portal " + em.PortalURL + " -user x -password-file /nonexistent": "-password-file",
		"-portal " + em.PortalURL + " -user x -expiration 0":               "-expiration",
	} {
		err := cliErr(t, append([]string{"login", "-data", root}, strings.Fields(args)...)...)
		if !strings.HasPrefix(err.Error(), flagName+":") {
			t.Errorf("login %s: %v (want %s)", args, err, flagName)
		}
	}
	// API keys are stored as such.
	kf := filepath.Join(t.TempDir(), "key")
	os.WriteFile(kf, []byte("AAPK-secret-key\n"), 0o600)
	cli(t, "login", "-data", root, "-portal", "https://example.com/portal", "-api-key-file", kf)
	if c, err := config.FindCredential(root, "https://example.com/portal/sharing/rest"); err != nil || c.APIKey != "AAPK-secret-key" {
		t.Fatalf("api key credential %v", err)
	}
	cli(t, "logout", "-data", root, "-portal", em.PortalURL)
	if _, err := config.FindCredential(root, em.PortalURL); err == nil {
		t.Fatal("logout kept the credential")
	}
	if err := cliErr(t, "logout", "-data", root, "-portal", em.PortalURL); !strings.HasPrefix(err.Error(), "-portal:") {
		t.Fatalf("second logout: %v", err)
	}
}

// TestEndToEndTakeOfflineEditPhotoSync drives the daemon over HTTP and the
// CLI: sign in, take the demo web map offline (the real offline job),
// add a feature and a photo, sync, and find both on the server.
func TestEndToEndTakeOfflineEditPhotoSync(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{})
	root := signedInRoot(t, em)
	cred, _ := config.FindCredential(root, em.PortalURL)
	d := startDaemon(t, root, "-portal", em.PortalURL)
	if tok := strings.TrimSpace(cli(t, "token", "-data", root)); tok != d.token {
		t.Fatalf("offlined token printed %q", tok)
	}
	var st map[string]any
	json.Unmarshal([]byte(cli(t, "status", "-data", root, "-json")), &st)
	if st["portal"] != true || st["jobs"] != true || st["maps"].(float64) != 0 {
		t.Fatalf("status %v", st)
	}
	if out := cli(t, "capabilities", "-data", root, "-item", emulator.DemoWebMapFieldSurveyID); !strings.Contains(out, "Inspections") {
		t.Fatalf("capabilities output: %s", out)
	}
	if err := cliErr(t, "capabilities", "-data", root, "-item", "doesnotexist"); !strings.HasPrefix(err.Error(), "-item:") {
		t.Fatalf("capabilities bad item: %v", err)
	}

	// Take offline.
	id := postJob(t, d, demoJob(em, "survey", "Survey", 40000))["id"].(string)
	req, _ := http.NewRequest("GET", d.base+"/api/v1/jobs/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var last map[string]any
	var prevID int
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "id: "); ok {
			var n int
			fmt.Sscan(v, &n)
			if n != prevID+1 {
				t.Fatalf("event id %d after %d", n, prevID)
			}
			prevID = n
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok {
			last = nil
			json.Unmarshal([]byte(v), &last)
		}
	}
	resp.Body.Close()
	if last["state"] != "succeeded" {
		t.Fatalf("job ended with %v\n%s", last, d.logs.String())
	}
	var maps struct {
		Maps []struct {
			ID       string `json:"id"`
			Complete bool   `json:"complete"`
			Layers   []struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			} `json:"layers"`
			TileLayers []string `json:"tileLayers"`
		} `json:"maps"`
	}
	json.Unmarshal([]byte(cli(t, "maps", "-data", root, "-json")), &maps)
	if len(maps.Maps) != 1 || maps.Maps[0].ID != "survey" || !maps.Maps[0].Complete || len(maps.Maps[0].TileLayers) == 0 {
		t.Fatalf("maps after the job: %+v", maps)
	}
	layer := ""
	for _, l := range maps.Maps[0].Layers {
		if l.Name == "Inspections" {
			layer = l.ID
		}
	}
	if layer == "" {
		t.Fatalf("no Inspections layer: %+v", maps.Maps[0].Layers)
	}
	code, tj := d.api(t, "GET", "/api/v1/maps/survey/tiles/"+maps.Maps[0].TileLayers[0]+"/tilejson", nil)
	if code != 200 || tj["tiles"] == nil {
		t.Fatalf("tilejson %d %v", code, tj)
	}

	// Edit and add a photo.
	gid := addInspection(t, d, "survey", layer, "E2E-1")
	photo := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, 10000)
	code, att := d.api(t, "POST", "/api/v1/maps/survey/layers/"+layer+"/features/"+url.PathEscape(gid)+"/attachments?name=photo.jpg", bytes.NewReader(photo), "Content-Type", "image/jpeg")
	if code != 201 {
		t.Fatalf("add photo %d %v", code, att)
	}
	// Sync through the CLI.
	out := cli(t, "sync", "-data", root, "-map", "survey")
	if !strings.Contains(out, "attachments 1") {
		t.Fatalf("sync output: %s", out)
	}
	if err := cliErr(t, "sync", "-data", root, "-map", "nope"); !strings.HasPrefix(err.Error(), "-map:") {
		t.Fatalf("sync bad map: %v", err)
	}
	// The server has the feature and the photo.
	c := demoClient(t, em)
	lurl := em.ServicesURL + "/Field_Survey/FeatureServer/0"
	fs, err := c.Query(t.Context(), lurl, arcgis.QueryParams{Where: "InspectionID = 'E2E-1'", OutFields: []string{"*"}})
	if err != nil || len(fs.Features) != 1 {
		t.Fatalf("server feature: %v %v", fs, err)
	}
	atts, err := c.Attachments(t.Context(), lurl, int64(fs.Features[0].Attributes["OBJECTID"].(float64)))
	if err != nil || len(atts) != 1 || atts[0].Size != int64(len(photo)) {
		t.Fatalf("server attachments %+v %v", atts, err)
	}
	var cs map[string]any
	json.Unmarshal([]byte(cli(t, "conflicts", "-data", root, "-map", "survey", "-json")), &cs)
	if cs["conflicts"] == nil {
		t.Fatalf("conflicts -json %v", cs)
	}
	if err := cliErr(t, "conflicts", "-data", root); !strings.HasPrefix(err.Error(), "-map:") {
		t.Fatalf("conflicts without -map: %v", err)
	}
	if err := cliErr(t, "conflicts", "-data", root, "-map", "survey", "-resolve", "Field_Survey:42", "-choice", "device"); !strings.HasPrefix(err.Error(), "-resolve:") {
		t.Fatalf("resolve unknown conflict: %v", err)
	}
	if out := cli(t, "sync", "-data", root, "-map", "survey", "-status"); !strings.Contains(out, "pending edits 0") {
		t.Fatalf("sync -status: %s", out)
	}
	// No API response carries a secret.
	for _, p := range []string{"/api/v1/status", "/api/v1/jobs", "/api/v1/jobs/" + id, "/api/v1/maps", "/api/v1/maps/survey/manifest", "/api/v1/maps/survey/sync"} {
		req, _ := http.NewRequest("GET", d.base+p, nil)
		req.Header.Set("Authorization", "Bearer "+d.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(b, []byte(cred.Token)) || bytes.Contains(b, []byte(d.token)) || bytes.Contains(b, []byte(emulator.DemoPassword)) {
			t.Fatalf("%s: status %d or a secret in the response", p, resp.StatusCode)
		}
	}
	if out := cli(t, "status", "-data", root); !strings.Contains(out, "maps: 1") {
		t.Fatalf("status output: %s", out)
	}
	// Deleting the map unregisters its replica on the server.
	reps, err := c.Replicas(t.Context(), em.ServicesURL+"/Field_Survey/FeatureServer")
	if err != nil || len(reps) != 1 {
		t.Fatalf("replicas before delete: %v %v", reps, err)
	}
	cli(t, "maps", "-data", root, "-delete", "survey")
	if reps, err := c.Replicas(t.Context(), em.ServicesURL+"/Field_Survey/FeatureServer"); err != nil || len(reps) != 0 {
		t.Fatalf("replicas after delete: %v %v", reps, err)
	}
	if err := cliErr(t, "maps", "-data", root, "-delete", "survey"); !strings.HasPrefix(err.Error(), "-delete:") {
		t.Fatalf("second delete: %v", err)
	}
	// Graceful stop; no secret in the daemon's logs.
	if err := d.stop(); err != nil {
		t.Fatalf("serve stop: %v", err)
	}
	logs := d.logs.String()
	if !strings.Contains(logs, `"msg":"stopped"`) {
		t.Fatalf("no clean stop in logs:\n%s", logs)
	}
	for _, secret := range []string{d.token, cred.Token, emulator.DemoPassword} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a secret appears in the daemon logs")
		}
	}
	if _, err := os.Stat(filepath.Join(root, AddrFile)); !os.IsNotExist(err) {
		t.Fatal("api-addr left behind")
	}
	// The CLI without a daemon says so.
	if err := cliErr(t, "status", "-data", root, "-addr", "127.0.0.1:1"); !strings.Contains(err.Error(), "cannot reach the daemon") {
		t.Fatalf("status without daemon: %v", err)
	}
	if err := cliErr(t, "maps", "-data", t.TempDir()); !strings.HasPrefix(err.Error(), "-data:") {
		t.Fatalf("maps without token: %v", err)
	}
}

func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := testutil.SelfSignedPEM(t, &x509.Certificate{Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, certPEM, 0o600)
	os.WriteFile(key, keyPEM, 0o600)
	root := t.TempDir()
	d := startDaemon(t, root, "-tls-cert", cert, "-tls-key", key)
	if !strings.HasPrefix(d.base, "https://") {
		t.Fatalf("base %s", d.base)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", strings.Replace(d.base, "127.0.0.1", "localhost", 1)+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status over TLS: %d", resp.StatusCode)
	}
	if out := cli(t, "status", "-data", root); !strings.Contains(out, "https://") {
		t.Fatalf("CLI over TLS: %s", out)
	}
	err = run(t.Context(), []string{"serve", "-data", t.TempDir(), "-listen", "127.0.0.1:0", "-tls-cert", key, "-tls-key", key}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-tls-cert") {
		t.Fatalf("bad certificate: %v", err)
	}
}

// TestRealJobPauseResume pauses the real offline job while it downloads
// tiles (slowed down by the emulator), resumes it, and checks the package is
// complete with exactly one replica on the server.
func TestRealJobPauseResume(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{Faults: emulator.Faults{Latency: 40 * time.Millisecond, Paths: []string{"/tile/"}}})
	d := signedInDaemon(t, em)
	job := postJob(t, d, demoJob(em, "paused", "", 20000))
	id := job["id"].(string)
	if job["request"].(map[string]any)["overrides"] == nil {
		t.Fatal("overrides not resolved at creation")
	}
	waitFor := func(what string, ok func(map[string]any) bool) map[string]any {
		var j map[string]any
		testutil.Eventually(t, "the job to have "+what, func() bool {
			_, j = d.api(t, "GET", "/api/v1/jobs/"+id, nil)
			return ok(j)
		})
		return j
	}
	waitFor("made progress", func(j map[string]any) bool {
		p, _ := j["progress"].(map[string]any)
		return j["state"] == "running" && p != nil && p["percent"].(float64) > 0
	})
	code, p := d.api(t, "POST", "/api/v1/jobs/"+id+"/pause", nil)
	if code != 200 || p["state"] != "paused" {
		if p["state"] == nil && strings.Contains(fmt.Sprint(p), "succeeded") {
			t.Skip("the job finished before it could be paused")
		}
		t.Fatalf("pause: %d %v", code, p)
	}
	code, r := d.api(t, "POST", "/api/v1/jobs/"+id+"/resume", nil)
	if code != 200 {
		t.Fatalf("resume: %d %v", code, r)
	}
	j := waitFor("succeeded", func(j map[string]any) bool { return j["state"] == "succeeded" || j["state"] == "failed" })
	// Paused in place (offline.Job's Pause and Resume): one run, not a
	// cancel and a restart.
	if j["state"] != "succeeded" || j["attempts"].(float64) != 1 {
		t.Fatalf("after resume: %v", j)
	}
	code, m := d.api(t, "GET", "/api/v1/maps/paused", nil)
	if code != 200 || m["complete"] != true {
		t.Fatalf("map: %d %v", code, m)
	}
	surveyReplicas(t, em, "after pause/resume")
}

// TestRestartResumesRealJob stops the daemon in the middle of a real job;
// the job is left pending on disk and the next start finishes it.
func TestRestartResumesRealJob(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{Faults: emulator.Faults{Latency: 40 * time.Millisecond, Paths: []string{"/tile/"}}})
	d := signedInDaemon(t, em)
	root := d.root
	id := postJob(t, d, demoJob(em, "restart", "", 20000))["id"].(string)
	var j map[string]any
	testutil.Eventually(t, "job progress", func() bool {
		_, j = d.api(t, "GET", "/api/v1/jobs/"+id, nil)
		p, _ := j["progress"].(map[string]any)
		return j["state"] == "succeeded" || p != nil && p["percent"].(float64) > 0
	})
	if j["state"] == "succeeded" {
		t.Skip("the job finished before the daemon could be stopped")
	}
	if err := d.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	var saved struct {
		State string `json:"state"`
	}
	b, _ := os.ReadFile(filepath.Join(root, "jobs", id+".json"))
	json.Unmarshal(b, &saved)
	if saved.State != "pending" {
		if saved.State == "succeeded" {
			t.Skip("the job finished while the daemon stopped")
		}
		t.Fatalf("job after shutdown: %s", saved.State)
	}
	d2 := startDaemon(t, root, "-portal", em.PortalURL)
	testutil.Eventually(t, "the job to end after the restart", func() bool {
		_, j = d2.api(t, "GET", "/api/v1/jobs/"+id, nil)
		return j["state"] == "succeeded" || j["state"] == "failed"
	})
	if j["state"] != "succeeded" || j["attempts"].(float64) != 2 {
		t.Fatalf("job after restart: %v\n%s", j, d2.logs.String())
	}
	if code, m := d2.api(t, "GET", "/api/v1/maps/restart", nil); code != 200 || m["complete"] != true {
		t.Fatalf("map after restart: %d %v", code, m)
	}
	surveyReplicas(t, em, "after restart")
}
