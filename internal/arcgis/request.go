package arcgis

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/offlined/offlined/internal/redact"
)

// request describes one logical call; exchange turns it into attempts.
type request struct {
	op         string // for messages, e.g. "query"
	method     string // GET or POST
	url        string // may carry a query already
	form       url.Values
	idempotent bool // safe to repeat after it may have reached the server
	noAuth     bool // send no token (token endpoints)
	noToken    bool // resolve no credential (pre-signed download URLs)
	// multipart builds a fresh body per attempt; nil for form requests.
	// replayable tells whether it can be built more than once.
	multipart  func(token string) (io.ReadCloser, string, error)
	replayable bool
	// header holds extra request headers (Range, If-Range).
	header http.Header
	// statusKey marks job status resources: a body with this top-level key
	// is a status even when it also carries an "error" member.
	statusKey string
}

func (r *request) canReplay() bool { return r.multipart == nil || r.replayable }

// maxErrorBody bounds how much of an error or peeked body is read.
const maxErrorBody = 1 << 20

// outcome is the result of one attempt.
type outcome struct {
	resp       *http.Response
	body       []byte
	err        error
	retry      bool          // retryable failure
	authFailed bool          // token rejected: renew and retry once
	retryAfter time.Duration // server-requested delay
	hasAfter   bool
}

// exchange runs req with token handling and retries. With stream it
// returns the open response (2xx, not an error body); otherwise the whole
// body, already checked for an ArcGIS error.
func (c *Client) exchange(ctx context.Context, req *request, stream bool) (*http.Response, []byte, error) {
	var cred Credential
	if !req.noAuth && !req.noToken {
		cred = c.creds.For(req.url)
	}
	policy := c.retry
	start := time.Now()
	authRetried := false
	for attempt := 1; ; attempt++ {
		token := ""
		if cred != nil {
			t, err := cred.Token(ctx, c)
			if err != nil {
				return nil, nil, fmt.Errorf("%s %s: credential: %w", req.op, stripQuery(req.url), err)
			}
			token = t
		}
		o := c.attempt(ctx, req, token, stream)
		if o.err == nil {
			return o.resp, o.body, nil
		}
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%s %s: %w", req.op, stripQuery(req.url), ctx.Err())
		}
		if o.authFailed && token != "" && !authRetried && req.canReplay() && cred.Invalidate(token) {
			authRetried = true
			attempt--
			c.logger.Debug("arcgis: token rejected, renewing", "op", req.op, "url", stripQuery(req.url))
			continue
		}
		if !o.retry {
			return nil, nil, o.err
		}
		if attempt >= policy.MaxAttempts {
			return nil, nil, &RetryError{Attempts: attempt, Last: o.err}
		}
		if attempt >= refusedAttempts && errors.Is(o.err, syscall.ECONNREFUSED) {
			// Nothing listens there: one quick second try covers a server
			// restarting; more only makes the user wait (6 attempts took
			// 10.8 s).
			return nil, nil, &RetryError{Attempts: attempt, Last: o.err}
		}
		delay := policy.backoff(attempt, c.rnd)
		if o.hasAfter {
			delay = o.retryAfter
		}
		if policy.MaxElapsed > 0 && time.Since(start)+delay > policy.MaxElapsed {
			return nil, nil, &RetryError{Attempts: attempt, Last: o.err}
		}
		c.logger.Debug("arcgis: retrying", "op", req.op, "url", stripQuery(req.url), "attempt", attempt, "delay", delay, "err", o.err)
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, nil, fmt.Errorf("%s %s: %w (after %v)", req.op, stripQuery(req.url), err, o.err)
		}
	}
}

// refusedAttempts is how often a refused connection is tried.
const refusedAttempts = 2

// attempt performs one HTTP exchange and classifies its result.
func (c *Client) attempt(ctx context.Context, req *request, token string, stream bool) outcome {
	hreq, err := c.buildRequest(ctx, req, token)
	if err != nil {
		return outcome{err: fmt.Errorf("%s: build request: %w", req.op, err)}
	}
	where := stripQuery(req.url)
	resp, err := c.hc.Do(hreq)
	if err != nil {
		err = redact.Error(err)
		return outcome{err: fmt.Errorf("%s %s: %w", req.op, where, err),
			retry: (req.idempotent && retryableErr(err)) || (dialErr(err) && req.canReplay())}
	}
	code := resp.StatusCode
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return outcome{err: c.statusError(req, resp, b), authFailed: true}
	}
	if retryableStatus(code) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		o := outcome{err: c.statusError(req, resp, b), retry: req.idempotent}
		o.retryAfter, o.hasAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return o
	}
	if code < 200 || code > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		return outcome{err: c.statusError(req, resp, b)}
	}
	if stream {
		br := bufio.NewReaderSize(resp.Body, 4096)
		if looksLikeJSON(resp.Header.Get("Content-Type")) {
			head, _ := br.Peek(512)
			if isErrorPrefix(head) {
				b, rerr := io.ReadAll(io.LimitReader(br, maxErrorBody))
				resp.Body.Close()
				if rerr != nil {
					return outcome{err: fmt.Errorf("%s %s: read body: %w", req.op, where, rerr), retry: req.idempotent && retryableErr(rerr)}
				}
				if e, ok := ParseError(b); ok {
					return c.bodyErrorOutcome(req, resp, e)
				}
				return outcome{resp: resp, body: b, err: nil, retry: false}.asStream(b)
			}
		}
		resp.Body = struct {
			io.Reader
			io.Closer
		}{br, resp.Body}
		return outcome{resp: resp}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResponse+1))
	resp.Body.Close()
	if err == nil && int64(len(b)) > c.maxResponse {
		return outcome{err: &ResponseTooLargeError{Op: req.op, URL: where, Limit: c.maxResponse}}
	}
	if err != nil {
		return outcome{err: fmt.Errorf("%s %s: read body (%d bytes read): %w", req.op, where, len(b), err),
			retry: req.idempotent && retryableErr(err)}
	}
	if req.statusKey != "" && hasKey(b, req.statusKey) {
		return outcome{resp: resp, body: b}
	}
	if e, ok := ParseError(b); ok {
		return c.bodyErrorOutcome(req, resp, e)
	}
	return outcome{resp: resp, body: b}
}

// asStream turns a fully read body back into a streamable response.
func (o outcome) asStream(b []byte) outcome {
	o.resp.Body = io.NopCloser(bytes.NewReader(b))
	o.body = nil
	return o
}

func (c *Client) bodyErrorOutcome(req *request, resp *http.Response, e *Error) outcome {
	e.HTTPStatus = resp.StatusCode
	e.URL = stripQuery(req.url)
	o := outcome{err: e}
	switch {
	case e.Code == 498 || e.Code == 499:
		o.authFailed = true
	case e.IsRetryable():
		o.retry = req.idempotent
	}
	return o
}

// statusError converts a non-2xx response to *Error (ArcGIS body) or
// *HTTPError.
func (c *Client) statusError(req *request, resp *http.Response, body []byte) error {
	if e, ok := ParseError(body); ok {
		e.HTTPStatus = resp.StatusCode
		e.URL = stripQuery(req.url)
		if e.Code == 0 {
			e.Code = resp.StatusCode
		}
		return e
	}
	return &HTTPError{StatusCode: resp.StatusCode, Status: resp.Status, URL: stripQuery(req.url), Body: snippet(body)}
}

func looksLikeJSON(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.Contains(ct, "json") || strings.HasPrefix(ct, "text/")
}

// isErrorPrefix reports whether a body starts like {"error" or
// {"status":"failed".
func isErrorPrefix(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	return bytes.HasPrefix(b, []byte(`"error"`))
}

// buildRequest makes the HTTP request for one attempt: GET with the query,
// or a form POST (also for GETs whose URL would exceed maxURLLen).
func (c *Client) buildRequest(ctx context.Context, req *request, token string) (*http.Request, error) {
	u, err := url.Parse(req.url)
	if err != nil {
		return nil, err
	}
	params := url.Values{}
	for k, v := range u.Query() {
		params[k] = v
	}
	for k, v := range req.form {
		params[k] = v
	}
	if token != "" {
		params.Set("token", token)
	}
	var hreq *http.Request
	switch {
	case req.multipart != nil:
		body, ct, err := req.multipart(token)
		if err != nil {
			return nil, err
		}
		u.RawQuery = ""
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), body)
		if err != nil {
			body.Close()
			return nil, err
		}
		hreq.Header.Set("Content-Type", ct)
	case req.method == http.MethodGet && len(u.String())+len(params.Encode())+1 <= c.maxURLLen:
		u.RawQuery = params.Encode()
		hreq, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
	default:
		u.RawQuery = ""
		enc := params.Encode()
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(enc))
		if err != nil {
			return nil, err
		}
		hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.referer != "" {
		hreq.Header.Set("Referer", c.referer)
	}
	hreq.Header.Set("User-Agent", c.userAgent)
	for k, v := range req.header {
		hreq.Header[k] = v
	}
	return hreq, nil
}

// doJSON runs req and decodes the body into v, then runs check (the shape
// check) when given.
func (c *Client) doJSON(ctx context.Context, req *request, v any, check func(body []byte) error) error {
	_, body, err := c.exchange(ctx, req, false)
	if err != nil {
		return err
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return &UnexpectedResponseError{Op: req.op, URL: stripQuery(req.url), Want: "JSON (" + err.Error() + ")", Body: snippet(body)}
		}
	}
	if check != nil {
		if err := check(body); err != nil {
			var ue *UnexpectedResponseError
			if errors.As(err, &ue) {
				if ue.Op == "" {
					ue.Op = req.op
				}
				if ue.URL == "" {
					ue.URL = stripQuery(req.url)
				}
				if ue.Body == "" {
					ue.Body = snippet(body)
				}
			}
			return err
		}
	}
	return nil
}

// getJSON GETs u?f=json plus params into v (idempotent, retried).
func (c *Client) getJSON(ctx context.Context, op, u string, params url.Values, v any, check func([]byte) error) error {
	return c.doJSON(ctx, &request{op: op, method: http.MethodGet, url: u, form: withF(params), idempotent: true}, v, check)
}

// getResource GETs the JSON resource at u as a T (check vets the body);
// what names it in the operation and errors.
func getResource[T any](ctx context.Context, c *Client, what, u string, check func([]byte) error) (*T, error) {
	var out T
	if err := c.getJSON(ctx, what, u, nil, &out, check); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, u, err)
	}
	return &out, nil
}

// postJSON POSTs params (f=json added) and decodes into v. idempotent says
// whether it may be retried.
func (c *Client) postJSON(ctx context.Context, op, u string, params url.Values, idempotent bool, v any, check func([]byte) error) error {
	return c.doJSON(ctx, &request{op: op, method: http.MethodPost, url: u, form: withF(params), idempotent: idempotent}, v, check)
}

// GetRaw GETs u with params (no f=json added) and returns the open body
// and its content type. The request is retried as idempotent; the token is
// appended as a query parameter unless the URL is pre-signed (X-Amz-*,
// Signature=). The caller closes the body.
//
// When the connection breaks while the body is read, the reader asks for
// the rest with a Range request (If-Range on the ETag) and continues, within
// the retry policy; a resource that changed meanwhile is an error.
func (c *Client) GetRaw(ctx context.Context, u string, params url.Values) (io.ReadCloser, string, error) {
	req := &request{op: "download", method: http.MethodGet, url: u, form: params, idempotent: true, noToken: presigned(u)}
	resp, _, err := c.exchange(ctx, req, true)
	if err != nil {
		return nil, "", err
	}
	return &resumingReader{c: c, ctx: ctx, req: req, body: resp.Body, etag: resp.Header.Get("ETag"), noRange: resp.Uncompressed}, resp.Header.Get("Content-Type"), nil
}

// GetJSON GETs u?f=json plus params and decodes the body into v, checking
// for an ArcGIS error body; it is the escape hatch for resources this
// package has no method for.
func (c *Client) GetJSON(ctx context.Context, u string, params url.Values, v any) error {
	return c.getJSON(ctx, "get", u, params, v, nil)
}

func presigned(u string) bool {
	l := strings.ToLower(u)
	return strings.Contains(l, "x-amz-") || strings.Contains(l, "signature=") || strings.Contains(l, "sig=")
}

// withF returns a copy of params with f=json.
func withF(params url.Values) url.Values {
	out := url.Values{}
	for k, v := range params {
		out[k] = v
	}
	if out.Get("f") == "" {
		out.Set("f", "json")
	}
	return out
}

// hasKey reports whether a JSON object body has any of keys at top level.
func hasKey(body []byte, keys ...string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// requireKeys returns a shape check that needs one of keys.
func requireKeys(want string, keys ...string) func([]byte) error {
	return func(body []byte) error {
		if !hasKey(body, keys...) {
			return &UnexpectedResponseError{Want: want}
		}
		return nil
	}
}
