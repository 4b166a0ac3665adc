package localapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/localapi/web"
)

// The page (the single-page app at /ui/) signs in without the API token in
// the browser: `offlined open` asks for a one-time link (POST
// /api/v1/session/link, with the token), and opening it sets an HttpOnly,
// SameSite=Strict session cookie. Unsafe requests made with the cookie
// must also carry the session's CSRF token in X-Offlined-CSRF (another
// local page, on another port of localhost, is the same site and would
// send the cookie), and a foreign Origin is refused by the guard as for
// every request. docs/localapi.md has the threat model.
const (
	sessionCookie = "offlined_session"
	csrfHeader    = "X-Offlined-CSRF"
	linkLifetime  = 2 * time.Minute
	// SessionLifetime is how long a page session lasts.
	SessionLifetime = 12 * time.Hour
)

// pageCSP lets the page run its own scripts, MapLibre's workers and
// styles, and talk only to its own origin.
const pageCSP = "default-src 'self'; script-src 'self'; worker-src 'self' blob:; child-src blob:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

type pageSession struct {
	csrf    string
	expires time.Time
}

// pageSessions holds one-time links and the sessions they opened, in
// memory: a daemon restart signs the page out.
type pageSessions struct {
	mu       stdsync.Mutex
	links    map[string]time.Time
	sessions map[string]pageSession
}

func newPageSessions() *pageSessions {
	return &pageSessions{links: map[string]time.Time{}, sessions: map[string]pageSession{}}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// newLink returns a single-use code valid for linkLifetime.
func (p *pageSessions) newLink() string {
	code := randomHex(24)
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for c, exp := range p.links {
		if now.After(exp) {
			delete(p.links, c)
		}
	}
	p.links[code] = now.Add(linkLifetime)
	return code
}

// open consumes code and starts a session; ok is false for an unknown,
// used or expired code.
func (p *pageSessions) open(code string) (id string, s pageSession, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	exp, found := p.links[code]
	delete(p.links, code)
	now := time.Now()
	if !found || now.After(exp) {
		return "", pageSession{}, false
	}
	for k, s := range p.sessions {
		if now.After(s.expires) {
			delete(p.sessions, k)
		}
	}
	id = randomHex(32)
	s = pageSession{csrf: randomHex(24), expires: now.Add(SessionLifetime)}
	p.sessions[id] = s
	return id, s, true
}

// lookup returns the session of the request's cookie.
func (p *pageSessions) lookup(r *http.Request) (pageSession, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return pageSession{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.sessions[c.Value]
	if !ok || time.Now().After(s.expires) {
		return pageSession{}, false
	}
	return s, true
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// authorize reports whether r is authenticated by a page session; an
// unsafe request with the cookie but without the session's CSRF token is
// an error (403).
func (p *pageSessions) authorize(r *http.Request) (bool, error) {
	s, ok := p.lookup(r)
	if !ok {
		return false, nil
	}
	if !safeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(csrfHeader)), []byte(s.csrf)) != 1 {
		return false, &Error{Status: http.StatusForbidden, Code: "csrf", Field: csrfHeader,
			Message: "requests of the page that change data must carry the session's " + csrfHeader + " header"}
	}
	return true, nil
}

// sameOrigin reports whether origin is the daemon's own (the page's).
func sameOrigin(r *http.Request, origin string) bool {
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	return origin == scheme+r.Host
}

// servePublic serves what needs no authentication — the page's files and
// the one-time link — and reports whether it did.
func (s *Server) servePublic(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case r.URL.Path == "/":
		if !safeMethod(r.Method) {
			return false
		}
		http.Redirect(w, r, "/ui/", http.StatusFound)
		return true
	case r.URL.Path == callbackPath:
		if r.Method != http.MethodGet {
			return false
		}
		s.portalCallback(w, r)
		return true
	case r.URL.Path == "/session":
		if r.Method != http.MethodGet {
			return false
		}
		s.openSession(w, r)
		return true
	case strings.HasPrefix(r.URL.Path, "/ui/"):
		if !safeMethod(r.Method) {
			return false
		}
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.StripPrefix("/ui/", http.FileServerFS(web.Files)).ServeHTTP(w, r)
		return true
	}
	return false
}

// openSession consumes a one-time link and sets the session cookie.
func (s *Server) openSession(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	id, sess, ok := s.page.open(r.URL.Query().Get("code"))
	if !ok {
		writeError(w, &Error{Status: http.StatusForbidden, Code: "linkUsed", Field: "code",
			Message: "this sign-in link is used or expired; run `offlined open` for a new one"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: sess.expires, MaxAge: int(SessionLifetime / time.Second)})
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// NewPageLink returns a one-time path ("/session?code=…") that signs a
// browser in to the page; it is valid for two minutes.
func (s *Server) NewPageLink() string { return "/session?code=" + s.page.newLink() }

// postSessionLink serves POST /api/v1/session/link.
func (s *Server) postSessionLink(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusCreated, map[string]any{"url": s.NewPageLink(), "expiresIn": int(linkLifetime / time.Second)})
	return nil
}

// getSession serves GET /api/v1/session: the page reads its CSRF token.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) error {
	sess, ok := s.page.lookup(r)
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"session": false})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"session": true, "csrf": sess.csrf, "expires": sess.expires.UTC().Format(time.RFC3339)})
	return nil
}
