package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/oauthlogin"
)

// pageSignIn signs the daemon in to its portal from the page, through the
// same OAuth authorization code flow with PKCE as `offlined login
// -client-id`: the page asks for the authorize URL, the browser comes back
// to the daemon's /oauth/callback, and the refresh token is stored in the
// credentials file, which the credentials watcher then loads.
type pageSignIn struct {
	root, portal, clientID string
	log                    *slog.Logger
	mu                     stdsync.Mutex
	flows                  map[string]pendingFlow
}

type pendingFlow struct {
	flow     *oauthlogin.Flow
	returnTo string
	expires  time.Time
}

// errUnknownState is a redirect that matches no pending sign-in.
var errUnknownState = errors.New("this sign-in is unknown or expired; start it again from the page")

func newPageSignIn(root, portal, clientID string, log *slog.Logger) *pageSignIn {
	return &pageSignIn{root: root, portal: portal, clientID: clientID, log: log, flows: map[string]pendingFlow{}}
}

// clientIDFor returns the configured client id, else the one of the
// stored OAuth sign-in.
func (p *pageSignIn) clientIDFor() string {
	if p.clientID != "" {
		return p.clientID
	}
	if c, err := config.FindCredential(p.root, p.portal); err == nil && c.ClientID != "" {
		return c.ClientID
	}
	return ""
}

// Begin implements localapi.PortalSignIn.
func (p *pageSignIn) Begin(_ context.Context, redirectURI, returnTo string) (string, error) {
	id := p.clientIDFor()
	if id == "" {
		return "", fmt.Errorf("no OAuth app client id: start the daemon with -client-id (an app registered in the portal)")
	}
	f, err := oauthlogin.NewFlow(oauthlogin.Config{Portal: p.portal, ClientID: id}, redirectURI)
	if err != nil {
		return "", err
	}
	now := time.Now()
	p.mu.Lock()
	for k, v := range p.flows {
		if now.After(v.expires) {
			delete(p.flows, k)
		}
	}
	p.flows[f.State()] = pendingFlow{flow: f, returnTo: returnTo, expires: now.Add(10 * time.Minute)}
	p.mu.Unlock()
	return f.AuthURL(), nil
}

// Complete implements localapi.PortalSignIn: it exchanges the code once
// and stores the sign-in.
func (p *pageSignIn) Complete(ctx context.Context, state, code, authErr string) (string, error) {
	p.mu.Lock()
	pf, ok := p.flows[state]
	delete(p.flows, state)
	p.mu.Unlock()
	if !ok || time.Now().After(pf.expires) || !pf.flow.CheckState(state) {
		return "", errUnknownState
	}
	if authErr != "" {
		return pf.returnTo, fmt.Errorf("the portal did not sign in: %s", authErr)
	}
	res, err := pf.flow.Exchange(ctx, code)
	if err != nil {
		return pf.returnTo, err
	}
	cred := config.Credential{Portal: p.portal, Kind: config.KindOAuthRefresh, ClientID: p.clientIDFor(), Username: res.Username,
		RefreshToken: res.RefreshToken, RefreshExpires: res.RefreshExpires, RedirectURI: res.RedirectURI}
	if err := config.SaveCredential(p.root, cred); err != nil {
		return pf.returnTo, fmt.Errorf("store the sign-in: %w", err)
	}
	p.log.Info("signed in to the portal from the page", "portal", p.portal, "user", res.Username)
	return pf.returnTo, nil
}
