package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"

	offlinedd "github.com/offlined/offlined/internal/daemon"
	"github.com/offlined/offlined/internal/demo"
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

// serveDemo serves the demo package alone over the local API on addr
// until ctx ends (internal/daemon's PackageServer).
func serveDemo(ctx context.Context, dir, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	ps := &offlinedd.PackageServer{ID: "demo", Dir: dir, Ready: func(s offlinedd.ServedPackage) {
		fmt.Fprintf(stdout, "Serving the package on %s/api/v1/maps (Authorization: Bearer %s); Ctrl-C to stop\n", s.BaseURL, s.Token)
		fmt.Fprintf(stdout, "The page: %s%s (a one-time link, valid two minutes; later: offlined open -data %s)\n", s.BaseURL, s.PageLink, s.DataRoot)
	}}
	if err := ps.Serve(ctx, ln); err != nil {
		return fmt.Errorf("--serve: %w", err)
	}
	return nil
}
