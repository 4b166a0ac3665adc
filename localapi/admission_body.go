package localapi

import (
	"net/http"
	"strconv"
)

// maxHeldBody is the largest interactive answer held back and sent in one
// write; a longer one streams from there on.
const maxHeldBody = 1 << 20

// heldWriter holds an interactive request's answer (a feature query's
// GeoJSON, ~240 KB for a thousand points) and sends it with its
// Content-Length in one write when the handler returns. Streamed through
// net/http instead, each of the answer's 32 KB pieces became a chunk of
// two write system calls, and a goroutine that blocks on a socket waits
// behind every runnable tile handler to be scheduled again. An answer
// over maxHeldBody, or one the handler flushes, streams as before from
// that point.
type heldWriter struct {
	http.ResponseWriter
	buf    *[]byte
	status int  // status given by the handler, not yet sent
	passed bool // headers went out: writes go straight through
}

// WriteHeader records the status (sent with the body).
func (w *heldWriter) WriteHeader(code int) {
	if w.passed {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 && code >= 200 {
		w.status = code
	}
}

// Write holds b, or sends what is held and b once the answer is too long
// to hold.
func (w *heldWriter) Write(b []byte) (int, error) {
	if !w.passed && len(*w.buf)+len(b) <= maxHeldBody {
		*w.buf = append(*w.buf, b...)
		return len(b), nil
	}
	if err := w.pass(); err != nil {
		return 0, err
	}
	return w.ResponseWriter.Write(b)
}

// Flush sends what is held and flushes.
func (w *heldWriter) Flush() {
	if w.pass() == nil {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *heldWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pass sends the status and what is held; later writes go through.
func (w *heldWriter) pass() error {
	if w.passed {
		return nil
	}
	w.passed = true
	if w.status != 0 {
		w.ResponseWriter.WriteHeader(w.status)
	}
	if len(*w.buf) == 0 {
		return nil
	}
	_, err := w.ResponseWriter.Write(*w.buf)
	return err
}

// finish sends the held answer with its length once the handler returned
// without error. After an error nothing held is sent: the error answer
// replaces it.
func (w *heldWriter) finish(err error) {
	if w.passed || err != nil {
		return
	}
	if w.status == 0 && len(*w.buf) == 0 {
		return // nothing written: net/http answers as it would have
	}
	if bodyAllowed(w.status) && w.Header().Get("Content-Length") == "" {
		w.Header().Set("Content-Length", strconv.Itoa(len(*w.buf)))
	}
	w.pass()
}

// bodyAllowed reports whether an answer of status (0: 200) may carry a
// body.
func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && !(status >= 100 && status < 200)
}
