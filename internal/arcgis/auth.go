package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Credential supplies the token sent with requests (form/query `token`).
// Implementations must be safe for concurrent use.
type Credential interface {
	// Token returns a valid token, renewing it when it is missing or close
	// to expiry; "" means anonymous. c is the client to fetch tokens with.
	Token(ctx context.Context, c *Client) (string, error)
	// Invalidate drops token after the server rejected it (498/499,
	// HTTP 401/403) and reports whether a renewed token can be obtained.
	Invalidate(token string) bool
}

// Anonymous is the credential that sends no token.
func Anonymous() Credential { return staticCred{} }

// APIKey sends an API key as the token. API keys cannot be renewed.
func APIKey(key string) Credential { return staticCred{tok: key} }

// StaticToken sends a token obtained elsewhere; it cannot be renewed.
func StaticToken(token string) Credential { return staticCred{tok: token} }

type staticCred struct{ tok string }

func (s staticCred) Token(context.Context, *Client) (string, error) { return s.tok, nil }
func (s staticCred) Invalidate(string) bool                         { return false }

// DefaultRenewMargin is how long before expiry a token is renewed (ArcGIS
// REST JS uses 5 minutes). Short-lived tokens renew at 1/5 of their life.
// The renewing credentials' RenewMargin field overrides it.
const DefaultRenewMargin = 5 * time.Minute

// tokenCache holds one token; get renews it through a fetch function.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time
	life    time.Duration
	now     func() time.Time
}

// tokenFetch obtains a new token and its expiry (zero: none).
type tokenFetch func(ctx context.Context, c *Client) (string, time.Time, error)

// get returns the cached token, or one from fetch when there is none or it
// expires within margin (0: DefaultRenewMargin).
func (t *tokenCache) get(ctx context.Context, c *Client, margin time.Duration, fetch tokenFetch) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock(c)
	if margin <= 0 {
		margin = DefaultRenewMargin
	}
	if t.life > 0 && margin > t.life/5 {
		margin = t.life / 5
	}
	if t.token != "" && (t.expires.IsZero() || now.Add(margin).Before(t.expires)) {
		return t.token, nil
	}
	tok, exp, err := fetch(ctx, c)
	if err != nil {
		return "", err
	}
	t.token, t.expires = tok, exp
	t.life = 0
	if !exp.IsZero() {
		t.life = exp.Sub(now)
	}
	if c != nil {
		c.logger.Debug("arcgis: token obtained", "expires", exp)
	}
	return tok, nil
}

func (t *tokenCache) invalidate(tok string) {
	t.mu.Lock()
	if t.token == tok {
		t.token = ""
	}
	t.mu.Unlock()
}

func (t *tokenCache) clock(c *Client) time.Time {
	if t.now != nil {
		return t.now()
	}
	if c != nil && c.now != nil {
		return c.now()
	}
	return time.Now()
}

// renewable is what the credentials that renew their token share: the
// renewal margin, the cached token and Invalidate.
type renewable struct {
	// RenewMargin overrides DefaultRenewMargin.
	RenewMargin time.Duration
	cache       tokenCache
}

// token returns the cached token or one from fetch (tokenCache.get).
func (r *renewable) token(ctx context.Context, c *Client, fetch tokenFetch) (string, error) {
	return r.cache.get(ctx, c, r.RenewMargin, fetch)
}

// Invalidate drops a rejected token; the next Token obtains a new one.
func (r *renewable) Invalidate(tok string) bool { r.cache.invalidate(tok); return true }

// UserCredential obtains tokens with generateToken (username/password).
type UserCredential struct {
	// TokenURL is the generateToken endpoint; "" means the client's
	// portal …/sharing/rest/generateToken.
	TokenURL string
	Username string
	Password string
	// ExpirationMinutes is requested from the server (0: 60).
	ExpirationMinutes int
	renewable
}

// Token returns a cached token or generates one.
func (u *UserCredential) Token(ctx context.Context, c *Client) (string, error) {
	return u.token(ctx, c, u.generate)
}

func (u *UserCredential) generate(ctx context.Context, c *Client) (string, time.Time, error) {
	return c.GenerateToken(ctx, u.TokenURL, u.Username, u.Password, u.ExpirationMinutes)
}

// GenerateToken asks the generateToken endpoint at tokenURL ("" means the
// client's portal …/sharing/rest/generateToken) for a token for username
// and password, valid for minutes (0: 60). The token is bound to the
// client's referer (WithReferer), else to the requesting IP. It returns the
// token and its expiry (zero when the server gave none); a refusal is the
// server's *Error, wrapped.
func (c *Client) GenerateToken(ctx context.Context, tokenURL, username, password string, minutes int) (string, time.Time, error) {
	tokenURL, err := c.tokenURL(tokenURL, "/generateToken", "generate token")
	if err != nil {
		return "", time.Time{}, err
	}
	form := url.Values{"username": {username}, "password": {password}, "client": {"requestip"}}
	return c.generateToken(ctx, tokenURL, "generateToken", minutes, form, func(err error) error {
		return fmt.Errorf("generate token for %s: %w", username, err)
	})
}

// tokenURL is tokenURL, or the client's portal URL plus path when it is
// empty; what names the operation in the error without either.
func (c *Client) tokenURL(tokenURL, path, what string) (string, error) {
	if tokenURL != "" {
		return tokenURL, nil
	}
	if c.portalURL == "" {
		return "", fmt.Errorf("%s: no token URL and no portal", what)
	}
	return c.portalURL + path, nil
}

// generateToken POSTs form to a generateToken endpoint, adding expiration
// (minutes, 0: 60), f and the client's referer, and returns the token and
// its expiry. wrap formats the request's errors; op names a missing token.
func (c *Client) generateToken(ctx context.Context, tokenURL, op string, minutes int, form url.Values, wrap func(error) error) (string, time.Time, error) {
	if minutes <= 0 {
		minutes = 60
	}
	form.Set("expiration", strconv.Itoa(minutes))
	form.Set("f", "json")
	if c.referer != "" {
		form.Set("client", "referer")
		form.Set("referer", c.referer)
	}
	var resp struct {
		Token   string `json:"token"`
		Expires int64  `json:"expires"`
	}
	if err := c.tokenRequest(ctx, tokenURL, form, &resp); err != nil {
		return "", time.Time{}, wrap(err)
	}
	if resp.Token == "" {
		return "", time.Time{}, &UnexpectedResponseError{Op: op, URL: tokenURL, Want: "token"}
	}
	var expires time.Time
	if resp.Expires > 0 {
		expires = time.UnixMilli(resp.Expires)
	}
	return resp.Token, expires, nil
}

// OAuthRefreshCredential obtains access tokens with the OAuth2
// refresh_token grant (POST …/sharing/rest/oauth2/token).
type OAuthRefreshCredential struct {
	TokenURL     string // "" means the portal's oauth2/token
	ClientID     string
	RefreshToken string
	renewable
}

// Token returns a cached access token or refreshes it.
func (o *OAuthRefreshCredential) Token(ctx context.Context, c *Client) (string, error) {
	return o.token(ctx, c, func(ctx context.Context, c *Client) (string, time.Time, error) {
		return oauthToken(ctx, c, o.TokenURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {o.ClientID}, "refresh_token": {o.RefreshToken}})
	})
}

// OAuthClientCredential obtains app tokens with the OAuth2
// client_credentials grant.
type OAuthClientCredential struct {
	TokenURL          string // "" means the portal's oauth2/token
	ClientID          string
	ClientSecret      string
	ExpirationMinutes int // 0: server default
	renewable
}

// Token returns a cached app token or requests one.
func (o *OAuthClientCredential) Token(ctx context.Context, c *Client) (string, error) {
	return o.token(ctx, c, func(ctx context.Context, c *Client) (string, time.Time, error) {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {o.ClientID}, "client_secret": {o.ClientSecret}}
		setPositive(form, "expiration", o.ExpirationMinutes)
		return oauthToken(ctx, c, o.TokenURL, form)
	})
}

func oauthToken(ctx context.Context, c *Client, tokenURL string, form url.Values) (string, time.Time, error) {
	tokenURL, err := c.tokenURL(tokenURL, "/oauth2/token", "oauth2 token")
	if err != nil {
		return "", time.Time{}, err
	}
	form.Set("f", "json")
	var resp struct {
		AccessToken string          `json:"access_token"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := c.tokenRequest(ctx, tokenURL, form, &resp); err != nil {
		return "", time.Time{}, fmt.Errorf("oauth2 %s: %w", form.Get("grant_type"), err)
	}
	if resp.AccessToken == "" {
		return "", time.Time{}, &UnexpectedResponseError{Op: "oauth2/token", URL: tokenURL, Want: "access_token"}
	}
	var exp time.Time
	if secs := jsonInt(resp.ExpiresIn); secs > 0 {
		exp = time.Now().Add(time.Duration(secs) * time.Second)
	}
	return resp.AccessToken, exp, nil
}

// tokenRequest POSTs a token form without a token and decodes the answer.
func (c *Client) tokenRequest(ctx context.Context, tokenURL string, form url.Values, v any) error {
	return c.doJSON(ctx, &request{method: "POST", url: tokenURL, form: form, idempotent: true, noAuth: true, op: "token"}, v, nil)
}
