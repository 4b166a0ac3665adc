package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/offlined/offlined/internal/redact"
)

// TokenFunc returns the token a request to rawURL may carry ("" for none).
type TokenFunc func(ctx context.Context, rawURL string) (string, error)

// RedirectError is returned when a redirect would resend a request body
// that carries a credential to a host the credential was not issued for.
type RedirectError struct {
	From, To string // redacted URLs
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect from %s to %s refused: the request carries a credential that host may not receive", e.From, e.To)
}

// RedirectGuard returns an http.Client CheckRedirect function that lets a
// redirect carry a credential only where tokenFor would send one itself:
// a token query parameter (token, access_token, …) whose value is not the
// target's token is removed, Authorization headers are removed when the
// target gets no token, and a redirect that would resend a body (307/308)
// with a credential to such a host is refused. prev (nil: Go's default
// limit of 10 redirects) runs first.
func RedirectGuard(tokenFor TokenFunc, prev func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if prev != nil {
			if err := prev(req, via); err != nil {
				return err
			}
		} else if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		want := ""
		if tokenFor != nil {
			want, _ = tokenFor(req.Context(), req.URL.String())
		}
		q := req.URL.Query()
		changed := false
		for k, vs := range q {
			if !redact.IsSensitive(k) {
				continue
			}
			if want == "" || len(vs) != 1 || vs[0] != want {
				q.Del(k)
				changed = true
			}
		}
		if changed {
			req.URL.RawQuery = q.Encode()
		}
		if want == "" {
			for k := range req.Header {
				if redact.IsSensitive(k) {
					req.Header.Del(k)
				}
			}
		}
		if req.Body != nil && req.Body != http.NoBody && len(via) > 0 && tokenFor != nil {
			orig, _ := tokenFor(req.Context(), via[0].URL.String())
			if orig != "" && orig != want {
				return &RedirectError{From: redact.URL(via[len(via)-1].URL.String()), To: redact.URL(req.URL.String())}
			}
		}
		return nil
	}
}
