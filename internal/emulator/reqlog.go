package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// RequestEntry is one request seen by the emulator.
type RequestEntry struct {
	Time   time.Time // arrival
	Done   time.Time // the response written (zero while it runs)
	Method string
	Path   string
	Query  url.Values // query string and, for form posts, the form fields
	Status int
	Bytes  int64
}

// RequestLog records every request the emulator receives, for tests to
// assert on. It is safe for concurrent use.
type RequestLog struct {
	mu      sync.Mutex
	entries []*RequestEntry
}

func (l *RequestLog) add(r *http.Request) *RequestEntry {
	q := url.Values{}
	for k, v := range r.URL.Query() {
		q[k] = v
	}
	ct := r.Header.Get("Content-Type")
	if r.Method == http.MethodPost && strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		if err := r.ParseForm(); err == nil {
			for k, v := range r.PostForm {
				q[k] = v
			}
		}
	}
	e := &RequestEntry{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: q}
	l.mu.Lock()
	l.entries = append(l.entries, e)
	l.mu.Unlock()
	return e
}

func (l *RequestLog) finish(e *RequestEntry, status int, n int64) {
	l.mu.Lock()
	e.Status, e.Bytes, e.Done = status, n, time.Now()
	l.mu.Unlock()
}

// Entries returns a copy of the entries recorded so far.
func (l *RequestLog) Entries() []RequestEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]RequestEntry, len(l.entries))
	for i, e := range l.entries {
		out[i] = *e
	}
	return out
}

// Matching returns the entries whose path contains substr.
func (l *RequestLog) Matching(substr string) []RequestEntry {
	var out []RequestEntry
	for _, e := range l.Entries() {
		if strings.Contains(e.Path, substr) {
			out = append(out, e)
		}
	}
	return out
}

// Count returns how many requests had a path containing substr.
func (l *RequestLog) Count(substr string) int { return len(l.Matching(substr)) }

// Reset forgets every entry.
func (l *RequestLog) Reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

// statusRecorder remembers the status and body size of a response.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status = code
		r.wroteHeader = true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush lets streaming handlers flush through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
