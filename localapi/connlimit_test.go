package localapi

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestConnLimiterWaitsForAuthentication(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := NewConnLimiter(1)
	ln := l.Listener(inner)
	defer ln.Close()
	for range 2 {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	select {
	case <-accepted:
		t.Fatal("a second unauthenticated connection was accepted past the cap")
	case <-time.After(100 * time.Millisecond):
	}
	// Authentication on the first connection frees its slot.
	connAuthenticated(l.ConnContext(t.Context(), a))
	b := <-accepted
	if b == nil {
		t.Fatal("accept after authentication failed")
	}
	// Closing a connection frees its slot too; a closed listener wakes a
	// waiting Accept.
	b.Close()
	a.Close() // already released: no double release
	go func() {
		_, err := ln.Accept()
		accepted <- nil
		if err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("accept: %v", err)
		}
	}()
	ln.Close()
	<-accepted
}

// startLimited serves e's API like the daemon does: a connection cap, header
// timeout, no Server.ReadTimeout.
func startLimited(t *testing.T, e *env, maxUnauth int) *httptest.Server {
	t.Helper()
	l := NewConnLimiter(maxUnauth)
	hs := httptest.NewUnstartedServer(e.srv)
	hs.Listener = l.Listener(hs.Listener)
	hs.Config.ConnContext = l.ConnContext
	hs.Config.ReadHeaderTimeout = 5 * time.Second
	hs.Start()
	t.Cleanup(hs.Close)
	return hs
}

// rawRequest sends head (and a partial body) and returns the connection.
func rawRequest(t *testing.T, hs *httptest.Server, head string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c
}

// answer reads the status line and then waits for the server to close the
// connection (bounded by limit).
func answer(t *testing.T, c net.Conn, limit time.Duration) (string, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limit))
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	_, err := io.Copy(io.Discard, br)
	return strings.TrimSpace(line), err == nil // nil: EOF, the server closed
}

// Issue 22 item 5: slow bodies without a token hold no connection: many
// of them, past the connection cap, are answered 401 and closed at once,
// and an authenticated client still gets through.
func TestSlowUnauthenticatedBodies(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{bodyTimeout: 500 * time.Millisecond})
	_, oid := e.firstFeature()
	hs := startLimited(t, e, 8)
	var conns []net.Conn
	for i := range 40 {
		path := fmt.Sprintf("/arcgis/rest/services/demo/FeatureServer/0/%d/attachments", oid)
		if i%2 == 1 {
			path = "/api/v1/maps/demo/layers/0/features"
		}
		conns = append(conns, rawRequest(t, hs, "POST "+path+" HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\nf=json&x="))
	}
	// Each is refused without waiting for its body (which never comes);
	// a refused connection keeps its slot until closed (net/http lingers
	// up to 500 ms so the client reads the answer), so the 40 go through
	// the 8 slots in turn.
	for i, c := range conns {
		line, closed := answer(t, c, 10*time.Second)
		if !strings.Contains(line, " 401 ") || !closed {
			t.Fatalf("slow body %d: %q, closed %v", i, line, closed)
		}
	}
	// A slow form of unknown length to the FeatureServer subset (where the
	// token may be in the body) is read for at most BodyTimeout.
	c := rawRequest(t, hs, fmt.Sprintf("POST /arcgis/rest/services/demo/FeatureServer/0/%d/attachments HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nf=jso\r\n", oid))
	if line, closed := answer(t, c, 10*time.Second); !strings.Contains(line, " 401 ") || !closed {
		t.Fatalf("slow chunked form: %q, closed %v", line, closed)
	}
	req, _ := http.NewRequest("GET", hs.URL+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := hs.Client().Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("authenticated request after the flood: %v %v", resp, err)
	}
	resp.Body.Close()
}

// Issue 22 item 5: an authenticated body that stalls is cut after
// BodyTimeout; an upload that keeps sending may take longer; an event
// stream outlives the deadline.
func TestBodyDeadlines(t *testing.T) {
	t.Parallel()
	const timeout = 1500 * time.Millisecond
	e := newEnv(t, envOpts{bodyTimeout: timeout})
	gid, _ := e.firstFeature()
	hs := startLimited(t, e, 4)
	auth := "Authorization: Bearer " + testToken + "\r\n"

	start := time.Now()
	c := rawRequest(t, hs, "POST /api/v1/maps/demo/layers/0/features HTTP/1.1\r\nHost: localhost\r\n"+auth+"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"type\":")
	line, closed := answer(t, c, 20*time.Second)
	if !closed || time.Since(start) > 10*time.Second {
		t.Fatalf("stalled body: %q closed %v after %v", line, closed, time.Since(start))
	}

	// Upload: 10 chunks 300 ms apart (3 s in all, twice the timeout).
	pr, pw := io.Pipe()
	go func() {
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for range 10 {
			<-tick.C
			if _, err := pw.Write([]byte("0123456789")); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", hs.URL+"/api/v1/maps/demo/layers/0/features/"+url.PathEscape(gid)+"/attachments?name=slow.jpg", pr)
	req.ContentLength = 100
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "image/jpeg")
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("slow but steady upload: %d %s", resp.StatusCode, b)
	}

	// An event stream keeps going past the read deadline.
	req, _ = http.NewRequest("GET", hs.URL+"/api/v1/maps/demo/sync/events", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err = hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	start = time.Now()
	for time.Since(start) < 2*timeout {
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatalf("event stream ended after %v: %v", time.Since(start), err)
		}
	}
}
