package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

// loginRun is `offlined login` running in the background; url is the
// sign-in address it printed.
type loginRun struct {
	url  string
	done chan error
	out  *testutil.SyncBuffer
}

// startLogin runs login with args and waits for the sign-in URL it prints.
func startLogin(t *testing.T, args ...string) *loginRun {
	t.Helper()
	pr, pw := io.Pipe()
	l := &loginRun{done: make(chan error, 1), out: &testutil.SyncBuffer{}}
	var errb testutil.SyncBuffer
	go func() {
		err := run(t.Context(), append([]string{"login"}, args...), pw, &errb)
		pw.CloseWithError(io.EOF)
		l.done <- err
	}()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			l.out.Write([]byte(line + "\n"))
			if s := strings.TrimSpace(line); strings.HasPrefix(s, "http") {
				select {
				case urls <- s:
				default:
				}
			}
		}
	}()
	select {
	case l.url = <-urls:
	case err := <-l.done:
		t.Fatalf("login ended before printing a URL: %v\n%s%s", err, l.out.String(), errb.String())
	case <-time.After(testutil.Timeout):
		t.Fatal("login printed no URL")
	}
	return l
}

func (l *loginRun) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-l.done:
		if err != nil {
			t.Fatalf("login: %v\n%s", err, l.out.String())
		}
	case <-time.After(testutil.Timeout):
		t.Fatal("login did not finish")
	}
}

// signInOOB plays the user on another device: it signs in at authURL and
// returns the code the portal shows.
func signInOOB(t *testing.T, authURL string) string {
	t.Helper()
	u, _ := url.Parse(authURL)
	form := u.Query()
	form.Set("username", emulator.DemoUser)
	form.Set("password", emulator.DemoPassword)
	u.RawQuery = ""
	resp, err := http.PostForm(u.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	return emulatortest.OOBCode(t, resp)
}

// loginOOB signs root in with the out-of-band flow, the code pasted
// through a FIFO as a user would type it.
func loginOOB(t *testing.T, root, portal string) {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), "code")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	l := startLogin(t, "-data", root, "-portal", portal, "-client-id", emulator.DemoClientID, "-oob", "-code-file", fifo)
	if !strings.Contains(l.url, "redirect_uri="+url.QueryEscape("urn:ietf:wg:oauth:2.0:oob")) {
		t.Fatalf("out-of-band URL %s", l.url)
	}
	code := signInOOB(t, l.url)
	if err := os.WriteFile(fifo, []byte(code+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.wait(t)
}

func TestLoginOutOfBandStoresOnlyTheRefreshToken(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{EnterpriseLogins: true})
	root := t.TempDir()
	loginOOB(t, root, em.PortalURL)
	c, err := config.FindCredential(root, em.PortalURL)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != config.KindOAuthRefresh || c.RefreshToken == "" || c.ClientID != emulator.DemoClientID || c.Username != emulator.DemoUser ||
		c.RefreshExpires.IsZero() || c.RedirectURI != "urn:ietf:wg:oauth:2.0:oob" {
		t.Fatalf("stored credential %+v", c.Redacted())
	}
	b, _ := os.ReadFile(filepath.Join(root, config.CredentialsFile))
	if strings.Contains(string(b), emulator.DemoPassword) {
		t.Fatal("the password is stored")
	}
	if fi, _ := os.Stat(filepath.Join(root, config.CredentialsFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v", fi.Mode().Perm())
	}
}

func TestLoginSuggestsBrowserForEnterpriseAccounts(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{EnterpriseLogins: true})
	root := t.TempDir()
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte(emulator.DemoPassword), 0o600)
	err := cliErr(t, "login", "-data", root, "-portal", em.PortalURL, "-user", emulator.DemoUser, "-password-file", pw)
	if !strings.HasPrefix(err.Error(), "-user:") || !strings.Contains(err.Error(), "enterprise logins") || !strings.Contains(err.Error(), "-client-id") {
		t.Fatalf("generateToken refusal for an enterprise account: %v", err)
	}
	err = cliErr(t, "login", "-data", root, "-portal", em.PortalURL)
	if !strings.Contains(err.Error(), "the portal offers: enterprise logins") || !strings.Contains(err.Error(), "-client-id <your app") {
		t.Fatalf("login without a method: %v", err)
	}
	// A portal with ArcGIS accounts: no suggestion of the browser.
	plain := emulatortest.Start(t, emulator.Options{})
	err = cliErr(t, "login", "-data", root, "-portal", plain.PortalURL)
	if !strings.Contains(err.Error(), "ArcGIS accounts") || strings.Contains(err.Error(), "— use:") {
		t.Fatalf("login without a method on a built-in-accounts portal: %v", err)
	}
	if err := cliErr(t, "login", "-data", root, "-portal", plain.PortalURL, "-oob"); !strings.HasPrefix(err.Error(), "-oob:") {
		t.Fatalf("-oob without -client-id: %v", err)
	}
}

// chromiumPath finds Debian's chromium (the browser tests skip without it).
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium: browser tests skipped (apt-get install chromium)")
	return ""
}

// browser starts headless Chromium with the flags this machine needs
// (software WebGL for the page's map); it skips the test without chromium.
func browser(t *testing.T, opts ...chromedp.ContextOption) context.Context {
	t.Helper()
	aopts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("enable-unsafe-swiftshader", true), chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(t.Context(), aopts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx, opts...)
	t.Cleanup(cancel2)
	return ctx
}

// startedBrowser starts the browser of ctx (with no timeout: one on the
// first action would stop the browser) and returns ctx bounded by timeout
// for the steps after it.
func startedBrowser(t *testing.T, ctx context.Context, timeout time.Duration) context.Context {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return tctx
}

// demoSignIn fills the emulator's sign-in page in as the demo user.
func demoSignIn() chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), emulator.DemoUser),
		chromedp.SendKeys(chromedp.ID("password"), emulator.DemoPassword),
		chromedp.Click(chromedp.ID("submit")),
	)
}

// TestLoginBrowserFlowThenJob drives the whole browser sign-in in headless
// Chromium: offlined login → the portal's sign-in page → redirect to the
// loopback listener → stored refresh token → the daemon runs a job with it.
func TestLoginBrowserFlowThenJob(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	em := emulatortest.Start(t, emulator.Options{EnterpriseLogins: true})
	root := t.TempDir()
	l := startLogin(t, "-data", root, "-portal", em.PortalURL, "-client-id", emulator.DemoClientID, "-no-browser")
	tctx := startedBrowser(t, ctx, 2*testutil.Timeout)
	err := chromedp.Do(tctx, chromedp.Navigate(l.url), demoSignIn(), chromedp.WaitVisible(chromedp.CSS("h1")))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	page, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if !strings.Contains(page, "offlined is signed in") {
		t.Fatalf("loopback page after sign-in: %q", page)
	}
	l.wait(t)
	if !strings.Contains(l.out.String(), "signed in to "+em.PortalURL+" as "+emulator.DemoUser) {
		t.Fatalf("login output: %s", l.out.String())
	}
	c, err := config.FindCredential(root, em.PortalURL)
	if err != nil || c.Kind != config.KindOAuthRefresh || !strings.HasPrefix(c.RedirectURI, "http://127.0.0.1:") {
		t.Fatalf("stored credential %+v %v", c.Redacted(), err)
	}

	d := startDaemon(t, root, "-portal", em.PortalURL)
	id := startJob(t, d, em, "browser")
	j := waitJob(t, d, id)
	if j["state"] != "succeeded" {
		t.Fatalf("job with the browser sign-in: %v\n%s", j, d.logs.String())
	}
}

// syncStates returns each service's sync state of a map.
func syncStates(t *testing.T, d *daemon, mapID string) map[string]string {
	t.Helper()
	code, st := d.api(t, "GET", "/api/v1/maps/"+mapID+"/sync", nil)
	if code != 200 {
		t.Fatalf("sync status: %d %v", code, st)
	}
	out := map[string]string{}
	svcs, _ := st["services"].(map[string]any)
	for k, v := range svcs {
		m, _ := v.(map[string]any)
		out[k], _ = m["state"].(string)
	}
	return out
}

// TestBrowserSignInKeptAliveThenNeedsAuth: with a 3-second refresh-token
// lifetime the daemon extends the sign-in while online and keeps syncing
// for ten lifetimes; offline past the expiry the map goes needsAuth with
// its edit kept; a new sign-in recovers and the edit reaches the server
// once.
func TestBrowserSignInKeptAliveThenNeedsAuth(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs for ten refresh-token lifetimes")
	}
	const life = 3 * time.Second
	em := emulatortest.Start(t, emulator.Options{EnterpriseLogins: true, RefreshTokenLifetime: life, TokenLifetime: time.Second})
	root := t.TempDir()
	loginOOB(t, root, em.PortalURL)
	d := startDaemon(t, root, "-portal", em.PortalURL)
	if j := waitJob(t, d, startJob(t, d, em, "kept")); j["state"] != "succeeded" {
		t.Fatalf("job: %v\n%s", j, d.logs.String())
	}
	layer := mapLayer(t, d, "kept", "Inspections")
	syncOK := func() bool {
		code, _ := d.api(t, "POST", "/api/v1/maps/kept/sync", nil)
		for _, st := range syncStates(t, d, "kept") {
			if st != "idle" && st != "synced" && st != "" {
				return false
			}
		}
		return code == 200
	}

	// Ten lifetimes online: the refresh token is exchanged again and again.
	seen := map[string]bool{}
	deadline := time.Now().Add(10 * life)
	for time.Now().Before(deadline) {
		if c, err := config.FindCredential(root, em.PortalURL); err == nil {
			seen[c.RefreshToken] = true
		}
		time.Sleep(life / 6)
	}
	if len(seen) < 10 {
		t.Fatalf("%d refresh tokens over ten lifetimes, want the sign-in extended at least once per lifetime\n%s", len(seen), d.logs.String())
	}
	addInspection(t, d, "kept", layer, "KEPT-1")
	if !syncOK() {
		t.Fatalf("sync after ten lifetimes: %v\n%s", syncStates(t, d, "kept"), d.logs.String())
	}

	// Offline past the expiry: the next sync needs a new sign-in.
	em.SetFaults(emulator.Faults{ErrorRate: 1})
	time.Sleep(life + life/2)
	em.SetFaults(emulator.Faults{})
	addInspection(t, d, "kept", layer, "KEPT-2")
	d.api(t, "POST", "/api/v1/maps/kept/sync", nil)
	needs := false
	for _, st := range syncStates(t, d, "kept") {
		needs = needs || st == "needsAuth"
	}
	if !needs {
		t.Fatalf("after the refresh token expired offline: %v, want needsAuth", syncStates(t, d, "kept"))
	}
	_, st := d.api(t, "GET", "/api/v1/maps/kept/sync", nil)
	if !strings.Contains(fmt.Sprint(st), "offlined login -portal "+em.PortalURL+" -client-id "+emulator.DemoClientID) {
		t.Errorf("needsAuth status does not name the command that fixes it: %v", st)
	}

	// A new sign-in: the daemon reloads it and the kept edit goes up once.
	loginOOB(t, root, em.PortalURL)
	testutil.Eventually(t, "a sync with the new sign-in", syncOK)
	var count int
	for _, id := range []string{"KEPT-1", "KEPT-2"} {
		fs, err := em.Features("Field_Survey", 0, "InspectionID='"+id+"'")
		if err != nil {
			t.Fatal(err)
		}
		n := len(fs)
		if n != 1 {
			t.Errorf("%s on the server %d times, want once", id, n)
		}
		count += n
	}
	if count != 2 {
		t.Fatalf("edits on the server: %d", count)
	}
}
