// Package oauthlogin signs a user in to an ArcGIS portal with the OAuth 2.0
// authorization code flow and PKCE (RFC 7636, S256), the way ArcGIS Field
// Maps and the Maps SDKs sign in users of enterprise (SAML, OIDC) logins,
// who have no ArcGIS password. The browser is sent to the portal's
// …/oauth2/authorize page and comes back to a loopback listener on a
// random port (RFC 8252 §7.3); on a device without a browser the portal
// shows the code for the user to paste (the out-of-band redirect).
//
// The protocol pieces (authorize URL, PKCE verifier and challenge, code
// exchange) come from golang.org/x/oauth2; this package adds the loopback
// listener, the state check and ArcGIS's answers (HTTP 200 with an error
// object, refresh-token lifetime fields).
package oauthlogin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// OOBRedirectURI is the out-of-band redirect URI ArcGIS supports: the
// portal shows the code instead of redirecting.
const OOBRedirectURI = "urn:ietf:wg:oauth:2.0:oob"

// CallbackPath is the path of the loopback redirect URI.
const CallbackPath = "/oauth/callback"

// Config says where and as which app to sign in.
type Config struct {
	// Portal is the portal's REST root, …/sharing/rest.
	Portal string
	// ClientID is the registered app's client id (a public client: no
	// secret; PKCE proves the code's requester).
	ClientID string
	// ExpirationMinutes asks for a refresh-token lifetime (ArcGIS's
	// authorize `expiration`); 0 leaves the portal's default.
	ExpirationMinutes int
	// HTTPClient sends the token request (nil: a client with a 1-minute
	// timeout).
	HTTPClient *http.Client
	// Timeout bounds the wait for the browser (0: 10 minutes).
	Timeout time.Duration
}

// Result is what a sign-in yields. Only RefreshToken needs keeping: it
// renews AccessToken, and exchange_refresh_token renews it.
type Result struct {
	AccessToken    string
	Expires        time.Time // of AccessToken
	RefreshToken   string
	RefreshExpires time.Time // zero when the portal did not say
	Username       string
	RedirectURI    string // the exchange_refresh_token grant repeats it
}

// Error is the portal's refusal of a sign-in step.
type Error struct {
	Op          string // "authorize" or "token"
	Code        string // OAuth error code, e.g. invalid_request, access_denied
	Description string
}

func (e *Error) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("oauth2 %s: %s", e.Op, e.Code)
	}
	return fmt.Sprintf("oauth2 %s: %s (%s)", e.Op, e.Description, e.Code)
}

// ErrStateMismatch is returned for a redirect whose state is not the one
// sent (a forged or stale redirect); its code is never exchanged.
var ErrStateMismatch = errors.New("oauth2 redirect: state does not match the request")

func (c Config) oauth2(redirectURI string) *oauth2.Config {
	base := strings.TrimRight(c.Portal, "/")
	return &oauth2.Config{
		ClientID:    c.ClientID,
		RedirectURL: redirectURI,
		Endpoint: oauth2.Endpoint{
			AuthURL:   base + "/oauth2/authorize",
			TokenURL:  base + "/oauth2/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

func (c Config) check() error {
	switch {
	case c.Portal == "":
		return fmt.Errorf("oauth2: no portal")
	case c.ClientID == "":
		return fmt.Errorf("oauth2: no client id")
	}
	return nil
}

// Flow is one sign-in attempt: its PKCE verifier and state stay in memory
// only, and its code is exchanged once.
type Flow struct {
	cfg         Config
	oc          *oauth2.Config
	verifier    string
	state       string
	redirectURI string
}

// NewFlow starts a sign-in that returns to redirectURI (a loopback URL or
// OOBRedirectURI).
func NewFlow(cfg Config, redirectURI string) (*Flow, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	st := make([]byte, 24)
	if _, err := rand.Read(st); err != nil {
		return nil, fmt.Errorf("oauth2 state: %w", err)
	}
	return &Flow{cfg: cfg, oc: cfg.oauth2(redirectURI), verifier: oauth2.GenerateVerifier(),
		state: base64.RawURLEncoding.EncodeToString(st), redirectURI: redirectURI}, nil
}

// AuthURL is the authorize page to open in the browser.
func (f *Flow) AuthURL() string {
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier)}
	if f.cfg.ExpirationMinutes > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("expiration", strconv.Itoa(f.cfg.ExpirationMinutes)))
	}
	return f.oc.AuthCodeURL(f.state, opts...)
}

// CheckState reports whether a redirect's state is this flow's.
func (f *Flow) CheckState(state string) bool {
	return subtle.ConstantTimeCompare([]byte(state), []byte(f.state)) == 1
}

// Exchange trades code (with the PKCE verifier) for tokens.
func (f *Flow) Exchange(ctx context.Context, code string) (Result, error) {
	code = strings.TrimSpace(code)
	if code == "" {
		return Result{}, &Error{Op: "token", Code: "invalid_request", Description: "empty authorization code"}
	}
	hc := f.cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	hc2 := *hc
	hc2.Transport = arcgisErrors{next: transportOf(hc)}
	ctx = context.WithValue(ctx, oauth2.HTTPClient, &hc2)
	tok, err := f.oc.Exchange(ctx, code, oauth2.VerifierOption(f.verifier), oauth2.SetAuthURLParam("f", "json"))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return Result{}, &Error{Op: "token", Code: re.ErrorCode, Description: re.ErrorDescription}
		}
		return Result{}, fmt.Errorf("oauth2 token: %w", err)
	}
	res := Result{AccessToken: tok.AccessToken, Expires: tok.Expiry, RefreshToken: tok.RefreshToken, RedirectURI: f.redirectURI}
	if u, ok := tok.Extra("username").(string); ok {
		res.Username = u
	}
	if secs := number(tok.Extra("refresh_token_expires_in")); secs > 0 {
		res.RefreshExpires = time.Now().Add(time.Duration(secs) * time.Second)
	}
	if res.RefreshToken == "" {
		return Result{}, &Error{Op: "token", Code: "invalid_response", Description: "the portal sent no refresh token (is the app registered for the authorization code flow?)"}
	}
	return res, nil
}

func number(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

// Opener shows the authorize URL to the user: it opens a browser, prints
// the URL, or both. An error from it ends the sign-in.
type Opener func(authURL string) error

// Loopback signs in through the browser: it listens on 127.0.0.1 at a
// random port, calls open with the authorize URL, and waits for the
// redirect carrying the code. Redirects with another state are refused
// (HTTP 400) and the wait goes on; a redirect with an error ends it.
func Loopback(ctx context.Context, cfg Config, open Opener) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, fmt.Errorf("oauth2 loopback listener: %w", err)
	}
	redirect := "http://" + ln.Addr().String() + CallbackPath
	flow, err := NewFlow(cfg, redirect)
	if err != nil {
		ln.Close()
		return Result{}, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type outcome struct {
		code string
		err  error
	}
	done := make(chan outcome, 1)
	mux := http.NewServeMux()
	mux.HandleFunc(CallbackPath, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if !flow.CheckState(q.Get("state")) {
			http.Error(w, "This sign-in link is not the one offlined is waiting for (state mismatch).", http.StatusBadRequest)
			return
		}
		var o outcome
		if e := q.Get("error"); e != "" {
			o.err = &Error{Op: "authorize", Code: e, Description: q.Get("error_description")}
			fmt.Fprint(w, page("Sign-in failed", "offlined was not signed in. You can close this window."))
		} else if o.code = q.Get("code"); o.code == "" {
			http.Error(w, "no code in the redirect", http.StatusBadRequest)
			return
		} else {
			fmt.Fprint(w, page("Signed in", "offlined is signed in. You can close this window."))
		}
		select {
		case done <- o:
		default: // a second redirect after the first: ignored
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		<-serveErr
	}()

	if err := open(flow.AuthURL()); err != nil {
		return Result{}, err
	}
	select {
	case <-ctx.Done():
		return Result{}, fmt.Errorf("oauth2: no sign-in before the wait ended: %w", ctx.Err())
	case o := <-done:
		if o.err != nil {
			return Result{}, o.err
		}
		return flow.Exchange(ctx, o.code)
	}
}

// OutOfBand signs in without a listener: the portal shows the code after
// sign-in, and readCode (given the authorize URL to show) returns what
// the user pasted.
func OutOfBand(ctx context.Context, cfg Config, readCode func(authURL string) (string, error)) (Result, error) {
	flow, err := NewFlow(cfg, OOBRedirectURI)
	if err != nil {
		return Result{}, err
	}
	code, err := readCode(flow.AuthURL())
	if err != nil {
		return Result{}, fmt.Errorf("oauth2: read the code: %w", err)
	}
	return flow.Exchange(ctx, code)
}

func page(title, msg string) string {
	return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + title +
		"</title></head><body><h1>" + title + "</h1><p>" + msg + "</p></body></html>"
}

// State is the flow's state parameter, to find the flow a redirect
// belongs to (compare with CheckState).
func (f *Flow) State() string { return f.state }
