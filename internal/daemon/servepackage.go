package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/localapi/featureserver"
)

// PackageServer serves one package directory alone over the local API, as
// offlined demo --serve does: no portal, jobs or sync, the daemon's
// connection cap, timeouts and shutdown.
type PackageServer struct {
	// ID is the map's id in the API (e.g. "demo").
	ID string
	// Dir is the package directory.
	Dir string
	// Logger receives the server's log lines (nil: discarded).
	Logger *slog.Logger
	// Ready, when set, is called once the API serves.
	Ready func(ServedPackage)
}

// ServedPackage is what a client needs to reach a served package.
type ServedPackage struct {
	// BaseURL is the API's base URL (http://host:port).
	BaseURL string
	// Token is the API token (Authorization: Bearer), random per run.
	Token string
	// PageLink is a one-time path signing a browser in to the page.
	PageLink string
	// DataRoot is the temporary data root, removed when Serve returns.
	DataRoot string
}

// Serve links the package into a fresh registry in a temporary data root
// and serves the API on ln until ctx ends. ln is closed when Serve returns.
func (p *PackageServer) Serve(ctx context.Context, ln net.Listener) error {
	defer ln.Close()
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(p.Dir)
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "offlined-demo-api-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	reg, err := OpenRegistry(root, RegistryOptions{Logger: log})
	if err != nil {
		return err
	}
	defer reg.Close()
	if err := os.Symlink(abs, reg.Dir(p.ID)); err != nil {
		return fmt.Errorf("package %s: %w", p.Dir, err)
	}
	if err := reg.Register(p.ID); err != nil {
		return fmt.Errorf("package %s: %w", p.Dir, err)
	}
	var b [16]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	api, err := localapi.New(localapi.Options{Token: token, Maps: reg, Logger: log})
	if err != nil {
		return err
	}
	featureserver.Register(api)
	limiter := localapi.NewConnLimiter(MaxUnauthConns)
	hs := newHTTPService(api, limiter.Listener(ln), limiter, "http://"+ln.Addr().String(), log)
	if p.Ready != nil {
		p.Ready(ServedPackage{BaseURL: hs.base, Token: token, PageLink: api.NewPageLink(), DataRoot: root})
	}
	return hs.Serve(ctx)
}
