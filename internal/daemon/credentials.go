package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	stdsync "sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/outbound"
)

// TokenReferer is the referer portal tokens are bound to (offlined login
// asks for tokens bound to it; the daemon sends it with them).
const TokenReferer = "offlined"

// credentials owns the portal client and its credential, which is swapped
// when the credentials file changes (so "offlined login" again needs no
// daemon restart).
type credentials struct {
	cfg    config.Config
	log    *slog.Logger
	client *arcgis.Client  // anonymous without a portal
	cred   *swapCredential // nil without a portal
	svc    serviceCreds    // servicecreds.go
	// onReload is called after a successful reload (jobs waiting for
	// sign-in resume).
	onReload func()
}

// newCredentials builds the ArcGIS client: with cfg.Portal, from its
// stored credential; without, anonymous. Stored credentials of other
// servers and hosts are registered for their URLs only (servicecreds.go).
func newCredentials(cfg config.Config, log *slog.Logger) (*credentials, error) {
	c := &credentials{cfg: cfg, log: log}
	opts := clientOptions(cfg, log)
	if cfg.Portal != "" {
		stored, cred, err := loadCredential(cfg, log)
		if err != nil {
			return nil, err
		}
		c.cred = &swapCredential{cred: cred}
		c.svc.portal = stored.Portal
		opts = append(opts, arcgis.WithPortal(stored.Portal), arcgis.WithCredential(c.cred))
	}
	var err error
	if c.client, err = arcgis.New(opts...); err != nil {
		return nil, err
	}
	c.applyServiceCreds()
	return c, nil
}

// applyServiceCreds registers the stored credentials of other servers and
// hosts (an unreadable file is logged: the portal's own load reports it).
func (c *credentials) applyServiceCreds() {
	cs, err := config.LoadCredentials(c.cfg.DataRoot)
	if err != nil {
		c.log.Warn("stored service credentials not loaded", "err", err)
		return
	}
	c.svc.apply(c.client, cs, c.log)
}

// Client returns the ArcGIS client (anonymous without a portal).
func (c *credentials) Client() *arcgis.Client { return c.client }

// loadCredential reads cfg.Portal's stored credential.
func loadCredential(cfg config.Config, log *slog.Logger) (config.Credential, arcgis.Credential, error) {
	c, err := config.FindCredential(cfg.DataRoot, cfg.Portal)
	if err != nil {
		return c, nil, &config.FieldError{Field: "-portal", Reason: err.Error()}
	}
	switch c.Kind {
	case config.KindToken:
		if !c.Expires.IsZero() && time.Now().After(c.Expires) {
			log.Warn("the stored portal token has expired; run offlined login again (edits are kept)", "portal", c.Portal)
		}
		return c, arcgis.StaticToken(c.Token), nil
	case config.KindAPIKey:
		return c, arcgis.APIKey(c.APIKey), nil
	case config.KindOAuthRefresh:
		return c, hintedCredential{&arcgis.OAuthRefreshCredential{ClientID: c.ClientID, RefreshToken: c.RefreshToken},
			fmt.Sprintf("sign in again with: offlined login -portal %s -client-id %s", c.Portal, c.ClientID)}, nil
	case config.KindOAuthClient:
		return c, &arcgis.OAuthClientCredential{ClientID: c.ClientID, ClientSecret: c.ClientSecret}, nil
	}
	return c, nil, fmt.Errorf("credentials for %s: unknown kind %q", c.Portal, c.Kind)
}

// reload reads the credentials file again and, when it still holds a
// credential for the portal, makes it the client's.
func (c *credentials) reload() error {
	c.applyServiceCreds()
	if c.cred != nil {
		_, cred, err := loadCredential(c.cfg, c.log)
		if err != nil {
			return err
		}
		c.cred.set(cred)
		c.log.Info("portal credentials reloaded", "portal", c.cfg.Portal)
	}
	if c.onReload != nil {
		c.onReload()
	}
	return nil
}

// Serve implements Service: it watches the data root for changes of the
// credentials file and reloads them, until ctx ends.
func (c *credentials) Serve(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch credentials: %w", err)
	}
	defer w.Close()
	// The directory, not the file: the file is replaced by rename.
	if err := w.Add(c.cfg.DataRoot); err != nil {
		return fmt.Errorf("watch credentials in %s: %w", c.cfg.DataRoot, err)
	}
	name := filepath.Join(c.cfg.DataRoot, config.CredentialsFile)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-w.Errors:
			c.log.Warn("credentials watcher", "err", err)
		case ev := <-w.Events:
			if filepath.Clean(ev.Name) != name || !ev.Has(fsnotify.Write|fsnotify.Create|fsnotify.Rename) {
				continue
			}
			if err := c.reload(); err != nil {
				// Logged out, or a half-written file (the next event
				// brings the rest): keep the current credential.
				c.log.Warn("portal credentials not reloaded", "err", err)
			}
		}
	}
}

// swapCredential is an arcgis.Credential whose underlying credential can
// be replaced while the client is in use.
type swapCredential struct {
	mu   stdsync.Mutex
	cred arcgis.Credential
}

func (s *swapCredential) get() arcgis.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cred
}

func (s *swapCredential) set(c arcgis.Credential) {
	s.mu.Lock()
	s.cred = c
	s.mu.Unlock()
}

// Token implements arcgis.Credential.
func (s *swapCredential) Token(ctx context.Context, c *arcgis.Client) (string, error) {
	return s.get().Token(ctx, c)
}

// Invalidate implements arcgis.Credential.
func (s *swapCredential) Invalidate(token string) bool { return s.get().Invalidate(token) }

// outboundPolicy is the daemon's rule for the hosts web maps name:
// link-local and cloud metadata addresses are refused unless the
// configuration allows them.
func outboundPolicy(cfg config.Config) outbound.Policy {
	return outbound.Policy{AllowLinkLocal: cfg.AllowLinkLocal}
}
