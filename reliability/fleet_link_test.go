package reliability

// The fleet harness's per-device link: a loopback TCP proxy between one
// daemon and the emulator that the harness cuts and restores. The daemon
// only knows the proxy's address (its portal URL and replica URLs name it;
// the emulator builds URLs from the Host header), so a cut is, to the
// device, the network going away mid-request.

import (
	"io"
	"net"
	stdsync "sync"
	"testing"
)

// linkProxy forwards TCP connections from its own loopback port to target
// while up; Cut closes every open connection and refuses new ones.
type linkProxy struct {
	ln     net.Listener
	target string

	mu    stdsync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	wg    stdsync.WaitGroup
}

// startLink listens on a fresh loopback port until the test ends.
func startLink(t testing.TB, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's host:port.
func (p *linkProxy) Addr() string { return p.ln.Addr().String() }

func (p *linkProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// track registers c unless the link is down.
func (p *linkProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *linkProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *linkProxy) serve(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		p.untrack(c)
		return
	}
	if !p.track(u) {
		u.Close()
		p.untrack(c)
		return
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
	p.untrack(c, u) // unblocks the other copy
	<-done
}

// Cut drops every open connection and refuses new ones until Restore.
func (p *linkProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Restore lets connections through again.
func (p *linkProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

func (p *linkProxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}
