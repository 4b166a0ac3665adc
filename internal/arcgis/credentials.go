package arcgis

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// CredentialRegistry maps URL prefixes (server or service roots) to
// credentials; URLs under no prefix use the fallback (the portal's) when
// their host is trusted, and no token otherwise, so the portal token never
// leaks to third-party hosts (a web tiled layer, a CDN).
type CredentialRegistry struct {
	mu       sync.RWMutex
	fallback Credential
	entries  []credEntry
	// trusted hosts (lower-case host[:port]); suffixes start with "."
	// (".arcgis.com"). Nil means every host is trusted.
	trusted map[string]bool
}

type credEntry struct {
	prefix string // normalized: lower-case scheme://host[:port]/path without trailing slash
	cred   Credential
}

// NewCredentialRegistry returns a registry whose fallback is cred (nil
// means anonymous).
func NewCredentialRegistry(fallback Credential) *CredentialRegistry {
	if fallback == nil {
		fallback = Anonymous()
	}
	return &CredentialRegistry{fallback: fallback}
}

// Register uses cred for every URL under prefix, replacing an earlier
// registration of the same prefix.
func (r *CredentialRegistry) Register(prefix string, cred Credential) error {
	p, err := normalizePrefix(prefix)
	if err != nil {
		return err
	}
	if cred == nil {
		cred = Anonymous()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.entries {
		if r.entries[i].prefix == p {
			r.entries[i].cred = cred
			return nil
		}
	}
	r.entries = append(r.entries, credEntry{p, cred})
	return nil
}

// SetFallback replaces the credential used for unregistered URLs.
func (r *CredentialRegistry) SetFallback(cred Credential) {
	if cred == nil {
		cred = Anonymous()
	}
	r.mu.Lock()
	r.fallback = cred
	r.mu.Unlock()
}

// TrustHost lets the fallback credential's token go to host (host or
// host:port; a leading "." trusts every subdomain, e.g. ".arcgis.com").
// Until TrustHost is first called every host is trusted.
func (r *CredentialRegistry) TrustHost(host string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.trusted == nil {
		r.trusted = map[string]bool{}
	}
	r.trusted[strings.ToLower(strings.TrimSpace(host))] = true
}

func (r *CredentialRegistry) isTrusted(host string) bool {
	if r.trusted == nil {
		return true
	}
	host = strings.ToLower(host)
	if r.trusted[host] {
		return true
	}
	name := host
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		name = host[:i]
		if r.trusted[name] {
			return true
		}
	}
	for t := range r.trusted {
		if strings.HasPrefix(t, ".") && (strings.HasSuffix(name, t) || name == t[1:]) {
			return true
		}
	}
	return false
}

// For returns the credential of the longest registered prefix that
// contains rawURL (on a path-segment boundary), else the fallback when the
// URL's host is trusted, else Anonymous.
func (r *CredentialRegistry) For(rawURL string) Credential {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err != nil || u.Host == "" {
		return Anonymous()
	}
	norm, err := normalizePrefix(rawURL)
	if err != nil {
		return Anonymous()
	}
	var best Credential
	bestLen := -1
	for _, e := range r.entries {
		if (norm == e.prefix || strings.HasPrefix(norm, e.prefix+"/")) && len(e.prefix) > bestLen {
			best, bestLen = e.cred, len(e.prefix)
		}
	}
	if best != nil {
		return best
	}
	if r.isTrusted(u.Host) {
		return r.fallback
	}
	return Anonymous()
}

func normalizePrefix(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("credential prefix %q: need an absolute URL", raw)
	}
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	case u.Scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	}
	return strings.ToLower(u.Scheme) + "://" + host + strings.TrimRight(u.Path, "/"), nil
}
