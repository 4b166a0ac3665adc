package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/httpserve"

	"github.com/offlined/offlined/internal/emulator"
)

// runEmulator serves the ArcGIS REST emulator until ctx is cancelled.
func runEmulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("emulator", stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "listen address")
	lifetime := fs.Duration("token-lifetime", 60*time.Minute, "lifetime of issued tokens (e.g. 30s to exercise renewal)")
	anonymous := fs.Bool("anonymous", false, "accept requests without a token")
	seed := fs.Int64("seed", 1, "seed of the generated data")
	public := fs.String("public", "", "comma-separated feature services open to requests without a token (query, applyEdits, createReplica, synchronizeReplica), e.g. Field_Survey,Reference_Data")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var publicServices []string
	known := map[string]bool{}
	for _, o := range emulator.DemoFeatureServices() {
		known[o.Name] = true
	}
	for _, n := range strings.Split(*public, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !known[n] {
			return fmt.Errorf("--public: no feature service %q in the emulator", n)
		}
		publicServices = append(publicServices, n)
	}
	if *lifetime <= 0 {
		return fmt.Errorf("--token-lifetime must be positive, got %s", *lifetime)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	em := emulator.New(emulator.Options{TokenLifetime: *lifetime, Anonymous: *anonymous, Seed: *seed, PublicServices: publicServices})
	srv := &http.Server{Handler: em, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprint(stdout, em.Summary("http://"+ln.Addr().String()))
	return httpserve.Serve(ctx, srv, ln)
}
