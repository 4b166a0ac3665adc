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
const DefaultRenewMargin = 5 * time.Minute

// tokenCache holds one token and renews it through fetch.
type tokenCache struct {
	mu      sync.Mutex
	token   string
	expires time.Time
	life    time.Duration
	margin  time.Duration
	now     func() time.Time
	fetch   func(ctx context.Context, c *Client) (string, time.Time, error)
}

func (t *tokenCache) get(ctx context.Context, c *Client) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock(c)
	margin := t.margin
	if margin <= 0 {
		margin = DefaultRenewMargin
	}
	if t.life > 0 && margin > t.life/5 {
		margin = t.life / 5
	}
	if t.token != "" && (t.expires.IsZero() || now.Add(margin).Before(t.expires)) {
		return t.token, nil
	}
	tok, exp, err := t.fetch(ctx, c)
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

// UserCredential obtains tokens with generateToken (username/password).
type UserCredential struct {
	// TokenURL is the generateToken endpoint; "" means the client's
	// portal …/sharing/rest/generateToken.
	TokenURL string
	Username string
	Password string
	// ExpirationMinutes is requested from the server (0: 60).
	ExpirationMinutes int
	// RenewMargin overrides DefaultRenewMargin.
	RenewMargin time.Duration
	cache       tokenCache
	once        sync.Once
}

// Token returns a cached token or generates one.
func (u *UserCredential) Token(ctx context.Context, c *Client) (string, error) {
	u.once.Do(func() { u.cache.margin = u.RenewMargin; u.cache.fetch = u.generate })
	return u.cache.get(ctx, c)
}

// Invalidate drops a rejected token; a new one can always be generated.
func (u *UserCredential) Invalidate(tok string) bool { u.cache.invalidate(tok); return true }

func (u *UserCredential) generate(ctx context.Context, c *Client) (string, time.Time, error) {
	tokenURL := u.TokenURL
	if tokenURL == "" {
		if c.portalURL == "" {
			return "", time.Time{}, fmt.Errorf("generate token: no token URL and no portal")
		}
		tokenURL = c.portalURL + "/generateToken"
	}
	exp := u.ExpirationMinutes
	if exp <= 0 {
		exp = 60
	}
	form := url.Values{"username": {u.Username}, "password": {u.Password}, "expiration": {strconv.Itoa(exp)}, "f": {"json"}}
	if c.referer != "" {
		form.Set("client", "referer")
		form.Set("referer", c.referer)
	} else {
		form.Set("client", "requestip")
	}
	var resp struct {
		Token   string `json:"token"`
		Expires int64  `json:"expires"`
		SSL     bool   `json:"ssl"`
	}
	if err := c.tokenRequest(ctx, tokenURL, form, &resp); err != nil {
		return "", time.Time{}, fmt.Errorf("generate token for %s: %w", u.Username, err)
	}
	if resp.Token == "" {
		return "", time.Time{}, &UnexpectedResponseError{Op: "generateToken", URL: tokenURL, Want: "token"}
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
	RenewMargin  time.Duration
	cache        tokenCache
	once         sync.Once
}

// Token returns a cached access token or refreshes it.
func (o *OAuthRefreshCredential) Token(ctx context.Context, c *Client) (string, error) {
	o.once.Do(func() {
		o.cache.margin = o.RenewMargin
		o.cache.fetch = func(ctx context.Context, c *Client) (string, time.Time, error) {
			return oauthToken(ctx, c, o.TokenURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {o.ClientID}, "refresh_token": {o.RefreshToken}})
		}
	})
	return o.cache.get(ctx, c)
}

// Invalidate drops a rejected token; the refresh token gets a new one.
func (o *OAuthRefreshCredential) Invalidate(tok string) bool { o.cache.invalidate(tok); return true }

// OAuthClientCredential obtains app tokens with the OAuth2
// client_credentials grant.
type OAuthClientCredential struct {
	TokenURL          string // "" means the portal's oauth2/token
	ClientID          string
	ClientSecret      string
	ExpirationMinutes int // 0: server default
	RenewMargin       time.Duration
	cache             tokenCache
	once              sync.Once
}

// Token returns a cached app token or requests one.
func (o *OAuthClientCredential) Token(ctx context.Context, c *Client) (string, error) {
	o.once.Do(func() {
		o.cache.margin = o.RenewMargin
		o.cache.fetch = func(ctx context.Context, c *Client) (string, time.Time, error) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {o.ClientID}, "client_secret": {o.ClientSecret}}
			if o.ExpirationMinutes > 0 {
				form.Set("expiration", strconv.Itoa(o.ExpirationMinutes))
			}
			return oauthToken(ctx, c, o.TokenURL, form)
		}
	})
	return o.cache.get(ctx, c)
}

// Invalidate drops a rejected token; a new one can be requested.
func (o *OAuthClientCredential) Invalidate(tok string) bool { o.cache.invalidate(tok); return true }

func oauthToken(ctx context.Context, c *Client, tokenURL string, form url.Values) (string, time.Time, error) {
	if tokenURL == "" {
		if c.portalURL == "" {
			return "", time.Time{}, fmt.Errorf("oauth2 token: no token URL and no portal")
		}
		tokenURL = c.portalURL + "/oauth2/token"
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
