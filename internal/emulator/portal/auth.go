package portal

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// Token error bodies, as ArcGIS Online and ArcGIS Server send them (fixture
// errors-token.arcgis-rest-js.json).
const (
	codeInvalidToken  = 498
	codeTokenRequired = 499
	msgNoPermission   = "You do not have permissions to access this resource or perform this operation."
)

// accessToken is one issued short-lived token.
type accessToken struct {
	user    string
	expires time.Time
	referer string // bound Referer (client=referer), "" when unbound
}

// newSecret returns a random URL-safe token string.
func newSecret(prefix string) string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b)
}

// issueToken mints an access token for user valid for lifetime (capped by
// Options.TokenLifetime) and returns it with its expiry.
func (s *Portal) issueToken(user string, lifetime time.Duration, referer string) (string, time.Time) {
	if lifetime <= 0 || lifetime > s.opts.TokenLifetime {
		lifetime = s.opts.TokenLifetime
	}
	tok := newSecret("tok.")
	exp := s.portal.now().Add(lifetime)
	p := s.portal
	p.mu.Lock()
	p.tokens[tok] = accessToken{user: user, expires: exp, referer: referer}
	p.mu.Unlock()
	return tok, exp
}

// ExpireAllTokens invalidates every access token issued so far (used by
// Faults.ExpireTokensNow). Refresh tokens and API keys stay valid, so a
// client can renew the way it would after a real expiry.
func (s *Portal) ExpireAllTokens() {
	p := s.portal
	p.mu.Lock()
	clear(p.tokens)
	p.mu.Unlock()
}

// requestToken returns the token a request carries: form or query `token`,
// else header `X-Esri-Authorization: Bearer <t>` (or `Authorization: Bearer
// <t>`). For multipart requests it parses the multipart form, so handlers can
// still use r.FormValue/r.FormFile afterwards.
func requestToken(r *http.Request) string {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		_ = r.ParseMultipartForm(32 << 20)
	}
	if t := r.FormValue("token"); t != "" {
		return t
	}
	for _, h := range []string{"X-Esri-Authorization", "Authorization"} {
		v := strings.TrimSpace(r.Header.Get(h))
		if len(v) > 7 && strings.EqualFold(v[:7], "Bearer ") {
			return strings.TrimSpace(v[7:])
		}
	}
	return ""
}

// lookupToken resolves a token or API key to its user.
func (s *Portal) lookupToken(tok string, r *http.Request) (user string, ok bool) {
	p := s.portal
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.apiKeys[tok]; ok {
		return u, true
	}
	at, ok := p.tokens[tok]
	if !ok {
		return "", false
	}
	if !p.now().Before(at.expires) {
		delete(p.tokens, tok)
		return "", false
	}
	// Tokens bound to a referer are rejected when the request names another
	// referer; requests without a Referer header are accepted (lenient).
	if ref := r.Header.Get("Referer"); at.referer != "" && ref != "" && !sameReferer(at.referer, ref) {
		return "", false
	}
	return at.user, true
}

// sameReferer reports whether ref starts with the bound referer, ignoring
// a trailing slash on the bound one (ArcGIS compares the base URL).
func sameReferer(bound, ref string) bool {
	return strings.HasPrefix(ref, strings.TrimSuffix(bound, "/"))
}

// Authorize checks the request's token (query/form `token`, or header
// `X-Esri-Authorization: Bearer <t>`). When it returns ok=false it has
// already written the ArcGIS 498/499 error. user is "" for anonymous access
// (only when Options.Anonymous is set).
func (s *Portal) Authorize(w http.ResponseWriter, r *http.Request) (user string, ok bool) {
	user, present, ok := s.authenticate(w, r)
	if !ok {
		return "", false
	}
	if !present && !s.opts.Anonymous && !(s.opts.IsPublic != nil && s.opts.IsPublic(r)) {
		s.writeTokenError(w, codeTokenRequired)
		return "", false
	}
	return user, true
}

// authenticate is authorize for resources that anonymous users may also
// read (public portal items, search, portals/self): a missing token is
// fine (present=false), an invalid one is a 498 written to w (ok=false).
func (s *Portal) authenticate(w http.ResponseWriter, r *http.Request) (user string, present, ok bool) {
	tok := requestToken(r)
	if tok == "" {
		return "", false, true
	}
	user, valid := s.lookupToken(tok, r)
	if !valid {
		s.writeTokenError(w, codeInvalidToken)
		return "", true, false
	}
	return user, true, true
}

// writeTokenError writes the 498 or 499 body. With Faults.TokenErrorAsHTTP
// the HTTP status is 401 (499, token required) or 403 (498, invalid token)
// instead of 200, as some ArcGIS Server deployments answer.
func (s *Portal) writeTokenError(w http.ResponseWriter, code int) {
	asHTTP := s.tokenErrorAsHTTP()
	status := http.StatusOK
	if code == codeTokenRequired {
		if asHTTP {
			status = http.StatusUnauthorized
		}
		rest.WriteJSON(w, status, map[string]any{"error": map[string]any{
			"code": codeTokenRequired, "message": "Token Required", "messageCode": "GWM_0003",
			"details": []string{"Token Required"},
		}})
		return
	}
	if asHTTP {
		status = http.StatusForbidden
	}
	rest.WriteError(w, status, codeInvalidToken, "Invalid token.")
}
