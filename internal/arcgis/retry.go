package arcgis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/offlined/offlined/internal/outbound"
)

// RetryPolicy bounds the retries of idempotent requests. Only requests that
// are safe to repeat are retried: GETs (service and layer JSON, portal
// reads, job and replica status polls, tiles, downloads, queries and
// queryAttachments, also when a long URL turns them into POSTs).
// createReplica, synchronizeReplica, applyEdits, uploads, unRegisterReplica,
// exportTiles submission and token requests are never retried after the
// request may have reached the server; they are retried only when the
// connection could not be made at all, and once after a 498/499 token
// renewal (the server rejected them before doing anything).
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, first included (>=1).
	MaxAttempts int
	// InitialDelay is the backoff before the second attempt.
	InitialDelay time.Duration
	// MaxDelay caps one computed backoff delay. A server's Retry-After is
	// honoured as sent, within MaxElapsed.
	MaxDelay time.Duration
	// Multiplier grows the delay per attempt (2 doubles it).
	Multiplier float64
	// Jitter is the random fraction (0..1) subtracted from each delay.
	Jitter float64
	// MaxElapsed bounds the total time spent retrying one request (0: no bound).
	MaxElapsed time.Duration
}

// DefaultRetryPolicy is used when no policy is configured: 6 attempts,
// 500ms doubling to 30s, 50% jitter, within 2 minutes.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 6, InitialDelay: 500 * time.Millisecond, MaxDelay: 30 * time.Second,
		Multiplier: 2, Jitter: 0.5, MaxElapsed: 2 * time.Minute}
}

// NoRetry is a policy with a single attempt.
func NoRetry() RetryPolicy { return RetryPolicy{MaxAttempts: 1} }

func (p RetryPolicy) normalized() RetryPolicy {
	if p.MaxAttempts < 1 {
		p.MaxAttempts = 1
	}
	if p.Multiplier < 1 {
		p.Multiplier = 1
	}
	if p.Jitter < 0 {
		p.Jitter = 0
	}
	if p.Jitter > 1 {
		p.Jitter = 1
	}
	return p
}

// backoff returns the delay before attempt n+1 (n counts from 1).
func (p RetryPolicy) backoff(n int, rnd func() float64) time.Duration {
	d := float64(p.InitialDelay) * math.Pow(p.Multiplier, float64(n-1))
	if p.MaxDelay > 0 && d > float64(p.MaxDelay) {
		d = float64(p.MaxDelay)
	}
	if p.Jitter > 0 {
		d -= d * p.Jitter * rnd()
	}
	return time.Duration(d)
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(h); err == nil {
		if secs < 0 {
			secs = 0
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// retryableStatus reports HTTP statuses worth retrying.
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500 && code <= 599 && code != http.StatusNotImplemented
}

// retryableErr reports transport errors worth retrying for idempotent
// requests: resets, timeouts, truncated bodies, refused connections.
func retryableErr(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || refusedByPolicy(err) {
		return false
	}
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &alert) || errors.As(err, &uaErr) || errors.As(err, &hostErr) {
		return false // TLS configuration problems do not heal by retrying
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "server closed") ||
		strings.Contains(s, "broken pipe") || strings.Contains(s, "unexpected EOF")
}

// dialErr reports that the connection was never made, so even a
// non-idempotent request did not reach the server.
func dialErr(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial" && !refusedByPolicy(err)
}

// refusedByPolicy reports an address or redirect the outbound policy
// refused: repeating cannot help.
func refusedByPolicy(err error) bool {
	var be *outbound.BlockedAddressError
	var re *outbound.RedirectError
	return errors.As(err, &be) || errors.As(err, &re)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jitterSource is the random source for backoff jitter.
func jitterSource() float64 { return rand.Float64() }
