package arcgis

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/outbound"
	"github.com/offlined/offlined/internal/redact"
)

// Client talks to one ArcGIS portal (ArcGIS Online or Enterprise) and to
// any services, using the credentials registered for each URL. It is safe
// for concurrent use. Build it with New.
type Client struct {
	hc           *http.Client
	portalURL    string // …/sharing/rest, no trailing slash; may be empty
	creds        *CredentialRegistry
	referer      string
	userAgent    string
	logger       *slog.Logger
	retry        RetryPolicy
	pollInterval time.Duration
	maxURLLen    int
	rnd          func() float64
	// maxResponse caps a JSON answer read into memory.
	maxResponse int64
	now         func() time.Time // token expiry clock; nil: time.Now
}

// Option configures a Client.
type Option func(*config) error

type config struct {
	hc           *http.Client
	certFiles    [][2]string
	insecure     bool
	proxy        *url.URL
	noProxy      bool
	portalURL    string
	cred         Credential
	service      []serviceCred
	trusted      []string
	referer      string
	userAgent    string
	logger       *slog.Logger
	retry        *RetryPolicy
	pollInterval time.Duration
	outbound     outbound.Policy
	maxResponse  int64
	now          func() time.Time
}

// WithClock makes the client judge token expiry by now instead of the
// system clock (tests).
func WithClock(now func() time.Time) Option { return func(c *config) error { c.now = now; return nil } }

type serviceCred struct {
	prefix string
	cred   Credential
}

// WithHTTPClient uses hc for every request. TLS and proxy options are
// applied to a clone of its transport when it is an *http.Transport.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error { c.hc = hc; return nil }
}

// WithClientCertificateFiles loads a PEM certificate and key for PKI auth.
func WithClientCertificateFiles(certFile, keyFile string) Option {
	return func(c *config) error { c.certFiles = append(c.certFiles, [2]string{certFile, keyFile}); return nil }
}

// WithInsecureSkipVerify turns off TLS certificate verification. It is
// logged as a warning when the client is built; use it only for test
// servers with self-signed certificates.
func WithInsecureSkipVerify() Option {
	return func(c *config) error { c.insecure = true; return nil }
}

// WithProxy sends every request through the given HTTP(S) proxy URL. By
// default the proxy comes from the environment (HTTPS_PROXY, NO_PROXY…).
func WithProxy(proxyURL string) Option {
	return func(c *config) error {
		u, err := url.Parse(proxyURL)
		if err != nil || u.Host == "" {
			return fmt.Errorf("proxy url %q: invalid", proxyURL)
		}
		c.proxy = u
		return nil
	}
}

// WithoutProxy ignores proxy environment variables.
func WithoutProxy() Option { return func(c *config) error { c.noProxy = true; return nil } }

// WithPortal sets the portal's sharing REST root, e.g.
// https://www.arcgis.com/sharing/rest (a URL ending at the host or at
// /sharing is completed).
func WithPortal(portalURL string) Option {
	return func(c *config) error {
		u, err := normalizePortalURL(portalURL)
		if err != nil {
			return err
		}
		c.portalURL = u
		return nil
	}
}

// WithCredential sets the portal credential, also used for every service
// that has no credential of its own.
func WithCredential(cred Credential) Option {
	return func(c *config) error { c.cred = cred; return nil }
}

// WithServiceCredential uses cred for every URL under prefix (a server or
// service root), e.g. a basemap server that needs other credentials.
func WithServiceCredential(prefix string, cred Credential) Option {
	return func(c *config) error { c.service = append(c.service, serviceCred{prefix, cred}); return nil }
}

// WithTrustedHosts lets the portal credential's token go to these hosts
// besides the portal's own host (and, for an arcgis.com portal, every
// *.arcgis.com host). A leading "." trusts subdomains. Without a portal
// and without trusted hosts every host is trusted; with trusted hosts only
// they are.
func WithTrustedHosts(hosts ...string) Option {
	return func(c *config) error { c.trusted = append(c.trusted, hosts...); return nil }
}

// WithReferer sends the Referer header on every request (tokens generated
// with client=referer are bound to it).
func WithReferer(referer string) Option {
	return func(c *config) error { c.referer = referer; return nil }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *config) error { c.userAgent = ua; return nil } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) error { c.logger = l; return nil } }

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) error { c.retry = &p; return nil }
}

// WithPollInterval sets the default interval between async status polls
// (default 2s).
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error { c.pollInterval = d; return nil }
}

// WithOutboundPolicy replaces the default outbound policy (link-local and
// cloud metadata addresses refused at dial time). It applies to the
// client's own transport, not to one given with WithHTTPClient.
func WithOutboundPolicy(p outbound.Policy) Option {
	return func(c *config) error { c.outbound = p; return nil }
}

// DefaultMaxResponseBytes caps a JSON answer read into memory.
const DefaultMaxResponseBytes = 64 << 20

// WithMaxResponseBytes caps the JSON answers read into memory (default
// DefaultMaxResponseBytes); a longer answer fails with
// *ResponseTooLargeError. Streamed downloads are not capped.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("max response bytes %d: must be positive", n)
		}
		c.maxResponse = n
		return nil
	}
}

// New builds a client.
func New(opts ...Option) (*Client, error) {
	cfg := &config{}
	for _, o := range opts {
		if err := o(cfg); err != nil {
			return nil, fmt.Errorf("arcgis client: %w", err)
		}
	}
	logger := cfg.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	} else {
		// Every line the client logs goes through the redacting handler,
		// whatever the caller's handler is.
		logger = slog.New(redact.Handler(logger.Handler()))
	}
	hc, err := buildHTTPClient(cfg, logger)
	if err != nil {
		return nil, fmt.Errorf("arcgis client: %w", err)
	}
	c := &Client{
		hc:           hc,
		portalURL:    cfg.portalURL,
		creds:        NewCredentialRegistry(cfg.cred),
		referer:      cfg.referer,
		userAgent:    cfg.userAgent,
		logger:       logger,
		retry:        DefaultRetryPolicy(),
		pollInterval: 2 * time.Second,
		maxURLLen:    2000,
		rnd:          jitterSource,
		maxResponse:  DefaultMaxResponseBytes,
		now:          cfg.now,
	}
	if cfg.maxResponse > 0 {
		c.maxResponse = cfg.maxResponse
	}
	hc.CheckRedirect = c.redirectGuard(hc.CheckRedirect)
	if c.userAgent == "" {
		c.userAgent = "offlined-arcgis/1"
	}
	if cfg.retry != nil {
		c.retry = *cfg.retry
	}
	c.retry = c.retry.normalized()
	if cfg.pollInterval > 0 {
		c.pollInterval = cfg.pollInterval
	}
	if c.portalURL != "" {
		if u, err := url.Parse(c.portalURL); err == nil {
			c.creds.TrustHost(u.Host)
			if h := strings.ToLower(u.Hostname()); h == "arcgis.com" || strings.HasSuffix(h, ".arcgis.com") {
				c.creds.TrustHost(".arcgis.com")
			}
		}
	}
	for _, h := range cfg.trusted {
		c.creds.TrustHost(h)
	}
	for _, sc := range cfg.service {
		if err := c.creds.Register(sc.prefix, sc.cred); err != nil {
			return nil, fmt.Errorf("arcgis client: %w", err)
		}
	}
	return c, nil
}

func buildHTTPClient(cfg *config, logger *slog.Logger) (*http.Client, error) {
	needTransport := len(cfg.certFiles) > 0 || cfg.insecure || cfg.proxy != nil || cfg.noProxy
	var base http.RoundTripper
	if cfg.hc != nil {
		base = cfg.hc.Transport
	}
	var tr *http.Transport
	if base == nil {
		tr = defaultTransport(cfg.outbound)
	} else if t, ok := base.(*http.Transport); ok && needTransport {
		tr = t.Clone()
	} else if needTransport {
		return nil, fmt.Errorf("TLS or proxy options need an *http.Transport, have %T", base)
	}
	if tr != nil {
		if cfg.proxy != nil {
			tr.Proxy = http.ProxyURL(cfg.proxy)
		} else if cfg.noProxy {
			tr.Proxy = nil
		}
		tr.Proxy = cfg.outbound.Proxy(tr.Proxy)
		if len(cfg.certFiles) > 0 || cfg.insecure {
			tc := &tls.Config{MinVersion: tls.VersionTLS12}
			if tr.TLSClientConfig != nil {
				tc = tr.TLSClientConfig.Clone()
			}
			for _, f := range cfg.certFiles {
				cert, err := tls.LoadX509KeyPair(f[0], f[1])
				if err != nil {
					return nil, fmt.Errorf("load client certificate %s: %w", f[0], err)
				}
				tc.Certificates = append(tc.Certificates, cert)
			}
			if cfg.insecure {
				logger.Warn("arcgis: TLS certificate verification is disabled (InsecureSkipVerify); connections can be intercepted")
				tc.InsecureSkipVerify = true
			}
			tr.TLSClientConfig = tc
		}
		base = tr
	}
	hc := &http.Client{}
	if cfg.hc != nil {
		cp := *cfg.hc
		hc = &cp
	}
	hc.Transport = base
	return hc, nil
}

// defaultTransport is a keep-alive transport with the environment proxy
// whose dialer enforces the outbound policy.
func defaultTransport(p outbound.Policy) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           p.Dialer(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}

// HTTPClient returns the underlying HTTP client.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// PortalURL returns the portal's sharing REST root ("" when none is set).
func (c *Client) PortalURL() string { return c.portalURL }

// Credentials returns the registry of per-service credentials.
func (c *Client) Credentials() *CredentialRegistry { return c.creds }

// normalizePortalURL completes a portal URL to …/sharing/rest.
func normalizePortalURL(s string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("portal url %q: need an absolute http(s) URL", s)
	}
	p := strings.TrimRight(u.Path, "/")
	switch {
	case strings.HasSuffix(p, "/sharing/rest"):
	case strings.HasSuffix(p, "/sharing"):
		p += "/rest"
	default:
		p += "/sharing/rest"
	}
	u.Path = p
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// TokenFor returns the token a request to rawURL may carry: that of the
// credential registered for it, the portal's when the URL's host is
// trusted, and "" otherwise. It lets packages that make their own requests
// (tiles) attach a token only where it was issued for.
func (c *Client) TokenFor(ctx context.Context, rawURL string) (string, error) {
	return c.creds.For(rawURL).Token(ctx, c)
}

// stripQuery returns the URL without its query, for error messages.
func stripQuery(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}

// joinURL appends path elements to base with single slashes.
func joinURL(base string, elems ...string) string {
	s := strings.TrimRight(base, "/")
	for _, e := range elems {
		s += "/" + strings.Trim(e, "/")
	}
	return s
}

// redirectGuard keeps credentials on redirects to the hosts they were
// issued for (see outbound.RedirectGuard).
func (c *Client) redirectGuard(prev func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return outbound.RedirectGuard(c.TokenFor, prev)
}
