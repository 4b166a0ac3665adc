// Package httpserve runs an HTTP server until its context ends, for the
// commands that serve something in the foreground (the emulator, the demo,
// benchmark servers).
package httpserve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownGrace is how long Serve waits for requests in flight once ctx
// ends.
const ShutdownGrace = 5 * time.Second

// Serve serves srv on ln until ctx ends, then shuts it down (within
// ShutdownGrace) and returns the shutdown's error; a server that stops
// by itself returns its error, naming the address.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
		defer cancel()
		err := srv.Shutdown(sctx)
		<-errc // Serve has returned http.ErrServerClosed
		return err
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
}
