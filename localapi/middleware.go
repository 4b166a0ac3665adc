package localapi

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
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

// requestToken returns the API token a request carries: the Authorization
// Bearer header, or (only where allowQuery) the token / access_token query or
// form parameter and X-Esri-Authorization, which ArcGIS clients and
// EventSource use.
func requestToken(r *http.Request, allowQuery bool) string {
	if a := r.Header.Get("Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	if !allowQuery {
		return ""
	}
	if a := r.Header.Get("X-Esri-Authorization"); a != "" {
		if t, ok := strings.CutPrefix(a, "Bearer "); ok {
			return strings.TrimSpace(t)
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		return t
	}
	if t := r.URL.Query().Get("access_token"); t != "" {
		return t
	}
	if r.Method == http.MethodPost && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		// ParseForm reads the (size-limited) body; handlers use r.Form afterwards.
		if err := r.ParseForm(); err == nil {
			return r.PostForm.Get("token")
		}
	}
	return ""
}

// tokenEqual compares tokens in constant time.
func tokenEqual(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

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

// guard is the outer middleware: recover, log, Host check, CORS, auth and
// the default body limit. The query string is never logged (it may hold a
// token).
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
			s.log.LogAttrs(r.Context(), lv, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", sw.status), slog.Int64("bytes", sw.n),
				slog.Duration("took", time.Since(start)))
		}()
		if !hostAllowed(r.Host, s.opts.AllowedHosts) {
			writeError(sw, &Error{Status: http.StatusMisdirectedRequest, Code: "badHost", Field: "Host", Message: "the Host header must name a loopback address (localhost, 127.0.0.1, [::1])"})
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" {
			if !slices.Contains(s.opts.CORSOrigins, origin) {
				// Browsers from other origins get no CORS headers: the
				// request is refused here so no state changes either.
				writeError(sw, &Error{Status: http.StatusForbidden, Code: "badOrigin", Field: "Origin", Message: "origin not allowed"})
				return
			}
			h := sw.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Range, X-Esri-Authorization")
				h.Set("Access-Control-Max-Age", "600")
				sw.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, Accept-Ranges")
		}
		allowQuery := strings.HasPrefix(r.URL.Path, "/arcgis/") || strings.HasSuffix(r.URL.Path, "/events")
		limit := s.opts.MaxBodyBytes
		if isAttachmentUpload(r) {
			limit = s.opts.MaxAttachmentBytes
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(sw, r.Body, limit)
		}
		if r.ContentLength > limit {
			writeError(sw, &Error{Status: http.StatusRequestEntityTooLarge, Code: "tooLarge", Field: "body", Message: fmt.Sprintf("request body over %d bytes", limit)})
			return
		}
		if !tokenEqual(requestToken(r, allowQuery), s.opts.Token) {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="offlined"`)
			writeError(sw, &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Field: "Authorization", Message: "a valid Bearer token is required (see `offlined token`)"})
			return
		}
		next.ServeHTTP(sw, r)
	})
}

// isAttachmentUpload reports whether r uploads attachment content (which has
// its own, larger size limit).
func isAttachmentUpload(r *http.Request) bool {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		return false
	}
	p := r.URL.Path
	return strings.Contains(p, "/attachments") || strings.HasSuffix(p, "/addAttachment") || strings.HasSuffix(p, "/updateAttachment")
}
