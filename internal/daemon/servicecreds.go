package daemon

import (
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
)

// serviceCreds registers the stored credentials of servers and hosts other
// than the daemon's portal (a standalone ArcGIS Server signed in to with
// "offlined login -server", an API key for one host) as per-service
// credentials of the client: each is sent only to URLs under its own URL,
// and every other service is asked anonymously (or with the portal's token
// on the portal's own hosts).
type serviceCreds struct {
	mu     stdsync.Mutex
	portal string          // normalized -portal ("" without one)
	known  map[string]bool // prefixes registered so far
}

// clientOptions are the options of the daemon's ArcGIS client shared by the
// portal and the anonymous client.
func clientOptions(cfg config.Config, log *slog.Logger) []arcgis.Option {
	opts := []arcgis.Option{arcgis.WithLogger(log),
		// Sent with every token; only tokens bound to it need it.
		arcgis.WithReferer(TokenReferer)}
	if cfg.PollInterval > 0 {
		opts = append(opts, arcgis.WithPollInterval(time.Duration(cfg.PollInterval)))
	}
	// Tile downloads of jobs use this client's transport too.
	return append(opts, arcgis.WithOutboundPolicy(outboundPolicy(cfg)))
}

// storedServiceCredential turns a stored server or host credential into
// the client's credential.
func storedServiceCredential(c config.Credential) (arcgis.Credential, error) {
	switch c.Kind {
	case config.KindToken:
		return arcgis.StaticToken(c.Token), nil
	case config.KindAPIKey:
		return arcgis.APIKey(c.APIKey), nil
	case config.KindOAuthRefresh:
		return &arcgis.OAuthRefreshCredential{ClientID: c.ClientID, RefreshToken: c.RefreshToken}, nil
	case config.KindOAuthClient:
		return &arcgis.OAuthClientCredential{ClientID: c.ClientID, ClientSecret: c.ClientSecret}, nil
	}
	return nil, fmt.Errorf("credentials for %s: unknown kind %q", c.Portal, c.Kind)
}

// apply (re)registers every stored credential except the portal's on
// client; prefixes whose credential was removed (offlined logout) go back
// to anonymous.
func (s *serviceCreds) apply(client *arcgis.Client, cs []config.Credential, log *slog.Logger) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known == nil {
		s.known = map[string]bool{}
	}
	now := map[string]bool{}
	reg := client.Credentials()
	for _, c := range cs {
		if c.Portal == "" || c.Portal == s.portal {
			continue
		}
		cred, err := storedServiceCredential(c)
		if err != nil {
			log.Warn("stored credential skipped", "url", c.Portal, "err", err)
			continue
		}
		if c.Kind == config.KindToken && !c.Expires.IsZero() && time.Now().After(c.Expires) {
			log.Warn("the stored server token has expired; run offlined login -server again", "url", c.Portal)
		}
		if err := reg.Register(c.Portal, cred); err != nil {
			log.Warn("stored credential skipped", "url", c.Portal, "err", err)
			continue
		}
		now[c.Portal] = true
	}
	for p := range s.known {
		if !now[p] {
			_ = reg.Register(p, arcgis.Anonymous())
		}
	}
	s.known = now
}
