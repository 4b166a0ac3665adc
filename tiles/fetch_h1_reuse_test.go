package tiles

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"testing"
	"time"
)

// Whether the fast path keeps a connection after an answer follows the
// answer's framing: kept after a length-delimited or chunked body (with
// trailers), a 204 or 304 (no body) and an HTTP/1.0 keep-alive answer;
// dropped after an HTTP/1.0 answer without keep-alive and a body that
// runs to the end of the connection.
func TestH1TransportReuseByAnswer(t *testing.T) {
	for _, c := range []struct {
		name, answer string
		status       int
		body         string
		reused       bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"chunked trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n", 200, "ok", true},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", 204, "", true},
		{"304", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", 304, "", true},
		{"1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 200, "ok", true},
		{"1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", false},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nok", 200, "ok", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
				for n := 0; ; n++ {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					a := c.answer
					if n > 0 && !c.reused {
						a = "HTTP/1.1 500 Reused\r\nContent-Length: 0\r\n\r\n"
					}
					if _, err := io.WriteString(conn, a); err != nil {
						return
					}
					if c.name == "until close" {
						return // the body ends at the connection's end
					}
				}
			})
			hc := h1Fetcher(t, s.URL, nil).client()
			for i := 0; i < 3; i++ {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, fmt.Sprintf("%s/t/%d", s.URL, i), nil)
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != c.status || string(b) != c.body {
					t.Fatalf("request %d: %d %q %v; want %d %q", i, resp.StatusCode, b, err, c.status, c.body)
				}
				if c.name == "chunked trailers" && resp.Trailer.Get("X-Sum") != "1" {
					t.Fatalf("trailer %v, want X-Sum: 1", resp.Trailer)
				}
			}
			want := int32(3)
			if c.reused {
				want = 1
			}
			if n := s.conns.Load(); n != want {
				t.Fatalf("%d connections for 3 requests, want %d", n, want)
			}
		})
	}
}

// A tile URL without a port (most tile servers) costs no more allocations
// than one with it: the pool is keyed by the URL's host, and host:port is
// built only to dial (port 80).
func TestH1TransportNoPortNoAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts vary under the race detector")
	}
	s := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if answer(conn, "tile") != nil {
				return
			}
		}
	})
	addr := s.URL[len("http://"):]
	allocs := func(host string) float64 {
		var dialed []string
		tm, err := ParseTemplate("http://"+host+"/tile/{z}/{y}/{x}.png", nil)
		if err != nil {
			t.Fatal(err)
		}
		tr := NewTransport(1)
		tr.Proxy = nil
		tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			dialed = append(dialed, a)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		f := &HTTPFetcher{Client: &http.Client{Transport: tr}, Template: tm}
		defer f.CloseIdleConnections()
		fetch := func() {
			if b, _, err := f.FetchTile(context.Background(), TileKey{Level: 1}); err != nil || string(b) != "tile" {
				t.Fatalf("%s: %q, %v", host, b, err)
			}
		}
		fetch()
		n := testing.AllocsPerRun(200, fetch)
		if len(dialed) != 1 || dialed[0] != "tiles.test:80" {
			t.Fatalf("%s: dialed %q, want tiles.test:80 once", host, dialed)
		}
		return n
	}
	// The least of a few alternating rounds: a loaded machine may add an
	// allocation to a round now and then.
	withPort, noPort := math.Inf(1), math.Inf(1)
	for i := 0; i < 5; i++ {
		withPort, noPort = min(withPort, allocs("tiles.test:80")), min(noPort, allocs("tiles.test"))
	}
	if noPort > withPort {
		t.Fatalf("%.1f allocations per tile without a port, %.1f with one", noPort, withPort)
	}
}

// A context per tile, cancelled once its tile is in (or a Client Timeout,
// which makes one per request), keeps the connection alive as net/http
// does: its cancel lands on an idle connection.
func TestH1TransportContextPerTile(t *testing.T) {
	s := newRawServer(t, func(conn net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if answer(conn, "tile") != nil {
				return
			}
		}
	})
	f := h1Fetcher(t, s.URL, nil)
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, _, err := f.FetchTile(ctx, TileKey{Level: 1, Col: i})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("context per tile: %d connections for 10 tiles, want 1", n)
	}
	f = h1Fetcher(t, s.URL, nil)
	f.Client.Timeout = time.Minute
	for i := 0; i < 10; i++ {
		if _, _, err := f.FetchTile(context.Background(), TileKey{Level: 1, Col: i}); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.conns.Load(); n != 2 {
		t.Fatalf("client timeout: %d connections for 10 tiles, want 1 more", n-1)
	}
}
