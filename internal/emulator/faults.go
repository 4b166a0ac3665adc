package emulator

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// lockedRand is a deterministic random source safe for concurrent use.
type lockedRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func newLockedRand(seed int64) *lockedRand {
	return &lockedRand{r: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))}
}

func (l *lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

// injectFault applies the fault knobs to one request. It reports whether the
// request was answered (or cut) and must not be routed.
func (s *Server) injectFault(w *statusRecorder, r *http.Request) bool {
	s.mu.Lock()
	f := s.faults
	applies := len(f.Paths) == 0
	for _, p := range f.Paths {
		if strings.Contains(r.URL.Path, p) {
			applies = true
		}
	}
	if !applies {
		s.mu.Unlock()
		return false
	}
	burst503 := s.faults.ErrorBurst > 0
	if burst503 {
		s.faults.ErrorBurst--
	}
	burst429 := !burst503 && s.faults.TooManyBurst > 0
	if burst429 {
		s.faults.TooManyBurst--
	}
	s.mu.Unlock()

	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case burst503:
		writeError(w, http.StatusServiceUnavailable, 503, "Service Unavailable (injected)")
		return true
	case burst429 || (f.TooManyRate > 0 && s.rng.Float64() < f.TooManyRate):
		secs := int(math.Ceil(f.RetryAfter.Seconds()))
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, 429, "Too Many Requests (injected)")
		return true
	case f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate:
		writeError(w, http.StatusInternalServerError, 500, "Internal Server Error (injected)")
		return true
	}
	if f.CutRate > 0 && s.rng.Float64() < f.CutRate || f.CutAfterBytes > 0 && f.CutRate == 0 {
		cw := &cutWriter{statusRecorder: w, limit: f.CutAfterBytes}
		s.router.ServeHTTP(cw, r)
		if cw.cut {
			panic(http.ErrAbortHandler)
		}
		return true
	}
	return false
}

// cutWriter passes through at most limit body bytes, then aborts the
// connection so the client sees a truncated response.
type cutWriter struct {
	*statusRecorder
	limit   int64
	written int64
	cut     bool
}

func (c *cutWriter) Write(b []byte) (int, error) {
	if c.cut {
		return 0, http.ErrAbortHandler
	}
	if c.written+int64(len(b)) > c.limit {
		n := c.limit - c.written
		if n > 0 {
			_, _ = c.statusRecorder.Write(b[:n])
		}
		c.Flush()
		c.cut = true
		panic(http.ErrAbortHandler)
	}
	n, err := c.statusRecorder.Write(b)
	c.written += int64(n)
	return n, err
}
