package localapi

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestPageSession covers the page's sign-in: the one-time link, the
// cookie's flags, CSRF for unsafe requests, refusals without the cookie
// or from another origin, and the page's own files and CSP.
func TestPageSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	link := e.jsonOf(e.do("POST", "/api/v1/session/link", nil), 201)
	path, _ := link["url"].(string)
	if !strings.HasPrefix(path, "/session?code=") || link["expiresIn"] != float64(120) {
		t.Fatalf("link %v", link)
	}
	// Without the token, no link.
	e.wantError(e.do("POST", "/api/v1/session/link", nil, "Authorization", ""), 401, "Authorization")

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(e.hs.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("opening the link: %s %v", resp.Status, resp.Header)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/" {
		t.Fatalf("session cookie %+v", cookie)
	}
	// The link works once.
	resp, _ = noFollow.Get(e.hs.URL + path)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("second use of the link: %s", resp.Status)
	}

	withCookie := func(method, p, body string, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, e.hs.URL+p, strings.NewReader(body))
		req.AddCookie(cookie)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Body.Close() })
		return r
	}
	sess := e.jsonOf(withCookie("GET", "/api/v1/session", ""), 200)
	csrf, _ := sess["csrf"].(string)
	if sess["session"] != true || len(csrf) < 32 {
		t.Fatalf("session %v", sess)
	}
	// Reads with the cookie work.
	e.jsonOf(withCookie("GET", "/api/v1/maps", ""), 200)
	// Writes need the CSRF header.
	gid, _ := e.firstFeature()
	patch := `{"type":"Feature","properties":{"Notes":"from the page"}}`
	fp := "/api/v1/maps/demo/layers/0/features/" + url.PathEscape(gid)
	e.wantError(withCookie("PATCH", fp, patch), 403, csrfHeader)
	e.wantError(withCookie("PATCH", fp, patch, csrfHeader, "wrong"), 403, csrfHeader)
	e.jsonOf(withCookie("PATCH", fp, patch, csrfHeader, csrf, "Origin", e.hs.URL), 200)
	// Another origin (another page on localhost) is refused even with both.
	e.wantError(withCookie("PATCH", fp, patch, csrfHeader, csrf, "Origin", "http://localhost:3000"), 403, "Origin")
	// A forged or missing cookie is no session.
	req, _ := http.NewRequest("GET", e.hs.URL+"/api/v1/maps", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: strings.Repeat("a", 64)})
	r, _ := http.DefaultClient.Do(req)
	r.Body.Close()
	if r.StatusCode != 401 {
		t.Fatalf("forged cookie: %s", r.Status)
	}
	// The bearer token still works alone (apps).
	e.jsonOf(e.do("GET", "/api/v1/maps", nil), 200)

	// The page's files: no token needed, a CSP that keeps it to its origin.
	for _, p := range []string{"/ui/", "/ui/app.js", "/ui/vendor/maplibre-gl/maplibre-gl.mjs", "/ui/vendor/maplibre-gl/LICENSE.txt"} {
		r, err := http.Get(e.hs.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 200 || len(b) == 0 || !strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: %s, %d bytes, CSP %q", p, r.Status, len(b), r.Header.Get("Content-Security-Policy"))
		}
	}
	// Writing to the page's paths is not a way around the token.
	r, _ = http.Post(e.hs.URL+"/ui/app.js", "text/plain", strings.NewReader("x"))
	r.Body.Close()
	if r.StatusCode != 401 {
		t.Errorf("POST /ui/app.js without a token: %s", r.Status)
	}
}
