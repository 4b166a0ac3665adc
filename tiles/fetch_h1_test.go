package tiles

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer accepts loopback connections and runs serve on each one; it
// counts the connections it accepted.
type rawServer struct {
	URL   string
	conns atomic.Int32
}

func newRawServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{URL: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// h1Fetcher is a fetcher for base's tiles with a transport from
// NewTransport changed by tweak (may be nil).
func h1Fetcher(t *testing.T, base string, tweak func(*http.Transport)) *HTTPFetcher {
	t.Helper()
	tm, err := ParseTemplate(base+"/tile/{z}/{y}/{x}.png", nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTransport(2)
	if tweak != nil {
		tweak(tr)
	}
	f := &HTTPFetcher{Client: &http.Client{Transport: tr}, Template: tm}
	t.Cleanup(f.CloseIdleConnections)
	return f
}

// answer writes a 200 answer with body and extra header lines.
func answer(w io.Writer, body string, header ...string) error {
	h := strings.Join(append(header, ""), "\r\n")
	_, err := fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n%s\r\n%s", len(body), h, body)
	return err
}

// NewTransport's transport sends plain-HTTP tile requests itself, on one
// kept-alive connection for sequential tiles.
func TestH1TransportKeepsConnection(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if answer(c, "tile "+req.URL.Path) != nil {
				return
			}
		}
	})
	for _, idle := range []time.Duration{90 * time.Second, 0} {
		before := s.conns.Load()
		f := h1Fetcher(t, s.URL, func(tr *http.Transport) { tr.IdleConnTimeout = idle })
		if _, ok := f.client().Transport.(*h1Transport); !ok {
			t.Fatalf("transport %T, want *h1Transport", f.client().Transport)
		}
		for i := 0; i < 20; i++ {
			b, absent, err := f.FetchTile(context.Background(), TileKey{Level: 5, Row: i, Col: 3})
			if want := fmt.Sprintf("tile /tile/5/%d/3.png", i); err != nil || absent || string(b) != want {
				t.Fatalf("tile %d: %q absent %v err %v; want %q", i, b, absent, err, want)
			}
		}
		if n := s.conns.Load() - before; n != 1 {
			t.Fatalf("IdleConnTimeout %v: %d connections for 20 sequential tiles, want 1", idle, n)
		}
	}
}

// What the fast path does not send goes to the caller's transport: https,
// proxied URLs, transports asking for gzip or unencrypted HTTP/2, other
// methods.
func TestH1TransportFallsBack(t *testing.T) {
	if newH1Transport(&http.Transport{}) != nil {
		t.Error("transport with compression: want no fast path")
	}
	p := &http.Protocols{}
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	if newH1Transport(&http.Transport{DisableCompression: true, Protocols: p}) != nil {
		t.Error("transport with unencrypted HTTP/2: want no fast path")
	}
	if newH1Transport(&http.Transport{DisableCompression: true, DisableKeepAlives: true}) != nil {
		t.Error("transport without keep-alive: want no fast path")
	}
	if newH1Transport(&http.Transport{DisableCompression: true, MaxConnsPerHost: 4}) != nil {
		t.Error("transport with a connection limit: want no fast path")
	}
	h := newH1Transport(&http.Transport{DisableCompression: true})
	for _, tc := range []struct {
		method, url string
		direct      bool
	}{
		{"GET", "http://127.0.0.1:1/t.png", true},
		{"GET", "https://127.0.0.1:1/t.png", false},
		{"POST", "http://127.0.0.1:1/t.png", false},
		{"HEAD", "http://127.0.0.1:1/t.png", false},
	} {
		req, err := http.NewRequest(tc.method, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.direct(req); got != tc.direct {
			t.Errorf("%s %s: direct %v, want %v", tc.method, tc.url, got, tc.direct)
		}
	}

	// A proxy set on the transport gets the request (absolute URI).
	var seen atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.RequestURI)
		w.Write([]byte("via proxy"))
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	f := h1Fetcher(t, "http://tiles.invalid", func(tr *http.Transport) {
		tr.Proxy = http.ProxyURL(pu)
	})
	b, _, err := f.FetchTile(context.Background(), TileKey{Level: 1, Row: 0, Col: 1})
	if err != nil || string(b) != "via proxy" {
		t.Fatalf("proxied tile: %q, %v", b, err)
	}
	if got, _ := seen.Load().(string); got != "http://tiles.invalid/tile/1/0/1.png" {
		t.Fatalf("proxy saw %q, want the absolute tile URL", got)
	}
}

// The fast path keeps the redirect guard: the token reaches the trusted
// host only, also on redirects between plain-HTTP hosts.
func TestH1TransportGuardsRedirects(t *testing.T) {
	var other atomic.Value
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other.Store(r.URL.String())
		w.Write([]byte("cdn tile"))
	}))
	defer cdn.Close()
	trusted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cdn.URL+r.URL.Path+"?"+r.URL.RawQuery, http.StatusFound)
	}))
	defer trusted.Close()
	f := h1Fetcher(t, trusted.URL, nil)
	f.Tokens = staticSource{prefix: trusted.URL + "/", tok: leakToken}
	for i := 0; i < 3; i++ {
		b, _, err := f.FetchTile(context.Background(), TileKey{Level: 2, Row: i, Col: 0})
		if err != nil || string(b) != "cdn tile" {
			t.Fatalf("tile %d: %q, %v", i, b, err)
		}
		if u, _ := other.Load().(string); u == "" || strings.Contains(u, leakToken) {
			t.Fatalf("cdn request %q: want one without the token", u)
		}
	}
	if _, ok := f.client().Transport.(*h1Transport); !ok {
		t.Fatalf("transport %T, want *h1Transport", f.client().Transport)
	}
}

// A kept-alive connection the server closed meanwhile is replaced without
// failing the tile; an answer with Connection: close, or a body not read to
// its end, is not reused.
func TestH1TransportConnectionEnds(t *testing.T) {
	// One answer per connection, then the server hangs up without saying so.
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if req, err := http.ReadRequest(br); err == nil {
			answer(c, "tile "+req.URL.Path)
		}
	})
	f := h1Fetcher(t, s.URL, nil)
	for i := 0; i < 5; i++ {
		b, _, err := f.FetchTile(context.Background(), TileKey{Level: 4, Row: 1, Col: i})
		if want := fmt.Sprintf("tile /tile/4/1/%d.png", i); err != nil || string(b) != want {
			t.Fatalf("tile %d after a silent hang-up: %q, %v", i, b, err)
		}
	}

	// Connection: close is honoured (the server would not answer a second request).
	closing := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if req, err := http.ReadRequest(br); err == nil {
			answer(c, "tile "+req.URL.Path, "Connection: close")
		}
		io.Copy(io.Discard, br) // a second request on this connection is never answered
	})
	f = h1Fetcher(t, closing.URL, nil)
	for i := 0; i < 3; i++ {
		if _, _, err := f.FetchTile(context.Background(), TileKey{Level: 4, Row: 2, Col: i}); err != nil {
			t.Fatalf("tile %d: %v", i, err)
		}
	}
	if n := closing.conns.Load(); n != 3 {
		t.Fatalf("%d connections for 3 Connection: close answers, want 3", n)
	}

	// A body closed before its end closes the connection.
	keep := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if answer(c, strings.Repeat("x", 100)) != nil {
				return
			}
		}
	})
	f = h1Fetcher(t, keep.URL, nil)
	hc := f.client()
	for i := 0; i < 2; i++ {
		resp, err := hc.Get(keep.URL + "/tile/0/0/0.png")
		if err != nil {
			t.Fatal(err)
		}
		var p [10]byte
		io.ReadFull(resp.Body, p[:])
		resp.Body.Close()
	}
	if n := keep.conns.Load(); n != 2 {
		t.Fatalf("%d connections after two half-read bodies, want 2", n)
	}
}

// Cancelling the context ends a request waiting for its answer and one
// reading its body, with the context's error.
func TestH1TransportCancel(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(fmt.Sprintf("body=%v", partial), func(t *testing.T) {
			sent := make(chan struct{})
			hold := make(chan struct{})
			defer close(hold)
			s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				if partial {
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes")
				}
				close(sent)
				<-hold
			})
			f := h1Fetcher(t, s.URL, nil)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-sent
				cancel()
			}()
			_, _, err := f.FetchTile(ctx, TileKey{Level: 1, Row: 1, Col: 1})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err %v, want context.Canceled", err)
			}
		})
	}
}

// The transport's limits hold on the fast path: response header size and
// the wait for the header.
func TestH1TransportLimits(t *testing.T) {
	big := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Big: %s\r\nContent-Length: 2\r\n\r\nok", strings.Repeat("a", 64<<10))
	})
	f := h1Fetcher(t, big.URL, func(tr *http.Transport) {
		tr.MaxResponseHeaderBytes = 1 << 10
		tr.ReadBufferSize = 4 << 10
	})
	if _, _, err := f.FetchTile(context.Background(), TileKey{}); err == nil {
		t.Fatal("64 KB response header accepted with a 1 KB limit")
	}

	hold := make(chan struct{})
	defer close(hold)
	mute := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		<-hold
	})
	f = h1Fetcher(t, mute.URL, func(tr *http.Transport) { tr.ResponseHeaderTimeout = 50 * time.Millisecond })
	if _, _, err := f.FetchTile(context.Background(), TileKey{}); err == nil {
		t.Fatal("a server that never answers: want a timeout error")
	}

	// A kept-alive connection that times out is not retried on a new one.
	var answered atomic.Bool
	once := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if answered.Swap(true) {
				<-hold
				return
			}
			answer(c, "tile")
		}
	})
	f = h1Fetcher(t, once.URL, func(tr *http.Transport) { tr.ResponseHeaderTimeout = 50 * time.Millisecond })
	if _, _, err := f.FetchTile(context.Background(), TileKey{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.FetchTile(context.Background(), TileKey{}); err == nil {
		t.Fatal("second tile: want a timeout error")
	}
	if n := once.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 (a timeout is not retried)", n)
	}
}

// Chunked bodies, 1xx answers before the real one and bytes beyond the
// announced length are read as net/http reads them; the connection with
// stray bytes is not reused.
func TestH1TransportAnswers(t *testing.T) {
	var n atomic.Int32 // requests answered, over all connections
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			switch n.Add(1) {
			case 1:
				fmt.Fprintf(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
			case 2:
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokSTRAY")
			default:
				answer(c, "fresh")
			}
		}
	})
	f := h1Fetcher(t, s.URL, nil)
	for i, want := range []string{"hello world", "ok", "fresh"} {
		b, _, err := f.FetchTile(context.Background(), TileKey{})
		if err != nil || string(b) != want {
			t.Fatalf("tile %d: %q, %v; want %q", i, b, err, want)
		}
	}
	if n := s.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the one with stray bytes dropped)", n)
	}
}

// An idle connection is closed after the transport's IdleConnTimeout.
func TestH1TransportIdleTimeout(t *testing.T) {
	closed := make(chan struct{})
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				close(closed)
				return
			}
			answer(c, "tile")
		}
	})
	f := h1Fetcher(t, s.URL, func(tr *http.Transport) { tr.IdleConnTimeout = time.Millisecond })
	if _, _, err := f.FetchTile(context.Background(), TileKey{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("idle connection still open 10s after a 1ms idle timeout")
	}
}

// A connection watches the context of its requests; a cancel of that
// context after its requests ended leaves the idle connection usable:
// requests with a new context, or none, go on over it.
func TestH1TransportCancelledContextReused(t *testing.T) {
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if answer(c, "tile") != nil {
				return
			}
		}
	})
	f := h1Fetcher(t, s.URL, nil)
	ctx1, cancel1 := context.WithCancel(context.Background())
	for i := 0; i < 3; i++ {
		if _, _, err := f.FetchTile(ctx1, TileKey{}); err != nil {
			t.Fatal(err)
		}
	}
	cancel1()
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	for i := 0; i < 3; i++ {
		if b, _, err := f.FetchTile(ctx2, TileKey{}); err != nil || string(b) != "tile" {
			t.Fatalf("tile %d with a new context after a cancel: %q, %v", i, b, err)
		}
	}
	// And back to a context without cancel on the same connection.
	if _, _, err := f.FetchTile(context.Background(), TileKey{}); err != nil {
		t.Fatal(err)
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 (the cancel came while it was idle)", n)
	}
}

// Whatever a plain-HTTP tile server answers, the fast path returns (a tile,
// absent or an error) without panicking or hanging.
func FuzzH1Answer(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nuntil close"))
	f.Add([]byte("HTTP/1.1 302 Found\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"))
	tm, err := ParseTemplate("http://tiles.test/tile/{z}/{y}/{x}.png", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		tr := NewTransport(1)
		tr.ResponseHeaderTimeout = 5 * time.Second
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, s := net.Pipe()
			go func() {
				defer s.Close()
				if _, err := http.ReadRequest(bufio.NewReader(s)); err == nil {
					s.Write(answer)
				}
			}()
			return c, nil
		}
		hf := &HTTPFetcher{Client: &http.Client{Transport: tr}, Template: tm}
		defer hf.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b, absent, err := hf.FetchTile(ctx, TileKey{Level: 1})
		if ctx.Err() != nil {
			t.Fatalf("no result before the deadline (err %v)", err)
		}
		if err != nil && (len(b) > 0 || absent) {
			t.Fatalf("error %v with %d bytes, absent %v", err, len(b), absent)
		}
	})
}

// flipCtx is a context whose Err turns to Canceled once flipped (its Done
// is nil): it puts a cancel at an exact point between two checks.
type flipCtx struct {
	context.Context
	flipped *atomic.Bool
}

func (c flipCtx) Err() error {
	if c.flipped.Load() {
		return context.Canceled
	}
	return nil
}

// A cancel that lands while the answer's header is read ends the request
// at once: the body the server is still sending is not drained (that
// blocked until the server hung up).
func TestH1TransportCancelAfterHeader(t *testing.T) {
	var flipped, gaveUp atomic.Bool
	hold := make(chan struct{})
	defer close(hold)
	s := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		flipped.Store(true) // cancelled before the answer's header arrives
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nfirst bytes")
		select {
		case <-hold:
		case <-time.After(10 * time.Second):
			gaveUp.Store(true) // a client draining the body waits for this
		}
	})
	f := h1Fetcher(t, s.URL, nil) // NewTransport: a response header timeout is set
	_, _, err := f.FetchTile(flipCtx{Context: context.Background(), flipped: &flipped}, TileKey{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if gaveUp.Load() {
		t.Fatal("the request ended only when the server gave up")
	}
}
