package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

// pageWatch collects what the page did that it must not: console errors,
// uncaught exceptions and requests to other origins than the daemon's.
type pageWatch struct {
	mu       stdsync.Mutex
	origin   string
	problems []string
}

func (w *pageWatch) listen(ev any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e := ev.(type) {
	case runtime.EventConsoleAPICalled:
		w.mu.Unlock()
		w.listen(&e)
		w.mu.Lock()
	case runtime.EventExceptionThrown:
		w.mu.Unlock()
		w.listen(&e)
		w.mu.Lock()
	case network.EventRequestWillBeSent:
		w.mu.Unlock()
		w.listen(&e)
		w.mu.Lock()
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			w.problems = append(w.problems, "console error: "+strings.Join(parts, " "))
		}
	case *runtime.EventExceptionThrown:
		w.problems = append(w.problems, "exception: "+e.ExceptionDetails.Text+" "+fmt.Sprint(e.ExceptionDetails.Exception))
	case *network.EventRequestWillBeSent:
		u := e.Request.URL
		if !strings.HasPrefix(u, w.origin+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") && u != "about:blank" {
			w.problems = append(w.problems, "request outside the daemon: "+u)
		}
	}
}

func (w *pageWatch) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.problems) > 0 {
		t.Errorf("the page:\n%s", strings.Join(w.problems, "\n"))
	}
}

// nonBlank counts the pixels of a PNG that differ from its first pixel
// and the distinct colours, a check that a map canvas drew something.
func nonBlank(t *testing.T, b []byte) (changed, colours int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	bg := img.At(img.Bounds().Min.X, img.Bounds().Min.Y)
	seen := map[[4]uint32]bool{}
	r0, g0, b0, _ := bg.RGBA()
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
			r, g, bb, a := img.At(x, y).RGBA()
			seen[[4]uint32{r >> 8, g >> 8, bb >> 8, a >> 8}] = true
			if r != r0 || g != g0 || bb != b0 {
				changed++
			}
		}
	}
	return changed, len(seen)
}

// saveDoc writes a screenshot under docs/ when OFFLINED_UPDATE_DOCS is set.
func saveDoc(t *testing.T, name string, b []byte) {
	if os.Getenv("OFFLINED_UPDATE_DOCS") == "" {
		return
	}
	if err := os.WriteFile(filepath.Join("..", "..", "docs", name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPageInChromium drives the daemon's page in headless Chromium against
// a daemon holding the demo survey map: sign-in by the one-time link, the
// maps list, the map with local tiles, a feature's attributes, an edit and
// a photo that land in the store, a download started from the page, and a
// conflict resolved from the page.
func TestPageInChromium(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skip early without chromium
	em := emulatortest.Start(t, emulator.Options{})
	d := signedInDaemon(t, em)
	root := d.root
	jobSucceeds(t, d, "survey", demoJob(em, "survey", "Survey", 40000))
	// fieldMerge holds a field changed on both sides for review.
	if code, r := d.api(t, "POST", "/api/v1/maps/survey/sync", strings.NewReader(`{"conflictPolicy":"fieldMerge"}`)); code != 200 {
		t.Fatalf("sync: %d %v", code, r)
	}

	var link struct{ URL string }
	json.Unmarshal([]byte(cli(t, "open", "-data", root, "-no-browser", "-json")), &link)
	if !strings.HasPrefix(link.URL, d.base+"/session?code=") {
		t.Fatalf("offlined open printed %q", link.URL)
	}

	watch := &pageWatch{origin: d.base}
	ctx := browser(t, chromedp.WithListener(watch.listen))
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		// Each step's time is logged: under load the browser's CPU
		// (MapLibre on software WebGL) is most of the test's time.
		start := time.Now()
		defer func() { t.Logf("step %s: %v", what, time.Since(start).Round(time.Millisecond)) }()
		sctx, cancel := context.WithTimeout(ctx, 6*testutil.Timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			dctx, dcancel := context.WithTimeout(ctx, 5*time.Second)
			defer dcancel()
			diag, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`JSON.stringify({hash: location.hash, ready: window.offlinedPage && window.offlinedPage.ready, loaded: window.offlinedPage && window.offlinedPage.featuresLoaded, map: !!(window.offlinedPage && window.offlinedPage.map), tiles: window.offlinedPage && window.offlinedPage.map && window.offlinedPage.map.areTilesLoaded(), main: document.querySelector('main').innerText.slice(0, 300), fieldErrors: [...document.querySelectorAll('.field-error')].map((e) => e.textContent).filter(Boolean), check: (document.querySelector('#check') || {}).innerText, errors: window.offlinedPage && window.offlinedPage.errors, stage: window.offlinedPage && window.offlinedPage.stage, webgl2: !!document.createElement('canvas').getContext('webgl2'), style: window.offlinedPage && window.offlinedPage.map && window.offlinedPage.map.isStyleLoaded()})`))
			watch.mu.Lock()
			problems := strings.Join(watch.problems, "\n")
			watch.mu.Unlock()
			t.Fatalf("%s: %v\npage: %s\n%s", what, err, diag, problems)
		}
	}
	eval := func(expr string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}
	poll := func(what, expr string) {
		t.Helper()
		step(what, chromedp.Steps(func(c context.Context, tg *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(0))(c, tg)
			return chromedp.Void{}, err
		}))
	}
	shot := func(what string) []byte {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
		defer cancel()
		b, err := chromedp.Run(sctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot of %s: %v", what, err)
		}
		return b
	}

	// The one-time link signs the browser in; the maps list shows the map.
	step("open the link", chromedp.Navigate(link.URL), chromedp.WaitVisible(chromedp.CSS(`tr[data-map="survey"]`)))
	poll("the list filled in", `document.querySelector('tr[data-map="survey"] .state').textContent !== '…'`)
	saveDoc(t, "page-maps.png", shot("maps"))
	// A used link is refused.
	if code, _ := d.api(t, "GET", strings.TrimPrefix(link.URL, d.base), nil); code != 403 {
		t.Errorf("a used one-time link answered %d, want 403", code)
	}

	// The map: local tiles drawn, features loaded.
	step("open the map", chromedp.Click(chromedp.CSS(`a[data-open-map="survey"]`)))
	poll("the map loaded", `!!(window.offlinedPage.ready && window.offlinedPage.featuresLoaded > 0 && window.offlinedPage.map.loaded() && window.offlinedPage.map.areTilesLoaded())`)
	sctx, cancel := context.WithTimeout(ctx, testutil.Timeout)
	canvas, err := chromedp.Run(sctx, chromedp.Screenshot(chromedp.CSS("#map canvas")))
	cancel()
	if err != nil {
		t.Fatalf("canvas screenshot: %v", err)
	}
	if changed, colours := nonBlank(t, canvas); changed < 10000 || colours < 20 {
		t.Errorf("the map canvas looks blank: %d changed pixels, %d colours", changed, colours)
	}
	saveDoc(t, "page-map.png", shot("map"))

	// A known feature: centre the map on it and click it.
	c := demoClient(t, em)
	_, fc := d.api(t, "GET", "/api/v1/maps/survey/layers/Field_Survey.0/features?limit=1&bbox=-117.2,34.0,-117.15,34.05", nil)
	f := fc["features"].([]any)[0].(map[string]any)
	xy := f["geometry"].(map[string]any)["coordinates"].([]any)
	gid := f["properties"].(map[string]any)["GlobalID"].(string)
	loaded := eval(`String(window.offlinedPage.featuresLoaded)`)
	eval(fmt.Sprintf(`window.offlinedPage.map.jumpTo({center:[%v,%v],zoom:18}); ''`, xy[0], xy[1]))
	poll("features reloaded", `String(window.offlinedPage.featuresLoaded) !== '`+loaded+`' && window.offlinedPage.map.loaded()`)
	pos := eval(`(() => { const r = document.querySelector('#map').getBoundingClientRect(); return (r.left + r.width/2) + ',' + (r.top + r.height/2); })()`)
	var px, py float64
	fmt.Sscanf(pos, "%g,%g", &px, &py)
	step("click the feature", chromedp.MouseClickXY(px, py),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#feature-form[data-feature=%q]`, gid))))
	if v := eval(`document.querySelector('#f-Status').tagName + ':' + document.querySelector('#f-Status').options.length`); v != "SELECT:4" {
		t.Errorf("the coded-value field Status is %s, want a select with 3 values and a blank", v)
	}
	if v := eval(`document.querySelector('#f-Priority').min + '-' + document.querySelector('#f-Priority').max`); v != "1-5" {
		t.Errorf("the range field Priority is bounded %s, want 1-5", v)
	}
	saveDoc(t, "page-feature.png", shot("feature"))

	// An edit made in the page lands in the store (the API reads the GeoPackage);
	// the same field changed on the server makes a conflict at the next sync.
	if err := em.EditFeatures("Field_Survey", 0, nil, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": gid, "Notes": "changed on the server"}}}, nil); err != nil {
		t.Fatal(err)
	}
	eval(`document.querySelector('#f-Notes').value = ''; ''`)
	step("edit Notes", chromedp.SendKeys(chromedp.ID("f-Notes"), "edited in the page"), chromedp.Click(chromedp.ID("save-feature")))
	poll("saved", `!!document.querySelector('#feature-form').dataset.saved`)
	_, got := d.api(t, "GET", "/api/v1/maps/survey/layers/Field_Survey.0/features/"+url.PathEscape(gid), nil)
	if got["properties"].(map[string]any)["Notes"] != "edited in the page" {
		t.Fatalf("the store after the page's edit: %v", got["properties"])
	}
	// A value outside the range domain is refused next to its field.
	eval(`document.querySelector('#f-Priority').value = '9'; ''`)
	step("save a bad priority", chromedp.Click(chromedp.ID("save-feature")))
	poll("the error next to Priority", `document.querySelector('#f-Priority-err').textContent.length > 0`)

	// A photo.
	photo := filepath.Join(t.TempDir(), "photo.png")
	if err := os.WriteFile(photo, canvas, 0o600); err != nil {
		t.Fatal(err)
	}
	step("add a photo", chromedp.SetUploadFiles(chromedp.ID("photo-input"), []string{photo}))
	poll("the photo shown", `document.querySelector('#thumbs').dataset.count === '1'`)
	_, atts := d.api(t, "GET", "/api/v1/maps/survey/layers/Field_Survey.0/features/"+url.PathEscape(gid)+"/attachments", nil)
	if list, _ := atts["attachments"].([]any); len(list) != 1 || list[0].(map[string]any)["name"] != "photo.png" {
		t.Fatalf("attachments in the store: %v", atts)
	}

	// Sync from the page: the conflict is listed side by side and resolved.
	step("open sync", chromedp.Navigate(d.base+"/ui/#/map/survey/sync"), chromedp.WaitVisible(chromedp.ID("sync-now")),
		chromedp.Click(chromedp.ID("sync-now")), chromedp.WaitVisible(chromedp.CSS(`[data-conflict] [data-choice="device"]`)))
	saveDoc(t, "page-sync.png", shot("sync"))
	step("resolve", chromedp.Click(chromedp.CSS(`[data-conflict] [data-choice="device"]`)), chromedp.WaitVisible(chromedp.ID("no-conflicts")))
	_, cs := d.api(t, "GET", "/api/v1/maps/survey/conflicts", nil)
	resolved := false
	for _, c := range cs["conflicts"].([]any) {
		resolved = resolved || c.(map[string]any)["resolution"] == "device"
	}
	if !resolved {
		t.Fatalf("conflicts after resolving in the page: %v", cs)
	}
	d.api(t, "POST", "/api/v1/maps/survey/sync", nil)
	if sf, ok := em.Feature("Field_Survey", 0, gid); !ok || sf.Attributes["Notes"] != "edited in the page" {
		t.Errorf("the server after resolving for the device: %v", sf.Attributes["Notes"])
	}
	_ = c

	// A download started from the page, with its check first. The form
	// shows before the view's status answer arrives; a click on Check in
	// that window must not be lost (it was, under load: the listener came
	// after the answer and the check never ran). The answer is held until
	// after the click, so the test no longer races the daemon.
	fields := map[string]string{"j-item": emulator.DemoWebMapFieldSurveyID, "j-map": "frompage", "j-xmin": "-117.20", "j-ymin": "34.00", "j-xmax": "-117.15", "j-ymax": "34.05", "j-max": "100000"}
	step("check before the status answer", chromedp.Func(func(c context.Context, tg *chromedp.Target) error {
		return clickWhileHeld(c, tg, "*/api/v1/status", d.base+"/ui/#/jobs", "#job-form", fields, "#check-job")
	}), chromedp.WaitVisible(chromedp.ID("capabilities")))
	step("start", chromedp.Click(chromedp.ID("start-job")), chromedp.WaitVisible(chromedp.CSS(`tr[data-map="frompage"]`)))
	poll("the download to succeed", `!!document.querySelector('tr[data-map="frompage"][data-state="succeeded"]')`)
	saveDoc(t, "page-jobs.png", shot("jobs"))
	if code, m := d.api(t, "GET", "/api/v1/maps/frompage", nil); code != 200 || m["complete"] != true {
		t.Fatalf("the map downloaded from the page: %d %v", code, m)
	}

	// The phone layout works too.
	step("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(d.base+"/ui/#/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-map="survey"]`)))
	watch.check(t)
}

// TestPageSignsInToPortal: the page's "Sign in to ArcGIS" goes through the
// portal's sign-in page (OAuth with PKCE) and back to the page, and the
// daemon stores and uses the new sign-in.
func TestPageSignsInToPortal(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skip early without chromium
	em := emulatortest.Start(t, emulator.Options{EnterpriseLogins: true})
	root := t.TempDir()
	loginOOB(t, root, em.PortalURL)
	before, _ := config.FindCredential(root, em.PortalURL)
	d := startDaemon(t, root, "-portal", em.PortalURL)
	var link struct{ URL string }
	json.Unmarshal([]byte(cli(t, "open", "-data", root, "-no-browser", "-json")), &link)

	ctx := browser(t)
	sctx := startedBrowser(t, ctx, 3*testutil.Timeout)
	err := chromedp.Do(sctx,
		chromedp.Navigate(link.URL),
		chromedp.WaitVisible(chromedp.ID("signin-portal")),
		chromedp.Click(chromedp.ID("signin-portal")),
		demoSignIn(),
		chromedp.WaitVisible(chromedp.ID("nav-maps")),
	)
	if err != nil {
		t.Fatalf("sign in from the page: %v", err)
	}
	loc, err := chromedp.Run(sctx, chromedp.Location())
	if err != nil || !strings.HasPrefix(loc, d.base+"/ui/") {
		t.Fatalf("back at %q (%v), want the page", loc, err)
	}
	var after config.Credential
	testutil.Eventually(t, "the page's sign-in stored", func() bool {
		after, _ = config.FindCredential(root, em.PortalURL)
		return after.RefreshToken != "" && after.RefreshToken != before.RefreshToken
	})
	if after.Kind != config.KindOAuthRefresh || after.Username != emulator.DemoUser || after.RedirectURI != d.base+"/oauth/callback" {
		t.Fatalf("stored sign-in %+v", after.Redacted())
	}
	// The daemon uses it: a download runs.
	if j := waitJob(t, d, startJob(t, d, em, "signedin")); j["state"] != "succeeded" {
		t.Fatalf("job after the page's sign-in: %v", j)
	}
	// A callback nobody started is refused.
	if code, _ := d.api(t, "GET", "/oauth/callback?state=forged&code=x", nil); code != 400 {
		t.Errorf("forged callback answered %d", code)
	}
}

// clickWhileHeld opens url with the page's requests matching pattern held
// (DevTools Fetch domain), fills fields (element id → value) and clicks
// the button once the view's form (formSel) is there and its request is
// held, then lets the request go. A view that wires its buttons only after
// that answer loses the click.
func clickWhileHeld(ctx context.Context, tg *chromedp.Target, pattern, url, formSel string, fields map[string]string, button string) error {
	paused := cdp.Events(ctx, tg, fetch.RequestPaused) // buffered from here on
	if _, err := cdp.Call(ctx, tg, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}}); err != nil {
		return fmt.Errorf("hold %s: %w", pattern, err)
	}
	defer cdp.Call(context.WithoutCancel(ctx), tg, fetch.Disable, cdp.Empty{})
	if _, err := chromedp.Navigate(url)(ctx, tg); err != nil {
		return err
	}
	for ev, err := range paused {
		if err != nil {
			return fmt.Errorf("waiting for a request to %s: %w", pattern, err)
		}
		// An earlier request (the page starting) is let go; the view's
		// own comes once its form is shown.
		shown, err := chromedp.Evaluate[bool](fmt.Sprintf(`!!document.querySelector(%q)`, formSel))(ctx, tg)
		if err != nil {
			return err
		}
		if shown {
			for id, v := range fields {
				if _, err := chromedp.Evaluate[string](fmt.Sprintf(`document.getElementById(%q).value = %q; ''`, id, v))(ctx, tg); err != nil {
					return err
				}
			}
			if _, err := chromedp.Click(chromedp.CSS(button))(ctx, tg); err != nil {
				return err
			}
		}
		if _, err := cdp.Call(ctx, tg, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID}); err != nil {
			return fmt.Errorf("let %s go: %w", ev.Request.URL, err)
		}
		if shown {
			return nil
		}
	}
	return fmt.Errorf("no request to %s", pattern)
}
