// Package redact removes secrets (tokens, API keys, passwords,
// Authorization values) from URLs, error texts and log records.
//
// Secrets are removed at their source (the ArcGIS client and the tiles
// package never put a token into an error or a log attribute) and again by
// Handler, a slog.Handler wrapper that rewrites every record, so a line
// logged by any package at any level cannot carry one.
package redact

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces a secret value.
const Mask = "REDACTED"

// sensitive lists query parameter and attribute names (lower case, "_" and
// "-" removed) whose values are secrets.
var sensitive = map[string]bool{
	"token": true, "accesstoken": true, "refreshtoken": true, "apikey": true, "key": false,
	"password": true, "clientsecret": true, "authorization": true, "xesriauthorization": true,
	"secret": true, "idtoken": true,
}

// IsSensitive reports whether a query parameter, header or attribute named
// name holds a secret.
func IsSensitive(name string) bool {
	n := strings.ToLower(name)
	n = strings.NewReplacer("_", "", "-", "").Replace(n)
	return sensitive[n]
}

// URL returns raw with the values of secret query parameters replaced by
// Mask. A string that does not parse is passed through String.
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.RawQuery == "" {
		return String(raw)
	}
	q := u.Query()
	changed := false
	for k := range q {
		if IsSensitive(k) {
			q[k] = []string{Mask}
			changed = true
		}
	}
	if !changed {
		return raw
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// queryParam matches name=value pairs of secret parameters in free text
// (URLs inside error messages, form bodies); the value runs to the next
// separator.
var queryParam = regexp.MustCompile(`(?i)((?:^|[?&;\s"'(,])(?:token|access[_-]?token|refresh[_-]?token|id[_-]?token|api[_-]?key|password|client[_-]?secret)=)[^&\s"'),;]+`)

// authValue matches an Authorization header value (and Bearer tokens
// anywhere).
var authValue = regexp.MustCompile(`(?i)((?:x-esri-)?authorization["']?\s*[:=]\s*["']?(?:bearer\s+|basic\s+)?)[^\s"',;}]+|(\bbearer\s+)[A-Za-z0-9._~+/=-]+`)

// String returns s with secret query parameters and Authorization values
// masked.
func String(s string) string {
	if !strings.ContainsAny(s, "=:") && !strings.Contains(strings.ToLower(s), "bearer") {
		return s
	}
	s = queryParam.ReplaceAllString(s, "${1}"+Mask)
	return authValue.ReplaceAllStringFunc(s, func(m string) string {
		sub := authValue.FindStringSubmatch(m)
		if sub[1] != "" {
			return sub[1] + Mask
		}
		return sub[2] + Mask
	})
}

// Error masks the URL of a *url.Error inside err (net/http puts the full
// request URL, token included, into its errors) and returns err.
func Error(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = URL(ue.URL)
	}
	return err
}
