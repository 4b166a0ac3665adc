package arcgis

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// SignInMethods are the ways a portal lets users sign in, read from
// /sharing/rest/info and portals/self rather than assumed.
type SignInMethods struct {
	TokenBased       bool   // authInfo.isTokenBasedSecurity
	TokenServicesURL string // authInfo.tokenServicesUrl (generateToken)
	// BuiltIn: ArcGIS accounts with a password (generateToken works).
	// A portal that does not say is taken to allow them.
	BuiltIn bool
	// Enterprise: SAML or OpenID Connect logins, which only the OAuth
	// authorize page can sign in.
	Enterprise bool
	Social     bool
}

// OAuthOnly reports whether the portal's users can sign in only through
// the browser (no built-in accounts).
func (m SignInMethods) OAuthOnly() bool { return !m.BuiltIn && (m.Enterprise || m.Social) }

// SignInMethods reads the portal's sign-in facts anonymously.
func (c *Client) SignInMethods(ctx context.Context) (SignInMethods, error) {
	info, err := c.PortalInfo(ctx)
	if err != nil {
		return SignInMethods{}, fmt.Errorf("sign-in methods: %w", err)
	}
	m := SignInMethods{TokenBased: info.AuthInfo.IsTokenBasedSecurity, TokenServicesURL: info.AuthInfo.TokenServicesURL, BuiltIn: true}
	self, err := c.PortalSelf(ctx)
	if err != nil {
		// /info alone still tells how tokens are issued.
		return m, nil
	}
	if self.CanSignInArcGIS != nil {
		m.BuiltIn = *self.CanSignInArcGIS
	}
	m.Enterprise = self.CanSignInIDP || self.CanSignInOIDC
	m.Social = self.CanSignInSocial
	return m, nil
}

// String lists the methods for people ("ArcGIS accounts (password), enterprise logins (browser)").
func (m SignInMethods) String() string {
	var s []string
	if m.BuiltIn {
		s = append(s, "ArcGIS accounts (user name and password)")
	}
	if m.Enterprise {
		s = append(s, "enterprise logins (SAML/OpenID Connect, through the browser)")
	}
	if m.Social {
		s = append(s, "social logins (through the browser)")
	}
	if len(s) == 0 {
		return "none announced"
	}
	return strings.Join(s, ", ")
}

// RefreshGrant is a new refresh token from exchange_refresh_token.
type RefreshGrant struct {
	RefreshToken string
	ExpiresIn    time.Duration // 0 when the portal did not say
	AccessToken  string
}

// ExchangeRefreshToken trades a refresh token that is still valid for a
// new one (grant_type=exchange_refresh_token), so a device that sees the
// network now and then never needs its user again. tokenURL "" means the
// portal's oauth2/token; redirectURI is the one the sign-in used.
func (c *Client) ExchangeRefreshToken(ctx context.Context, tokenURL, clientID, refreshToken, redirectURI string) (RefreshGrant, error) {
	if tokenURL == "" {
		p, err := c.portal("exchange refresh token")
		if err != nil {
			return RefreshGrant{}, err
		}
		tokenURL = p + "/oauth2/token"
	}
	form := url.Values{"grant_type": {"exchange_refresh_token"}, "client_id": {clientID}, "refresh_token": {refreshToken}, "f": {"json"}}
	if redirectURI != "" {
		form.Set("redirect_uri", redirectURI)
	}
	var resp struct {
		AccessToken      string `json:"access_token"`
		RefreshToken     string `json:"refresh_token"`
		RefreshExpiresIn any    `json:"refresh_token_expires_in"`
	}
	if err := c.tokenRequest(ctx, tokenURL, form, &resp); err != nil {
		return RefreshGrant{}, fmt.Errorf("oauth2 exchange_refresh_token: %w", err)
	}
	if resp.RefreshToken == "" {
		return RefreshGrant{}, &UnexpectedResponseError{Op: "oauth2/token", URL: tokenURL, Want: "refresh_token"}
	}
	g := RefreshGrant{RefreshToken: resp.RefreshToken, AccessToken: resp.AccessToken}
	if v, ok := resp.RefreshExpiresIn.(float64); ok && v > 0 {
		g.ExpiresIn = time.Duration(v * float64(time.Second))
	}
	return g, nil
}
