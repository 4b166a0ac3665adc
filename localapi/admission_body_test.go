package localapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// heldServer serves a Server with a feature-query route /api/v1/test/query
// whose handler is h.
func heldServer(t *testing.T, h HandlerFunc) *httptest.Server {
	t.Helper()
	srv, _, _ := tileRouteServer(t, 0)
	srv.HandleQuery("GET", "/api/v1/test/query", h)
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts
}

func heldGet(t *testing.T, ts *httptest.Server) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/test/query", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// A feature query's answer written in 32 KB pieces goes out whole, with
// its Content-Length (it went out chunked, two write calls a piece).
func TestInteractiveAnswerHeldWhole(t *testing.T) {
	piece := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB
	ts := heldServer(t, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/geo+json")
		for range 8 {
			if _, err := w.Write(piece); err != nil {
				return err
			}
		}
		return nil
	})
	resp, b := heldGet(t, ts)
	if resp.StatusCode != 200 || len(b) != 8*len(piece) {
		t.Fatalf("status %d, %d bytes", resp.StatusCode, len(b))
	}
	if resp.ContentLength != int64(len(b)) || len(resp.TransferEncoding) != 0 {
		t.Fatalf("Content-Length %d, Transfer-Encoding %v; want %d, none", resp.ContentLength, resp.TransferEncoding, len(b))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/geo+json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// An answer over maxHeldBody streams from there on, whole; a status set
// by the handler goes out with it.
func TestInteractiveAnswerOverLimitStreams(t *testing.T) {
	piece := bytes.Repeat([]byte("x"), 100<<10)
	n := maxHeldBody/len(piece) + 3
	ts := heldServer(t, func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusAccepted)
		for range n {
			if _, err := w.Write(piece); err != nil {
				return err
			}
		}
		return nil
	})
	resp, b := heldGet(t, ts)
	if resp.StatusCode != http.StatusAccepted || len(b) != n*len(piece) {
		t.Fatalf("status %d, %d bytes; want 202, %d", resp.StatusCode, len(b), n*len(piece))
	}
	if resp.ContentLength != -1 {
		t.Fatalf("Content-Length %d on a streamed answer", resp.ContentLength)
	}
}

// A handler that fails after writing part of its answer (still held)
// gets its error answer alone, not the part glued to an error document.
func TestInteractiveErrorReplacesHeldAnswer(t *testing.T) {
	ts := heldServer(t, func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Content-Type", "application/geo+json")
		w.Write([]byte(`{"type":"FeatureCollection","features":[`))
		return &Error{Status: http.StatusUnprocessableEntity, Code: "invalidGeometry", Field: "geometry", Message: "corrupt"}
	})
	resp, b := heldGet(t, ts)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.HasPrefix(string(b), `{"error":`) {
		t.Fatalf("status %d, body %q", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
}

// A flush sends what is held at once (an event stream or a long answer
// the handler wants out), and the rest follows.
func TestInteractiveFlushSends(t *testing.T) {
	flushed := make(chan struct{})
	release := make(chan struct{})
	ts := heldServer(t, func(w http.ResponseWriter, r *http.Request) error {
		w.Write([]byte("first\n"))
		if err := http.NewResponseController(w).Flush(); err != nil {
			return err
		}
		close(flushed)
		<-release
		w.Write([]byte("second\n"))
		return nil
	})
	req, _ := http.NewRequest("GET", ts.URL+"/api/v1/test/query", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := ts.Client().Do(req) // returns once the headers arrived
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-flushed
	line := make([]byte, len("first\n"))
	_, err = io.ReadFull(resp.Body, line)
	close(release)
	if err != nil || string(line) != "first\n" {
		t.Fatalf("read %q, %v before the handler went on", line, err)
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

// A panicking handler's held answer is dropped; the guard answers 500.
func TestInteractivePanicDropsHeldAnswer(t *testing.T) {
	ts := heldServer(t, func(w http.ResponseWriter, r *http.Request) error {
		w.Write([]byte("partial"))
		panic(errors.New("boom"))
	})
	resp, b := heldGet(t, ts)
	if resp.StatusCode != http.StatusInternalServerError || bytes.Contains(b, []byte("partial")) {
		t.Fatalf("status %d, body %q", resp.StatusCode, b)
	}
}
