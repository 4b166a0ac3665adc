package tiles

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/offlined/offlined/internal/outbound"
	"github.com/offlined/offlined/internal/redact"
)

// TokenSource gives the token a request to one URL may carry. It returns
// "" for a URL on a host the credential was not issued for, so a style,
// TileJSON, sprite or glyph URL on a third-party host never receives the
// portal's token. *arcgis.Client implements it.
type TokenSource interface {
	TokenFor(ctx context.Context, rawURL string) (string, error)
}

// authURL returns u with the token ts gives for u (u itself when none).
func authURL(ctx context.Context, ts TokenSource, u string) (string, error) {
	if ts == nil {
		return u, nil
	}
	tok, err := ts.TokenFor(ctx, u)
	if err != nil {
		return "", fmt.Errorf("token for %s: %w", redact.URL(u), err)
	}
	return withToken(u, tok), nil
}

// authGet returns a GET request for u carrying ts's token (none when ts is
// nil).
func authGet(ctx context.Context, ts TokenSource, u string) (*http.Request, error) {
	au, err := authURL(ctx, ts, u)
	if err != nil {
		return nil, err
	}
	return http.NewRequestWithContext(ctx, http.MethodGet, au, nil)
}

// tokenValue returns the token ts gives for u ("" when ts is nil).
func tokenValue(ctx context.Context, ts TokenSource, u string) (string, error) {
	if ts == nil {
		return "", nil
	}
	return ts.TokenFor(ctx, u)
}

// guarded returns a copy of hc whose redirects carry a token only to URLs
// ts gives that token for (a trusted host redirecting to a CDN loses it).
func guarded(hc *http.Client, ts TokenSource) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	cp := *hc
	var f outbound.TokenFunc
	if ts != nil {
		f = ts.TokenFor
	}
	cp.CheckRedirect = outbound.RedirectGuard(f, hc.CheckRedirect)
	return &cp
}

// do sends req through hc with the redirect guard and masks the token in
// a transport error (net/http puts the whole URL into it).
func do(hc *http.Client, ts TokenSource, req *http.Request) (*http.Response, error) {
	resp, err := guarded(hc, ts).Do(req)
	return resp, redact.Error(err)
}

// refusedByPolicy reports errors that repeating cannot cure: an answer over
// its size limit, an address or a redirect the outbound policy refuses.
func refusedByPolicy(err error) bool {
	var tl *TooLargeError
	var ba *outbound.BlockedAddressError
	var re *outbound.RedirectError
	return errors.As(err, &tl) || errors.As(err, &ba) || errors.As(err, &re)
}

// TooLargeError is returned when a server answer or an archive member is
// larger than the limit for its kind.
type TooLargeError struct {
	What  string // "tile", "style", "bundle L05/R0000C0000.bundle", …
	URL   string // source (no token)
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s %s: larger than %d bytes; refused", e.What, e.URL, e.Limit)
}

// Limits on what is read into memory from the network.
const (
	// MaxTileBytes caps one tile.
	MaxTileBytes = 32 << 20
	// MaxResourceBytes caps a sprite image or glyph range (streamed to
	// disk) and a tile package's metadata entry.
	MaxResourceBytes = 64 << 20
	// MaxDocumentBytes caps a JSON document read into memory: a style,
	// TileJSON, tilemap or job answer (real styles are well under 2 MB; a
	// larger cap let an endless answer grow the daemon by ~160 MB).
	MaxDocumentBytes = 8 << 20
)

// readCapped reads r up to limit bytes; more is a *TooLargeError.
func readCapped(r io.Reader, limit int64, what, u string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return nil, &TooLargeError{What: what, URL: redact.URL(u), Limit: limit}
	}
	return b, nil
}
