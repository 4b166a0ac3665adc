package arcgis

import (
	"context"
	"fmt"
	"net/url"
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
	renewable
}

// Token returns a cached server token or exchanges a portal token for one.
func (f *FederatedCredential) Token(ctx context.Context, c *Client) (string, error) {
	return f.token(ctx, c, f.exchange)
}

func (f *FederatedCredential) exchange(ctx context.Context, c *Client) (string, time.Time, error) {
	if f.Portal == nil {
		return "", time.Time{}, fmt.Errorf("federated token for %s: no portal credential", f.ServerURL)
	}
	tokenURL, err := c.tokenURL(f.TokenURL, "/generateToken", "federated token for "+f.ServerURL)
	if err != nil {
		return "", time.Time{}, err
	}
	ptok, err := f.Portal.Token(ctx, c)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("federated token for %s: portal token: %w", f.ServerURL, err)
	}
	form := url.Values{"token": {ptok}, "serverUrl": {f.ServerURL}}
	return c.generateToken(ctx, tokenURL, "generateToken (serverUrl)", f.ExpirationMinutes, form, func(err error) error {
		if IsAuth(err) {
			f.Portal.Invalidate(ptok)
		}
		return fmt.Errorf("federated token for %s: %w", f.ServerURL, err)
	})
}
