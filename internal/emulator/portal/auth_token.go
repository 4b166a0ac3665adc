package portal

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/emulator/rest"
)

// Demo OAuth app registered on every emulator (client_credentials and
// refresh_token grants).
const (
	DemoClientID     = "offlined-demo-app"
	DemoClientSecret = "demo-client-secret"
)

// RefreshTokenLifetime is how long refresh tokens from IssueRefreshToken and
// the authorization_code grant stay valid (two weeks, like ArcGIS Online).
const RefreshTokenLifetime = 14 * 24 * time.Hour

// oauthApp is a registered OAuth client.
type oauthApp struct {
	secret string
	owner  string // user that app-only (client_credentials) tokens act as
}

// refreshToken is an issued OAuth refresh token.
type refreshToken struct {
	user     string
	clientID string
	expires  time.Time
}

// RegisterApp registers (or replaces) an OAuth app. Tokens from its
// client_credentials grant act as owner (the first user when owner is "").
func (s *Portal) RegisterApp(clientID, clientSecret, owner string) {
	if owner == "" {
		owner = s.portal.defaultOwner
	}
	p := s.portal
	p.mu.Lock()
	p.apps[clientID] = oauthApp{secret: clientSecret, owner: owner}
	p.mu.Unlock()
}

// IssueRefreshToken mints a refresh token for user, for DemoClientID, valid
// for RefreshTokenLifetime, as if the user had signed in through OAuth.
func (s *Portal) IssueRefreshToken(user string) string {
	return s.issueRefreshToken(user, DemoClientID, RefreshTokenLifetime)
}

// IssueRefreshTokenFor mints a refresh token for user and clientID valid
// for lifetime (zero or negative: already expired).
func (s *Portal) IssueRefreshTokenFor(user, clientID string, lifetime time.Duration) string {
	return s.issueRefreshToken(user, clientID, lifetime)
}

func (s *Portal) issueRefreshToken(user, clientID string, lifetime time.Duration) string {
	rt := newSecret("rt.")
	p := s.portal
	p.mu.Lock()
	p.refresh[rt] = refreshToken{user: user, clientID: clientID, expires: p.now().Add(lifetime)}
	p.mu.Unlock()
	return rt
}

// IssueAuthorizationCode mints a one-time code for the authorization_code
// grant, as the portal's sign-in page would after the user signs in.
func (s *Portal) IssueAuthorizationCode(user, clientID string) string {
	code := newSecret("code.")
	p := s.portal
	p.mu.Lock()
	p.codes[code] = refreshToken{user: user, clientID: clientID, expires: p.now().Add(10 * time.Minute)}
	p.mu.Unlock()
	return code
}

// AddAPIKey registers an API key that is accepted wherever a token is, as
// user. API keys never expire and survive ExpireAllTokens.
func (s *Portal) AddAPIKey(key, user string) {
	p := s.portal
	p.mu.Lock()
	p.apiKeys[key] = user
	p.mu.Unlock()
}

// IssueToken mints an access token for user directly (tests that do not
// exercise sign-in). The lifetime is Options.TokenLifetime.
func (s *Portal) IssueToken(user string) string {
	tok, _ := s.issueToken(user, 0, "")
	return tok
}

// requestedLifetime reads an `expiration` parameter in minutes (0: none).
func requestedLifetime(r *http.Request) time.Duration {
	m, err := strconv.ParseFloat(r.FormValue("expiration"), 64)
	if err != nil || m <= 0 || math.IsInf(m, 0) || math.IsNaN(m) {
		return 0
	}
	if m > 525600*10 {
		m = 525600 * 10
	}
	return time.Duration(m * float64(time.Minute))
}

// handleGenerateToken serves POST /sharing/rest/generateToken: username and
// password, or token+serverUrl (exchange a portal token for a server token).
// GET is accepted too (lenient).
func (s *Portal) handleGenerateToken(w http.ResponseWriter, r *http.Request) {
	user := r.FormValue("username")
	var ok bool
	switch {
	case user == "" && r.FormValue("token") != "":
		user, ok = s.lookupToken(r.FormValue("token"), r)
		if !ok {
			s.writeTokenError(w, codeInvalidToken)
			return
		}
	default:
		pw, known := s.opts.Users[user]
		// Enterprise accounts have no ArcGIS password: ArcGIS answers
		// them as it answers a wrong password.
		ok = known && user != "" && pw == r.FormValue("password") && !s.opts.EnterpriseLogins
	}
	if !ok {
		rest.WriteError(w, http.StatusOK, 400, "Unable to generate token.", "Invalid username or password.")
		return
	}
	referer := ""
	if strings.EqualFold(r.FormValue("client"), "referer") {
		referer = r.FormValue("referer")
	}
	tok, exp := s.issueToken(user, requestedLifetime(r), referer)
	s.respond(w, r, map[string]any{"token": tok, "expires": exp.UnixMilli(), "ssl": false})
}

// oauthError writes the OAuth error shape of fixture errors-token
// (RefreshTokenError): code, error, error_description, message, details.
func oauthError(w http.ResponseWriter, code int, kind, description string) {
	rest.WriteJSON(w, http.StatusOK, map[string]any{"error": map[string]any{
		"code": code, "error": kind, "error_description": description, "message": description, "details": []string{},
	}})
}

// expiresIn is a lifetime in whole seconds (rounded), at least 1.
func expiresIn(exp, now time.Time) int64 {
	s := int64(math.Round(exp.Sub(now).Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// handleOAuthToken serves POST /sharing/rest/oauth2/token for the
// refresh_token, exchange_refresh_token, client_credentials and
// authorization_code grants.
func (s *Portal) handleOAuthToken(w http.ResponseWriter, r *http.Request) {
	p := s.portal
	clientID := r.FormValue("client_id")
	p.mu.Lock()
	app, known := p.apps[clientID]
	p.mu.Unlock()
	if !known {
		oauthError(w, 400, "invalid_request", "Invalid client_id")
		return
	}
	now := p.now()
	switch grant := r.FormValue("grant_type"); grant {
	case "client_credentials":
		if r.FormValue("client_secret") != app.secret {
			oauthError(w, 400, "invalid_client", "Invalid client_secret")
			return
		}
		tok, exp := s.issueToken(app.owner, requestedLifetime(r), "")
		s.respond(w, r, map[string]any{"access_token": tok, "expires_in": expiresIn(exp, now)})
	case "refresh_token", "exchange_refresh_token":
		rt := r.FormValue("refresh_token")
		p.mu.Lock()
		info, found := p.refresh[rt]
		p.mu.Unlock()
		switch {
		case !found || info.clientID != clientID:
			oauthError(w, codeInvalidToken, "invalid_request", "invalid refresh_token")
			return
		case !now.Before(info.expires):
			oauthError(w, codeInvalidToken, "invalid_request", "refresh_token expired")
			return
		}
		tok, exp := s.issueToken(info.user, requestedLifetime(r), "")
		resp := map[string]any{"access_token": tok, "expires_in": expiresIn(exp, now), "username": info.user, "ssl": false}
		if grant == "exchange_refresh_token" {
			resp["refresh_token"] = s.issueRefreshToken(info.user, clientID, s.refreshLifetime())
			resp["refresh_token_expires_in"] = int64(s.refreshLifetime() / time.Second)
		}
		s.respond(w, r, resp)
	case "authorization_code":
		code := r.FormValue("code")
		p.mu.Lock()
		info, found := p.codes[code]
		delete(p.codes, code) // codes are single-use
		p.mu.Unlock()
		if !found || info.clientID != clientID || !now.Before(info.expires) {
			oauthError(w, 400, "invalid_request", "Invalid authorization code")
			return
		}
		if msg := s.checkCodeGrant(code, r); msg != "" {
			oauthError(w, 400, "invalid_request", msg)
			return
		}
		tok, exp := s.issueToken(info.user, requestedLifetime(r), "")
		s.respond(w, r, map[string]any{
			"access_token": tok, "expires_in": expiresIn(exp, now), "username": info.user, "ssl": false,
			"refresh_token":            s.issueRefreshToken(info.user, clientID, s.refreshLifetime()),
			"refresh_token_expires_in": int64(s.refreshLifetime() / time.Second),
		})
	default:
		oauthError(w, 400, "unsupported_grant_type", "Unsupported grant_type: "+grant)
	}
}
