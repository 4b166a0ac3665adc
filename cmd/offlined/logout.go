package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/offlined/offlined/internal/config"
)

// runLogout forgets the stored credentials of a portal.
func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("logout", stderr)
	portal := fs.String("portal", "", "portal URL (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *portal == "" {
		return fmt.Errorf("-portal: required")
	}
	p := config.NormalizePortal(*portal)
	if !strings.HasSuffix(p, "/sharing/rest") {
		p += "/sharing/rest"
	}
	removed, err := config.RemoveCredential(cf.root(), p)
	if err != nil {
		return fmt.Errorf("-data: %w", err)
	}
	if !removed {
		return fmt.Errorf("-portal: no credentials stored for %s", p)
	}
	if cf.json {
		return printJSON(stdout, map[string]any{"portal": p, "removed": true})
	}
	fmt.Fprintf(stdout, "signed out of %s (restart the daemon to drop its session)\n", p)
	return nil
}
