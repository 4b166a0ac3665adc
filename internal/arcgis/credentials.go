package arcgis

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// CredentialRegistry maps URL prefixes (server or service roots) to
// credentials; URLs under no prefix use the fallback (the portal's).
type CredentialRegistry struct {
	mu       sync.RWMutex
	fallback Credential
	entries  []credEntry
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

// For returns the credential of the longest registered prefix that
// contains rawURL (on a path-segment boundary), else the fallback.
func (r *CredentialRegistry) For(rawURL string) Credential {
	u, err := normalizePrefix(rawURL)
	r.mu.RLock()
	defer r.mu.RUnlock()
	if err != nil {
		return r.fallback
	}
	best, bestLen := r.fallback, -1
	for _, e := range r.entries {
		if (u == e.prefix || strings.HasPrefix(u, e.prefix+"/")) && len(e.prefix) > bestLen {
			best, bestLen = e.cred, len(e.prefix)
		}
	}
	return best
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
