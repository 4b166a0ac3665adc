package tiles

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// h1Transport sends plain-HTTP/1.1 GET requests on the calling goroutine
// over its own keep-alive connections, and every other request through
// base. net/http's Transport hands each request to two goroutines per
// connection (one writes it, one reads the answer) and the body's end back
// to the reader: four goroutine switches per tile, a large part of a
// loopback tile's CPU on two cores. Here the caller writes the request,
// reads the answer and gives the connection back when the body ends.
//
// It takes from base what shapes a plain-HTTP request: the dialer (and so
// the outbound policy), the proxy (a proxied request goes to base), buffer
// sizes, the idle limit per host and timeout, the response header timeout
// and size limit. Requests base would treat differently go to base: https
// (TLS and HTTP/2), proxied URLs, methods other than GET, requests with a
// body; so do all requests of a transport that asks for gzip, unencrypted
// HTTP/2, no keep-alive or a connection limit. Parsing and writing are
// net/http's (http.ReadResponse, Request.Write). The http.Client around it
// still follows redirects through its CheckRedirect (the token guard).
type h1Transport struct {
	base *http.Transport
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	idle map[string][]*h1Conn // LIFO per host:port
}

// newH1Transport returns an h1Transport over base, or nil when base's
// settings leave nothing it could send itself (it does not count
// connections, so a transport with MaxConnsPerHost keeps all its requests).
func newH1Transport(base *http.Transport) *h1Transport {
	if base == nil || !base.DisableCompression || base.DisableKeepAlives || base.MaxConnsPerHost > 0 {
		return nil
	}
	if p := base.Protocols; p != nil && (p.UnencryptedHTTP2() || !p.HTTP1()) {
		return nil
	}
	if base.Dial != nil || base.DialTLS != nil { //nolint:staticcheck // honoured by falling back
		return nil
	}
	dial := base.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &h1Transport{base: base, dial: dial, idle: map[string][]*h1Conn{}}
}

// direct reports whether t sends req itself.
func (t *h1Transport) direct(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Method != http.MethodGet || req.Body != nil && req.Body != http.NoBody ||
		req.URL.Host == "" || req.Close || req.Header.Get("Upgrade") != "" {
		return false
	}
	if t.base.Proxy != nil {
		if u, err := t.base.Proxy(req); u != nil || err != nil {
			return false
		}
	}
	return true
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.direct(req) {
		return t.base.RoundTrip(req)
	}
	ctx := req.Context()
	for {
		pc, reused, err := t.conn(ctx, req)
		if err != nil {
			return nil, err
		}
		resp, err := pc.roundTrip(ctx, req)
		if err == nil {
			return resp, nil
		}
		// A kept-alive connection the server closed meanwhile fails before
		// any answer: the request was never seen, so send it on a new one
		// (as net/http does for GET). A server that did not answer in time
		// is not asked again.
		var ne net.Error
		if reused && errors.Is(err, errNoAnswer) && !(errors.As(err, &ne) && ne.Timeout()) && ctx.Err() == nil {
			continue
		}
		return nil, err
	}
}

// hostPort is the address to dial for req: its host:port (port 80 when
// none).
func hostPort(req *http.Request) string {
	if req.URL.Port() != "" {
		return req.URL.Host
	}
	return net.JoinHostPort(req.URL.Hostname(), "80")
}

// CloseIdleConnections closes the idle connections of t and of base.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1Conn{}
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			if c.timer == nil || c.timer.Stop() {
				c.close()
			}
		}
	}
	t.base.CloseIdleConnections()
}

// conn returns an idle connection to req's host (reused true) or dials
// one. Connections are pooled by the URL's host as written, so a URL
// without a port (most tile servers) does not build a host:port string
// per tile; only a dial needs one.
func (t *h1Transport) conn(ctx context.Context, req *http.Request) (*h1Conn, bool, error) {
	key := req.URL.Host
	t.mu.Lock()
	for cs := t.idle[key]; len(cs) > 0; cs = t.idle[key] {
		c := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		t.idle[key] = cs[:len(cs)-1]
		if c.timer != nil && !c.timer.Stop() {
			continue // its idle timer fired: closeIdle is closing it
		}
		t.mu.Unlock()
		return c, true, nil
	}
	t.mu.Unlock()
	nc, err := t.dial(ctx, "tcp", hostPort(req))
	if err != nil {
		return nil, false, err
	}
	c := &h1Conn{t: t, key: key, nc: nc}
	c.cr.c = nc
	c.br = bufio.NewReaderSize(&c.cr, bufSize(t.base.ReadBufferSize))
	c.bw = bufio.NewWriterSize(nc, bufSize(t.base.WriteBufferSize))
	return c, false, nil
}

func bufSize(n int) int {
	if n <= 0 {
		return 4 << 10
	}
	return n
}

// put keeps c for the next request to its host, or closes it when the
// idle limits are reached.
func (t *h1Transport) put(c *h1Conn) {
	perHost := t.base.MaxIdleConnsPerHost
	if perHost == 0 {
		perHost = http.DefaultMaxIdleConnsPerHost
	}
	t.mu.Lock()
	cs := t.idle[c.key]
	if perHost < 0 || len(cs) >= perHost {
		t.mu.Unlock()
		c.close()
		return
	}
	t.idle[c.key] = append(cs, c)
	if d := t.base.IdleConnTimeout; d > 0 {
		if c.timer == nil {
			c.timer = time.AfterFunc(d, c.closeIdle)
		} else {
			c.timer.Reset(d)
		}
	}
	t.mu.Unlock()
}

// closeIdle closes c when it is still idle (its idle timer fired).
func (c *h1Conn) closeIdle() {
	t := c.t
	t.mu.Lock()
	cs := t.idle[c.key]
	for i, x := range cs {
		if x == c {
			t.idle[c.key] = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	t.mu.Unlock()
	c.close()
}

// h1Conn is one keep-alive connection of an h1Transport.
type h1Conn struct {
	t     *h1Transport
	key   string
	nc    net.Conn
	cr    countingReader
	br    *bufio.Reader
	bw    *bufio.Writer
	timer *time.Timer // closes the connection after IdleConnTimeout idle; nil without one
	// watched is the context whose cancel sets a past deadline on nc
	// (unwatch ends that, fired is closed once it is set); nil when none.
	watched context.Context
	unwatch func() bool
	fired   chan struct{}
}

func (c *h1Conn) close() {
	if c.unwatch != nil {
		c.unwatch()
	}
	c.nc.Close()
}

// watch makes a cancel of ctx interrupt c's I/O. The watch stays in place
// while requests with the same context follow (one context.AfterFunc per
// connection and context instead of one per request). An earlier context
// cancelled since its last request ended (a per-tile context, a Client
// Timeout's) set a past deadline on the idle connection, interrupting
// nothing: that deadline is cleared and c reused, as net/http reuses it.
func (c *h1Conn) watch(ctx context.Context) {
	if ctx == c.watched || ctx.Done() == nil && c.watched == nil {
		return
	}
	if c.unwatch != nil && !c.unwatch() {
		<-c.fired
		c.nc.SetDeadline(time.Time{})
	}
	c.watched, c.unwatch, c.fired = nil, nil, nil
	if ctx.Done() != nil {
		nc, fired := c.nc, make(chan struct{})
		c.watched, c.fired = ctx, fired
		c.unwatch = context.AfterFunc(ctx, func() {
			nc.SetDeadline(aLongTimeAgo)
			close(fired)
		})
	}
}

// countingReader reads from c, failing once more than left bytes were
// asked for while left is set (the response header limit).
type countingReader struct {
	c    net.Conn
	left int64 // < 0: no limit
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left >= 0 {
		if r.left == 0 {
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > r.left {
			p = p[:r.left]
		}
	}
	n, err := r.c.Read(p)
	if r.left >= 0 {
		r.left -= int64(n)
	}
	return n, err
}

var (
	errHeaderTooLarge = errors.New("server response headers exceeded the limit")
	// errNoAnswer marks a failure before the first byte of an answer.
	errNoAnswer = errors.New("connection closed before an answer")
)

// aLongTimeAgo is a deadline in the past: it interrupts blocked I/O.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req and reads the answer's header; the body is read
// by the caller and gives c back at its end.
func (c *h1Conn) roundTrip(ctx context.Context, req *http.Request) (*http.Response, error) {
	fail := func(err error) (*http.Response, error) {
		c.close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	c.watch(ctx)
	if d := c.t.base.ResponseHeaderTimeout; d > 0 {
		c.nc.SetReadDeadline(time.Now().Add(d))
		// It may have replaced the deadline of a cancel that came first.
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
	}
	if err := req.Write(c.bw); err != nil {
		return fail(fmt.Errorf("%w: %w", errNoAnswer, err))
	}
	if err := c.bw.Flush(); err != nil {
		return fail(fmt.Errorf("%w: %w", errNoAnswer, err))
	}
	limit := c.t.base.MaxResponseHeaderBytes
	if limit <= 0 {
		limit = 10 << 20
	}
	c.cr.left = limit + int64(c.br.Size())
	if _, err := c.br.Peek(1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fail(fmt.Errorf("%w: %w", errNoAnswer, err))
	}
	var resp *http.Response
	for {
		var err error
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err)
		}
		// 1xx answers (but 101) come before the real one.
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	c.cr.left = -1
	if c.t.base.ResponseHeaderTimeout > 0 {
		c.nc.SetReadDeadline(time.Time{})
		// A cancel that set its deadline just before is not lost: ctx's
		// error is set before its AfterFunc runs.
		// (The body is left unread: fail closes the connection, and
		// net/http's body.Close would drain it with no deadline.)
		if ctx.Err() != nil {
			return fail(ctx.Err())
		}
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return fail(errors.New("unexpected 101 Switching Protocols"))
	}
	resp.Body = &h1Body{rc: resp.Body, c: c, ctx: ctx, keep: !resp.Close}
	return resp, nil
}

// h1Body is an answer's body: its end gives the connection back (or
// closes it when the answer said Connection: close or was not read to the
// end).
type h1Body struct {
	rc   io.ReadCloser
	c    *h1Conn
	ctx  context.Context
	keep bool
	done bool
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
		if b.ctx.Err() != nil {
			err = context.Cause(b.ctx)
		}
	}
	return n, err
}

// Close implements io.Closer: a body not read to its end closes the
// connection (draining an unknown rest could take long).
func (b *h1Body) Close() error {
	if !b.done {
		b.finish(b.rc == http.NoBody)
	}
	return nil
}

// finish releases the connection once: back to the pool when the body
// ended cleanly and the connection may be kept, closed otherwise.
func (b *h1Body) finish(eof bool) {
	b.done = true
	// A context cancelled meanwhile may have set the deadline.
	if eof && b.keep && b.ctx.Err() == nil && b.c.br.Buffered() == 0 {
		b.c.t.put(b.c)
		return
	}
	b.c.close()
}
