package localapi

import (
	"context"
	"crypto/tls"
	"net"
	stdsync "sync"
)

// ConnLimiter caps the connections that have not yet carried an
// authenticated request, so clients without the token (slow headers, slow
// bodies) cannot use up the daemon's file descriptors: Accept waits while
// the cap is reached. A connection leaves the count when it closes or when
// a request on it passes authentication. Wire it with Listener and, on the
// http.Server, ConnContext.
type ConnLimiter struct {
	slots chan struct{}
}

// NewConnLimiter returns a limiter allowing n unauthenticated connections
// (n < 1: 1).
func NewConnLimiter(n int) *ConnLimiter {
	return &ConnLimiter{slots: make(chan struct{}, max(n, 1))}
}

// Listener wraps ln so that Accept takes a slot for each connection.
func (l *ConnLimiter) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, l: l, closed: make(chan struct{})}
}

// ConnContext records c's slot in ctx for the API's authentication to
// release (use it as http.Server.ConnContext).
func (l *ConnLimiter) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitConn); ok {
		return context.WithValue(ctx, limitConnKey{}, lc)
	}
	return ctx
}

type limitConnKey struct{}

// connAuthenticated releases the unauthenticated-connection slot of the
// request's connection, if it has one.
func connAuthenticated(ctx context.Context) {
	if lc, ok := ctx.Value(limitConnKey{}).(*limitConn); ok {
		lc.release()
	}
}

type limitListener struct {
	net.Listener
	l         *ConnLimiter
	closeOnce stdsync.Once
	closed    chan struct{}
}

// Accept waits for a free slot, then accepts a connection.
func (ll *limitListener) Accept() (net.Conn, error) {
	select {
	case ll.l.slots <- struct{}{}:
	case <-ll.closed:
		return nil, net.ErrClosed
	}
	c, err := ll.Listener.Accept()
	if err != nil {
		<-ll.l.slots
		return nil, err
	}
	return &limitConn{Conn: c, slots: ll.l.slots}, nil
}

// Close closes the listener and wakes a waiting Accept.
func (ll *limitListener) Close() error {
	ll.closeOnce.Do(func() { close(ll.closed) })
	return ll.Listener.Close()
}

type limitConn struct {
	net.Conn
	slots chan struct{}
	once  stdsync.Once
}

func (c *limitConn) release() { c.once.Do(func() { <-c.slots }) }

// Close closes the connection and frees its slot.
func (c *limitConn) Close() error {
	c.release()
	return c.Conn.Close()
}
