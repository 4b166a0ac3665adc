package localapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/offlined/offlined/internal/arcgis"
	editsync "github.com/offlined/offlined/sync"
)

// NeedsAuth says that a service refused the credentials offlined has for
// it (none, for a service that was public: it answered token required or
// invalid token, 499/498, or HTTP 401/403). The map's other services keep
// syncing; edits of this one are kept until the command is run.
type NeedsAuth struct {
	// Service is the feature service URL.
	Service string `json:"service"`
	// Command signs in for the service (then sync again).
	Command string `json:"command"`
}

// NeedsAuthOf returns the NeedsAuth of a failed sync of the store behind
// eng, nil when err is not an authentication failure.
func NeedsAuthOf(ctx context.Context, eng *editsync.Engine, err error) *NeedsAuth {
	if err == nil || !errors.Is(err, editsync.ErrNeedsAuth) {
		return nil
	}
	cfg, cerr := editsync.LoadConfig(ctx, eng.DB())
	if cerr != nil {
		return &NeedsAuth{Command: "offlined login -server <server URL> -user <name>"}
	}
	return &NeedsAuth{Service: cfg.ServiceURL, Command: LoginCommand(cfg.ServiceURL)}
}

// LoginCommand is the command that signs in for the service at
// serviceURL: a sign-in to its server (its own generateToken, or an API
// key for its host). A portal sign-in (offlined login -portal) covers
// the services the portal hosts.
func LoginCommand(serviceURL string) string {
	root := arcgis.ServerRoot(serviceURL)
	if root == "" {
		root = serviceURL
	}
	return fmt.Sprintf("offlined login -server %s -user <name> (or -api-key-file <file>)", root)
}
