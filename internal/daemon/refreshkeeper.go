package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
)

// refreshKeeper keeps a browser sign-in (an OAuth refresh token) alive
// for as long as the device sees the network now and then: when half the
// refresh token's lifetime has passed it trades it for a new one
// (exchange_refresh_token) and stores it, and the credentials watcher
// loads it. Offline, it retries with backoff; when the portal refuses the
// token (expired while offline, revoked) syncs and jobs go needsAuth by
// their own token failures, and the keeper waits for a new sign-in.
type refreshKeeper struct {
	root, portal string
	client       *arcgis.Client
	log          *slog.Logger
	retryMin     time.Duration
	retryMax     time.Duration
	changed      chan struct{}
}

func newRefreshKeeper(root, portal string, client *arcgis.Client, log *slog.Logger) *refreshKeeper {
	return &refreshKeeper{root: root, portal: portal, client: client, log: log,
		retryMin: time.Minute, retryMax: time.Hour, changed: make(chan struct{}, 1)}
}

// kick tells the keeper the stored credentials changed.
func (k *refreshKeeper) kick() {
	select {
	case k.changed <- struct{}{}:
	default:
	}
}

// renewAt returns when the stored refresh token should be exchanged;
// ok is false when nothing needs keeping (no OAuth sign-in, or one whose
// lifetime the portal did not give).
func (k *refreshKeeper) renewAt() (config.Credential, time.Time, bool) {
	c, err := config.FindCredential(k.root, k.portal)
	if err != nil || c.Kind != config.KindOAuthRefresh || c.RefreshExpires.IsZero() || c.RefreshToken == "" {
		return c, time.Time{}, false
	}
	life := c.RefreshExpires.Sub(c.Saved)
	if life <= 0 {
		return c, time.Now(), true // already past: try, the portal decides
	}
	return c, c.RefreshExpires.Add(-life / 2), true
}

// wait blocks until d passed (d < 0: only a credentials change), a
// change, or ctx ends (false).
func (k *refreshKeeper) wait(ctx context.Context, d time.Duration) bool {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-k.changed:
	case <-timer:
	}
	return true
}

// Serve implements Service.
func (k *refreshKeeper) Serve(ctx context.Context) error {
	retry := k.retryMin
	for {
		cred, at, ok := k.renewAt()
		if !ok {
			if !k.wait(ctx, -1) {
				return nil
			}
			continue
		}
		if d := time.Until(at); d > 0 {
			if !k.wait(ctx, d) {
				return nil
			}
			continue
		}
		err := k.renew(ctx, cred)
		switch {
		case err == nil:
			retry = k.retryMin
		case ctx.Err() != nil:
			return nil
		case refused(err):
			k.log.Error("the portal refused to extend the sign-in; maps needing it wait (needsAuth) until you sign in again",
				"portal", k.portal, "fix", fmt.Sprintf("offlined login -portal %s -client-id %s", k.portal, cred.ClientID), "err", err)
			if !k.wait(ctx, -1) {
				return nil
			}
			retry = k.retryMin
		default:
			k.log.Info("could not extend the sign-in (offline?); retrying", "portal", k.portal, "in", retry, "err", err)
			if !k.wait(ctx, retry) {
				return nil
			}
			retry = min(2*retry, k.retryMax)
		}
	}
}

// refused reports the portal's refusal of a refresh token (expired,
// revoked, unknown), as opposed to a failure to reach it.
func refused(err error) bool {
	var ae *arcgis.Error
	return arcgis.IsAuth(err) || (errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 500)
}

// renew exchanges the refresh token and stores the new one.
func (k *refreshKeeper) renew(ctx context.Context, c config.Credential) error {
	life := c.RefreshExpires.Sub(c.Saved)
	g, err := k.client.ExchangeRefreshToken(ctx, "", c.ClientID, c.RefreshToken, c.RedirectURI)
	if err != nil {
		return err
	}
	if g.ExpiresIn > 0 {
		life = g.ExpiresIn
	}
	c.RefreshToken, c.RefreshExpires = g.RefreshToken, time.Now().Add(life)
	c.Token, c.Expires = "", time.Time{}
	if err := config.SaveCredential(k.root, c); err != nil {
		return fmt.Errorf("store the extended sign-in: %w", err)
	}
	k.log.Info("sign-in extended", "portal", k.portal, "until", c.RefreshExpires.UTC().Format(time.RFC3339))
	return nil
}

// hintedCredential adds the command that fixes a refused credential to its
// errors, so a map in needsAuth says how to get out of it.
type hintedCredential struct {
	arcgis.Credential
	hint string
}

// Token returns the wrapped credential's token; its errors name the fix.
func (h hintedCredential) Token(ctx context.Context, c *arcgis.Client) (string, error) {
	tok, err := h.Credential.Token(ctx, c)
	if err != nil && refused(err) {
		return "", fmt.Errorf("%w; %s", err, h.hint)
	}
	return tok, err
}
