package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/offlined/offlined/internal/httpserve"

	offlinedd "github.com/offlined/offlined/internal/daemon"
	"github.com/offlined/offlined/internal/demo"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/localapi/featureserver"
)

// runDemo runs the end-to-end demonstration (see internal/demo).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	dir := fs.String("dir", "", "output directory for the offline map package (empty or absent; default: a new temporary directory)")
	minScale := fs.Float64("min-scale", 150000, "most zoomed-out scale of the basemap tiles (1:N)")
	maxScale := fs.Float64("max-scale", 10000, "most zoomed-in scale of the basemap tiles (1:N)")
	noSync := fs.Bool("no-sync", false, "skip the local edit and sync step")
	noProgress := fs.Bool("no-progress", false, "do not draw the progress bar")
	serve := fs.Bool("serve", false, "afterwards, serve the package over the local API until interrupted")
	addr := fs.String("addr", "127.0.0.1:8086", "local API listen address for --serve (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo: unexpected argument %q", fs.Arg(0))
	}
	if *minScale < 0 {
		return fmt.Errorf("--min-scale: %g is negative", *minScale)
	}
	if *maxScale < 0 {
		return fmt.Errorf("--max-scale: %g is negative", *maxScale)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "offlined-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	if _, err := demo.Run(ctx, demo.Options{Dir: *dir, MinScale: *minScale, MaxScale: *maxScale, NoSync: *noSync,
		Progress: !*noProgress, Out: stdout}); err != nil {
		return err
	}
	if !*serve {
		return nil
	}
	return serveDemo(ctx, *dir, *addr, stdout)
}

// serveDemo registers the demo package in a fresh local API registry and
// serves it until ctx ends.
func serveDemo(ctx context.Context, dir, addr string, stdout io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "offlined-demo-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	reg, err := offlinedd.OpenRegistry(root, offlinedd.RegistryOptions{})
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := os.Symlink(abs, reg.Dir("demo")); err != nil {
		return fmt.Errorf("--serve: %w", err)
	}
	if err := reg.Register("demo"); err != nil {
		return fmt.Errorf("--serve: %w", err)
	}
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	api, err := localapi.New(localapi.Options{Token: token, Maps: reg})
	if err != nil {
		return err
	}
	featureserver.Register(api)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	// The same connection cap and timeouts as serve (see there).
	limiter := localapi.NewConnLimiter(offlinedd.MaxUnauthConns)
	ln = limiter.Listener(ln)
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute, ConnContext: limiter.ConnContext}
	fmt.Fprintf(stdout, "Serving the package on http://%s/api/v1/maps (Authorization: Bearer %s); Ctrl-C to stop\n", ln.Addr(), token)
	fmt.Fprintf(stdout, "The page: http://%s%s (a one-time link, valid two minutes; later: offlined open -data %s)\n", ln.Addr(), api.NewPageLink(), root)
	return httpserve.Serve(ctx, srv, ln)
}
