package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// openGetAttempts bounds the tries of one GET of an open server's document
// or resource (style, TileJSON, sprite, glyph range, PMTiles directory).
const openGetAttempts = 5

// maxRetryAfter bounds how long a Retry-After answer makes a GET wait.
const maxRetryAfter = 30 * time.Second

// OpenGet GETs u from an open (non-ArcGIS) server, anonymously: no token is
// ever added. A body sent with Content-Encoding gzip is decoded (servers
// such as tileserver-gl compress whatever the request asked) unless keepGzip
// is set. 429 and 5xx answers and dropped connections are retried with
// backoff, honouring Retry-After; errors show u with its query hidden (open
// servers carry API keys there). rng, when not empty, asks for a byte range
// ("bytes=0-16383"): a 206 answer or a 200 whole body are both accepted and
// the caller slices. A 404 is a *StatusError with Code 404.
func OpenGet(ctx context.Context, hc *http.Client, u, rng string, limit int64, keepGzip bool) ([]byte, error) {
	delay := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		b, err := openGetOnce(ctx, hc, u, rng, limit, keepGzip)
		if err == nil || attempt == openGetAttempts || ctx.Err() != nil || !passingFailure(err) {
			return b, err
		}
		wait := delay
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > 0 {
			wait = min(se.RetryAfter, maxRetryAfter)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		delay *= 2
	}
}

func openGetOnce(ctx context.Context, hc *http.Client, u, rng string, limit int64, keepGzip bool) ([]byte, error) {
	shown := HideQuery(u)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown, errors.New("bad URL"))
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := do(hc, nil, req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusPartialContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		se := &StatusError{URL: shown, Code: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
		se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		return nil, se
	}
	b, err := readCapped(resp.Body, limit, "GET", shown)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", shown, err)
	}
	if !keepGzip && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") && isGzip(b) {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("GET %s: gzip: %w", shown, err)
		}
		defer zr.Close()
		if b, err = readCapped(zr, limit, "GET", shown); err != nil {
			return nil, fmt.Errorf("GET %s: gzip: %w", shown, err)
		}
	}
	return b, nil
}

// unwrapURLError drops the *url.Error wrapper net/http adds (it carries the
// whole URL, API key included).
func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil && strings.Contains(err.Error(), "://") {
			return inner
		}
	}
	return err
}

// parseRetryAfter reads a Retry-After header in seconds or as an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// isGzip reports gzip magic bytes.
func isGzip(b []byte) bool { return len(b) > 1 && b[0] == 0x1f && b[1] == 0x8b }

// gzipBytes compresses b.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// readGzip decodes gzip bytes (capped at MaxTileBytes).
func readGzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return readCapped(zr, MaxTileBytes, "gzip", "")
}
