package config

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/atomicfile"
)

// File names in the data root.
const (
	TokenFile       = "api-token"
	CredentialsFile = "credentials.json"
)

// Credential kinds.
const (
	KindToken        = "token"        // a portal token from generateToken (the password is never stored)
	KindAPIKey       = "apiKey"       // an ArcGIS API key
	KindOAuthRefresh = "oauthRefresh" // an OAuth2 refresh token and client id
	KindOAuthClient  = "oauthClient"  // an OAuth2 app (client id and secret)
)

// Credential is what is stored for one portal: tokens, refresh tokens, API
// keys or an app's client credentials — never a user's password.
type Credential struct {
	Portal       string    `json:"portal"`
	Kind         string    `json:"kind"`
	Username     string    `json:"username,omitempty"`
	Token        string    `json:"token,omitempty"`
	Expires      time.Time `json:"expires,omitzero"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	// RefreshExpires is when RefreshToken stops working (OAuth sign-ins
	// through the browser); the daemon exchanges it for a new one before.
	RefreshExpires time.Time `json:"refreshExpires,omitzero"`
	// RedirectURI is the redirect of the browser sign-in, repeated by
	// exchange_refresh_token.
	RedirectURI  string    `json:"redirectUri,omitempty"`
	ClientID     string    `json:"clientId,omitempty"`
	ClientSecret string    `json:"clientSecret,omitempty"`
	APIKey       string    `json:"apiKey,omitempty"`
	Saved        time.Time `json:"saved"`
}

// Redacted returns c with every secret replaced, for display.
func (c Credential) Redacted() Credential {
	r := c
	for _, s := range []*string{&r.Token, &r.RefreshToken, &r.ClientSecret, &r.APIKey} {
		if *s != "" {
			*s = "[redacted]"
		}
	}
	return r
}

// NormalizePortal trims a portal URL to its …/sharing/rest form's base
// without a trailing slash, so lookups agree.
func NormalizePortal(u string) string {
	return strings.TrimRight(strings.TrimSpace(u), "/")
}

func credPath(root string) string { return filepath.Join(root, CredentialsFile) }

// LoadCredentials reads the credentials file (empty when absent). A file
// readable by others is refused.
func LoadCredentials(root string) ([]Credential, error) {
	p := credPath(root)
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible by other users (mode %o); chmod 600 it", p, fi.Mode().Perm())
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var cs []Credential
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return cs, nil
}

// FindCredential returns the stored credential of portal.
func FindCredential(root, portal string) (Credential, error) {
	cs, err := LoadCredentials(root)
	if err != nil {
		return Credential{}, err
	}
	portal = NormalizePortal(portal)
	for _, c := range cs {
		if c.Portal == portal {
			return c, nil
		}
	}
	return Credential{}, fmt.Errorf("%s: %w (run offlined login -portal %s)", portal, ErrNoCredentials, portal)
}

// SaveCredential stores c (replacing the portal's previous entry) in the
// 0600 credentials file, written atomically.
func SaveCredential(root string, c Credential) error {
	cs, err := LoadCredentials(root)
	if err != nil {
		return err
	}
	c.Portal = NormalizePortal(c.Portal)
	c.Saved = time.Now().UTC()
	out := []Credential{c}
	for _, o := range cs {
		if o.Portal != c.Portal {
			out = append(out, o)
		}
	}
	return writeCreds(root, out)
}

// RemoveCredential deletes the portal's entry; it reports whether one existed.
func RemoveCredential(root, portal string) (bool, error) {
	cs, err := LoadCredentials(root)
	if err != nil {
		return false, err
	}
	portal = NormalizePortal(portal)
	var out []Credential
	for _, o := range cs {
		if o.Portal != portal {
			out = append(out, o)
		}
	}
	if len(out) == len(cs) {
		return false, nil
	}
	return true, writeCreds(root, out)
}

func writeCreds(root string, cs []Credential) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	if cs == nil {
		cs = []Credential{}
	}
	b, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return err
	}
	return writeSecret(credPath(root), b)
}

// writeSecret writes b to p with mode 0600, atomically and durably.
func writeSecret(p string, b []byte) error {
	return atomicfile.WriteFile(p, b, 0o600)
}

// APIToken returns the API token in root, generating it (32 random bytes,
// hex) into a 0600 file at first use.
func APIToken(root string) (string, error) {
	p := filepath.Join(root, TokenFile)
	if b, err := os.ReadFile(p); err == nil {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s is accessible by other users (mode %o); chmod 600 it", p, fi.Mode().Perm())
		}
		tok := strings.TrimSpace(string(b))
		if len(tok) < 32 {
			return "", fmt.Errorf("%s holds a token shorter than 32 characters", p)
		}
		return tok, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tok := hex.EncodeToString(b[:])
	if err := writeSecret(p, []byte(tok+"\n")); err != nil {
		return "", err
	}
	return tok, nil
}

// ReadAPIToken returns the existing API token without creating one.
func ReadAPIToken(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, TokenFile))
	if err != nil {
		return "", fmt.Errorf("read API token (has offlined serve run with this data root?): %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
