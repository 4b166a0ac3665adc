package arcgis

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// FederatedCredential obtains server tokens for a federated ArcGIS Server
// by exchanging a portal token at the portal's generateToken
// (token=<portal token>&serverUrl=<server root>), as ArcGIS REST JS does.
// Register it with WithServiceCredential for the server root.
type FederatedCredential struct {
	// Portal supplies the portal token (e.g. a *UserCredential).
	Portal Credential
	// ServerURL is the server root, e.g. https://host/arcgis.
	ServerURL string
	// TokenURL is the portal generateToken; "" means the client's portal.
	TokenURL          string
	ExpirationMinutes int // 0: 60
	RenewMargin       time.Duration
	cache             tokenCache
	once              sync.Once
}

// Token returns a cached server token or exchanges a portal token for one.
func (f *FederatedCredential) Token(ctx context.Context, c *Client) (string, error) {
	f.once.Do(func() { f.cache.margin = f.RenewMargin; f.cache.fetch = f.exchange })
	return f.cache.get(ctx, c)
}

// Invalidate drops a rejected server token; the next call exchanges again.
func (f *FederatedCredential) Invalidate(tok string) bool { f.cache.invalidate(tok); return true }

func (f *FederatedCredential) exchange(ctx context.Context, c *Client) (string, time.Time, error) {
	if f.Portal == nil {
		return "", time.Time{}, fmt.Errorf("federated token for %s: no portal credential", f.ServerURL)
	}
	tokenURL := f.TokenURL
	if tokenURL == "" {
		if c.portalURL == "" {
			return "", time.Time{}, fmt.Errorf("federated token for %s: no token URL and no portal", f.ServerURL)
		}
		tokenURL = c.portalURL + "/generateToken"
	}
	ptok, err := f.Portal.Token(ctx, c)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("federated token for %s: portal token: %w", f.ServerURL, err)
	}
	exp := f.ExpirationMinutes
	if exp <= 0 {
		exp = 60
	}
	form := url.Values{"token": {ptok}, "serverUrl": {f.ServerURL}, "expiration": {strconv.Itoa(exp)}, "f": {"json"}}
	if c.referer != "" {
		form.Set("client", "referer")
		form.Set("referer", c.referer)
	}
	var resp struct {
		Token   string `json:"token"`
		Expires int64  `json:"expires"`
	}
	if err := c.tokenRequest(ctx, tokenURL, form, &resp); err != nil {
		if IsAuth(err) {
			f.Portal.Invalidate(ptok)
		}
		return "", time.Time{}, fmt.Errorf("federated token for %s: %w", f.ServerURL, err)
	}
	if resp.Token == "" {
		return "", time.Time{}, &UnexpectedResponseError{Op: "generateToken (serverUrl)", URL: tokenURL, Want: "token"}
	}
	var expires time.Time
	if resp.Expires > 0 {
		expires = time.UnixMilli(resp.Expires)
	}
	return resp.Token, expires, nil
}
