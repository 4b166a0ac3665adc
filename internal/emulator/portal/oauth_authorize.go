package portal

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"time"
)

// OOBRedirectURI is the out-of-band redirect: the authorize page shows the
// code for the user to copy instead of redirecting (ArcGIS supports it for
// apps on devices without a browser the app can listen to).
const OOBRedirectURI = "urn:ietf:wg:oauth:2.0:oob"

// codeGrant is what the authorize page recorded with a code: the token
// request must repeat the redirect URI and, with PKCE, prove the verifier.
type codeGrant struct {
	redirectURI string
	challenge   string // S256 code challenge; "" without PKCE
}

// refreshLifetime is Options.RefreshTokenLifetime or the two-week default.
func (s *Portal) refreshLifetime() time.Duration {
	if s.opts.RefreshTokenLifetime > 0 {
		return s.opts.RefreshTokenLifetime
	}
	return RefreshTokenLifetime
}

// allowedRedirect reports whether uri may receive codes: the out-of-band
// URI or a loopback address on any port (RFC 8252 §7.3), as ArcGIS allows
// for apps registered with them.
func allowedRedirect(uri string) bool {
	if uri == OOBRedirectURI {
		return true
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// authorizeRequest is the query of GET /oauth2/authorize, also posted back
// by the sign-in form.
type authorizeRequest struct {
	ClientID, RedirectURI, State, Challenge, Method, ResponseType, Expiration string
}

func readAuthorizeRequest(r *http.Request) authorizeRequest {
	return authorizeRequest{
		ClientID: r.FormValue("client_id"), RedirectURI: r.FormValue("redirect_uri"), State: r.FormValue("state"),
		Challenge: r.FormValue("code_challenge"), Method: r.FormValue("code_challenge_method"),
		ResponseType: r.FormValue("response_type"), Expiration: r.FormValue("expiration"),
	}
}

// validate returns the ArcGIS error text for a request the page refuses.
func (s *Portal) validate(a authorizeRequest) string {
	p := s.portal
	p.mu.Lock()
	_, known := p.apps[a.ClientID]
	p.mu.Unlock()
	switch {
	case !known:
		return "Invalid client_id"
	case a.ResponseType != "code":
		return "Invalid response_type"
	case !allowedRedirect(a.RedirectURI):
		return "Invalid redirect_uri"
	case a.Challenge != "" && a.Method != "S256":
		return "Invalid code_challenge_method"
	case a.Challenge != "" && (len(a.Challenge) < 43 || len(a.Challenge) > 128):
		return "Invalid code_challenge"
	}
	return ""
}

var authorizePage = template.Must(template.New("signin").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to ArcGIS (emulator)</title></head>
<body>
{{if .Code}}<h1>Sign-in complete</h1>
<p>Copy this code into the application:</p>
<p><code id="code">{{.Code}}</code></p>
{{else}}<h1>Sign in{{if .Enterprise}} with your organization's account{{end}}</h1>
{{if .Error}}<p id="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" id="signin">
<input type="hidden" name="client_id" value="{{.Req.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.Req.RedirectURI}}">
<input type="hidden" name="response_type" value="{{.Req.ResponseType}}">
<input type="hidden" name="state" value="{{.Req.State}}">
<input type="hidden" name="code_challenge" value="{{.Req.Challenge}}">
<input type="hidden" name="code_challenge_method" value="{{.Req.Method}}">
<input type="hidden" name="expiration" value="{{.Req.Expiration}}">
<label>Username <input id="username" name="username" autocomplete="username"></label>
<label>Password <input id="password" name="password" type="password" autocomplete="current-password"></label>
<button id="submit" type="submit">Sign In</button>
</form>{{end}}
</body></html>
`))

type authorizeView struct {
	Req        authorizeRequest
	Error      string
	Code       string
	Enterprise bool
}

// handleOAuthAuthorize serves …/oauth2/authorize: GET shows the sign-in
// page, POST checks the user (an enterprise IdP's sign-in in
// EnterpriseLogins mode) and redirects to redirect_uri with code and state,
// or shows the code for the out-of-band redirect.
func (s *Portal) handleOAuthAuthorize(w http.ResponseWriter, r *http.Request) {
	a := readAuthorizeRequest(r)
	if msg := s.validate(a); msg != "" {
		// Never redirect to an unchecked URI: the error is shown here.
		oauthError(w, 400, "invalid_request", msg)
		return
	}
	view := authorizeView{Req: a, Enterprise: s.opts.EnterpriseLogins}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		_ = authorizePage.Execute(w, view)
		return
	}
	user := r.PostFormValue("username")
	pw, known := s.opts.Users[user]
	if !known || user == "" || subtle.ConstantTimeCompare([]byte(pw), []byte(r.PostFormValue("password"))) != 1 {
		view.Error = "Invalid username or password."
		_ = authorizePage.Execute(w, view)
		return
	}
	code := s.IssueAuthorizationCode(user, a.ClientID)
	p := s.portal
	p.mu.Lock()
	p.grants[code] = codeGrant{redirectURI: a.RedirectURI, challenge: a.Challenge}
	p.mu.Unlock()
	if a.RedirectURI == OOBRedirectURI {
		view.Code = code
		_ = authorizePage.Execute(w, view)
		return
	}
	to, _ := url.Parse(a.RedirectURI) // checked by validate
	q := to.Query()
	q.Set("code", code)
	if a.State != "" {
		q.Set("state", a.State)
	}
	to.RawQuery = q.Encode()
	http.Redirect(w, r, to.String(), http.StatusFound)
}

// checkCodeGrant verifies the token request of a code issued by the
// authorize page (its grant is consumed with the code): the same
// redirect_uri, and code_verifier matching the S256 challenge. Codes
// minted by IssueAuthorizationCode have no grant and pass. It returns the
// error text, "" when the request is good.
func (s *Portal) checkCodeGrant(code string, r *http.Request) string {
	p := s.portal
	p.mu.Lock()
	g, ok := p.grants[code]
	delete(p.grants, code)
	p.mu.Unlock()
	if !ok {
		return ""
	}
	if r.FormValue("redirect_uri") != g.redirectURI {
		return "Invalid redirect_uri"
	}
	if g.challenge == "" {
		return ""
	}
	v := r.FormValue("code_verifier")
	if v == "" {
		return "code_verifier required"
	}
	sum := sha256.Sum256([]byte(v))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(g.challenge)) != 1 {
		return "Invalid code_verifier"
	}
	return ""
}
