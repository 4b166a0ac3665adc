package localapi

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// hostAllowed reports whether the Host header names a loopback host (or one
// of extra), with or without a port: the DNS-rebinding defence.
func hostAllowed(host string, extra []string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		h = host[1 : len(host)-1]
	}
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	switch h {
	case "localhost", "127.0.0.1", "::1":
		return true
	}
	return slices.Contains(extra, h)
}

// bearerToken returns the token of an Authorization-style header value
// "Bearer <token>" (the scheme is case-insensitive, RFC 6750 / RFC 9110), or "".
func bearerToken(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// queryTokenAllowed reports whether r may carry its token outside the
// Authorization header: the FeatureServer subset (ArcGIS clients send
// token=) and GET on the two event streams (EventSource cannot set headers).
func queryTokenAllowed(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/arcgis/") {
		return true
	}
	return r.Method == http.MethodGet && isEventRoute(r.URL.Path)
}

// isEventRoute reports whether p is exactly /api/v1/jobs/{job}/events or
// /api/v1/maps/{map}/sync/events.
func isEventRoute(p string) bool {
	seg := strings.Split(p, "/")
	switch {
	case len(seg) == 6 && seg[0] == "" && seg[1] == "api" && seg[2] == "v1" && seg[3] == "jobs" && seg[4] != "" && seg[5] == "events":
		return true
	case len(seg) == 7 && seg[0] == "" && seg[1] == "api" && seg[2] == "v1" && seg[3] == "maps" && seg[4] != "" && seg[5] == "sync" && seg[6] == "events":
		return true
	}
	return false
}

// preAuthFormBytes caps what is read of a body before its request is
// authenticated: only an ArcGIS form post may carry its token in the body.
const preAuthFormBytes = 1 << 20

// requestToken returns the API token a request carries: the Authorization
// Bearer header, or (only where queryTokenAllowed) X-Esri-Authorization, the
// token / access_token query parameter, and for POSTs to the FeatureServer
// subset the token field of a form body of at most preAuthFormBytes (read
// into memory and put back for the handler). Nothing else of the body is
// read before authentication.
func requestToken(r *http.Request, formLimit int64) string {
	if t := bearerToken(r.Header.Get("Authorization")); t != "" {
		return t
	}
	if !queryTokenAllowed(r) {
		return ""
	}
	if t := bearerToken(r.Header.Get("X-Esri-Authorization")); t != "" {
		return t
	}
	q := r.URL.Query()
	if t := q.Get("token"); t != "" {
		return t
	}
	if t := q.Get("access_token"); t != "" {
		return t
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/arcgis/") || r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return ""
	}
	if r.ContentLength > formLimit {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, formLimit+1))
	if err != nil || int64(len(b)) > formLimit {
		return ""
	}
	r.Body = readCloser{bytes.NewReader(b), r.Body}
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return ""
	}
	return vals.Get("token")
}

// readCloser reads from a buffered copy of a body and closes the original.
type readCloser struct {
	io.Reader
	c io.Closer
}

// Close closes the original body.
func (rc readCloser) Close() error { return rc.c.Close() }

// apiCSP is the Content-Security-Policy of every response: were one opened
// as a document, it could load nothing and run no script.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

// tokenEqual compares tokens in constant time (for tokens of one length,
// as subtle.ConstantTimeCompare), without copying them.
func tokenEqual(got, want string) bool {
	if want == "" || len(got) != len(want) {
		return false
	}
	var v byte
	for i := 0; i < len(want); i++ {
		v |= got[i] ^ want[i]
	}
	return subtle.ConstantTimeByteEq(v, 0) == 1
}

// hasBody reports whether r may carry a body.
func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody
}

// Header values every answer carries (shared: net/http only reads them,
// and a Set replaces the slice).
var (
	hdrNosniff = []string{"nosniff"}
	hdrAPICSP  = []string{apiCSP}
)

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

// WriteHeader records the status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write counts the bytes written.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Flush lets SSE handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// guard is the outer middleware: recover, log, Host check, CORS and auth
// (body limits are per route, see limitBody). Before authentication at most
// a small ArcGIS form body is read, under BodyTimeout; refused requests close
// their connection. Every response carries nosniff and a sandboxing CSP: no
// answer of this API is meant to run in a browser. The query string is never
// logged (it may hold a token).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					writeError(sw, fmt.Errorf("internal error"))
				}
			}
			// Successful requests (tiles!) log at debug; refusals at info.
			lv := slog.LevelDebug
			switch {
			case sw.status >= 500:
				lv = slog.LevelError
			case sw.status >= 400:
				lv = slog.LevelInfo
			}
			if s.log.Enabled(r.Context(), lv) {
				s.log.LogAttrs(r.Context(), lv, "request",
					slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Int("status", sw.status), slog.Int64("bytes", sw.n),
					slog.Duration("took", time.Since(start)))
			}
		}()
		if hasBody(r) {
			// Errors are ignored: writers without deadlines (tests) have
			// none. A request without a body has nothing to read.
			http.NewResponseController(sw).SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
		}
		h := sw.Header()
		h["X-Content-Type-Options"] = hdrNosniff
		h["Content-Security-Policy"] = hdrAPICSP
		if !hostAllowed(r.Host, s.opts.AllowedHosts) {
			refuse(sw, r, &Error{Status: http.StatusMisdirectedRequest, Code: "badHost", Field: "Host", Message: "the Host header must name a loopback address (localhost, 127.0.0.1, [::1])"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(r, origin) {
			if !slices.Contains(s.opts.CORSOrigins, origin) {
				// Browsers from other origins get no CORS headers: the
				// request is refused here so no state changes either.
				refuse(sw, r, &Error{Status: http.StatusForbidden, Code: "badOrigin", Field: "Origin", Message: "origin not allowed"})
				return
			}
			h := sw.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Range, X-Esri-Authorization")
				h.Set("Access-Control-Max-Age", "600")
				h.Set("Connection", "close") // the connection stays unauthenticated
				sw.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges")
		}
		if s.servePublic(sw, r) {
			return
		}
		tok := requestToken(r, min(s.opts.MaxBodyBytes, preAuthFormBytes))
		authed := tokenEqual(tok, s.opts.Token)
		if !authed && tok == "" {
			ok, err := s.page.authorize(r)
			if err != nil {
				refuse(sw, r, err)
				return
			}
			authed = ok
		}
		if !authed {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="offlined"`)
			e := &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Field: "Authorization", Message: "a valid Bearer token is required (see `offlined token`)"}
			if isArcGISRoute(r) {
				// ArcGIS clients read 499 (token required) and 498 (invalid
				// token) from the body to decide to sign in again.
				e.ArcGISCode, e.Message = 499, "Token Required"
				if tok != "" {
					e.ArcGISCode, e.Message = 498, "Invalid Token"
				}
			}
			refuse(sw, r, e)
			return
		}
		connAuthenticated(r.Context())
		if r.URL.RawQuery == "" {
			// nothing to check
		} else if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			// Go's query parser drops a malformed pair (an unencoded ';'
			// in where=1=1;DROP …) and the rest of the query would run
			// without it: every row instead of an error.
			e := &Error{Status: http.StatusBadRequest, Code: "invalidQuery", Field: "query",
				Message: "malformed query string (encode ';' as %3B, '%' as %25): " + err.Error()}
			if isArcGISRoute(r) {
				fsError(sw, e)
			} else {
				writeError(sw, e)
			}
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// refuse answers a request refused before authentication and makes the
// server close the connection without reading (draining) the body: an
// unauthenticated client costs no memory and holds no connection.
func refuse(w http.ResponseWriter, r *http.Request, err error) {
	rc := http.NewResponseController(w)
	w.Header().Set("Connection", "close")
	write := func(w http.ResponseWriter) {
		if isArcGISRoute(r) {
			fsError(w, err)
			return
		}
		writeError(w, err)
	}
	if r.ContentLength != 0 && refuseAndClose(w, rc, write) {
		return
	}
	if r.ContentLength != 0 {
		rc.SetReadDeadline(time.Now())
	}
	write(w)
}

// refuseAndClose answers on the raw connection and closes it at once,
// instead of letting net/http linger up to 500 ms for the client to read
// the answer while its unread body waits: a flood of refused bodies then
// holds no descriptor and no connection slot. False when the connection
// cannot be taken over (HTTP/2).
func refuseAndClose(w http.ResponseWriter, rc *http.ResponseController, write func(http.ResponseWriter)) bool {
	rec := &recorder{h: http.Header{}, status: http.StatusOK}
	for k, v := range w.Header() {
		rec.h[k] = v
	}
	write(rec)
	conn, bw, err := rc.Hijack()
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
	rec.h.Set("Content-Length", strconv.Itoa(rec.body.Len()))
	rec.h.Set("Connection", "close")
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", rec.status, http.StatusText(rec.status))
	rec.h.Write(bw)
	bw.WriteString("\r\n")
	bw.Write(rec.body.Bytes())
	bw.Flush()
	return true
}

// recorder is a ResponseWriter that keeps the answer for refuseAndClose.
type recorder struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

// limitBody applies the route's body limit and read deadline to an
// authenticated request. Uploads get MaxAttachmentBytes and a deadline that
// moves on as long as data arrives; other routes MaxBodyBytes and BodyTimeout
// for the whole body. The deadline is lifted once the body is read (or at
// once without one), so long responses such as event streams are not cut.
func (s *Server) limitBody(w http.ResponseWriter, r *http.Request, upload bool) error {
	if !hasBody(r) {
		return nil // guard set no deadline: nothing to lift
	}
	rc := http.NewResponseController(w)
	limit := s.opts.MaxBodyBytes
	if upload {
		limit = s.opts.MaxAttachmentBytes
	}
	if r.ContentLength == 0 {
		rc.SetReadDeadline(time.Time{})
		return nil
	}
	if r.ContentLength > limit {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "tooLarge", Field: "body", Message: fmt.Sprintf("request body over %d bytes", limit)}
	}
	db := &deadlineBody{ReadCloser: r.Body, rc: rc}
	if upload {
		db.idle = s.opts.BodyTimeout
	}
	rc.SetReadDeadline(time.Now().Add(s.opts.BodyTimeout))
	r.Body = http.MaxBytesReader(w, db, limit)
	return nil
}

// deadlineBody lifts the connection's read deadline at the end of the body
// and, with idle set, pushes it idle ahead whenever data arrives.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	done bool
}

// Read reads from the body and moves the read deadline.
func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF && !b.done:
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	case n > 0 && b.idle > 0 && err == nil:
		b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	return n, err
}

// isArcGISRoute reports a request to the ArcGIS-compatible routes, which
// answer ArcGIS error JSON (numeric code, message, details).
func isArcGISRoute(r *http.Request) bool {
	return r.URL.Path == "/arcgis" || strings.HasPrefix(r.URL.Path, "/arcgis/")
}
