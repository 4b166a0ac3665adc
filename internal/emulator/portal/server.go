// Package portal is the ArcGIS portal part of the emulator: sharing/rest
// info, generateToken and OAuth2 (authorization codes, refresh tokens, API
// keys), portals/self and community/self, item search with the portal query
// language, items with their data and thumbnails, and arcgis/rest/info. It
// checks the tokens the feature and tile services receive (Authorize).
// Package emulator composes it with those services.
package portal

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// Demo credentials accepted by an emulator built without Users.
const (
	DemoUser     = "demo"
	DemoPassword = "demo-password"
)

// Config is what the portal needs from the emulator that hosts it.
type Config struct {
	// Router receives the portal routes.
	Router *mux.Router
	// Users maps user names to passwords. Empty means DemoUser/DemoPassword.
	Users map[string]string
	// TokenLifetime caps issued tokens. Zero means 60 minutes.
	TokenLifetime time.Duration
	// Now is the clock tokens expire by (nil: time.Now).
	Now func() time.Time
	// Anonymous lets requests without a token read items and services.
	Anonymous bool
	// TokenErrorAsHTTP reports whether token errors use HTTP 401/403 (the
	// TokenErrorAsHTTP fault); nil means never.
	TokenErrorAsHTTP func() bool
	// EnterpriseLogins makes every user an enterprise (SAML) account: they
	// sign in only through the OAuth authorize page, generateToken refuses
	// them, and portals/self says so (canSignInIDP).
	EnterpriseLogins bool
	// RefreshTokenLifetime is how long OAuth refresh tokens stay valid. Zero
	// means RefreshTokenLifetime (two weeks).
	RefreshTokenLifetime time.Duration
	// IsPublic reports whether a request is for a service open to
	// anonymous requests (nil: none is).
	IsPublic func(*http.Request) bool
}

// Portal serves the portal and checks tokens. Create it with New.
type Portal struct {
	router           *mux.Router
	opts             Config
	tokenErrorAsHTTP func() bool
	portal           *portalState
}

// New builds the portal and registers its routes on c.Router.
func New(c Config) *Portal {
	if c.TokenLifetime == 0 {
		c.TokenLifetime = 60 * time.Minute
	}
	if len(c.Users) == 0 {
		c.Users = map[string]string{DemoUser: DemoPassword}
	}
	s := &Portal{router: c.Router, opts: c, tokenErrorAsHTTP: c.TokenErrorAsHTTP}
	if s.tokenErrorAsHTTP == nil {
		s.tokenErrorAsHTTP = func() bool { return false }
	}
	s.initPortal()
	return s
}

// DefaultOwner is the owner of items added without one: DemoUser if it is
// configured, else the first user by name.
func (s *Portal) DefaultOwner() string { return s.portal.defaultOwner }
