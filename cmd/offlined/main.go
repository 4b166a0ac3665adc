// Command offlined takes ArcGIS web maps offline on a field device, serves
// them to field apps and syncs their edits back. Run `offlined help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "offlined:", err)
		}
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(2)
	}
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"demo", "take the demo web map offline from the built-in emulator, edit and sync (no network needed)", runDemo},
		{"take-offline", "take a web map offline into a package directory", takeOfflineCommand("take-offline")},
		{"estimate", "estimate the size and time of take-offline with the same flags, per layer, before any download", takeOfflineCommand("estimate")},
		{"emulator", "run the ArcGIS REST emulator on a loopback port", runEmulator},
		{"serve", "run the daemon: the local API for field apps, jobs and background sync", runServe},
		{"login", "sign in to a portal and store tokens (never passwords) for the daemon", runLogin},
		{"logout", "forget a portal's stored credentials", runLogout},
		{"token", "print the API token field apps send as Authorization: Bearer", runToken},
		{"open", "open the daemon's page in a browser (prints a one-time sign-in link)", runOpen},
		{"status", "show the running daemon's status", runStatus},
		{"maps", "list the offline maps; maps add DIR registers a package, maps delete MAP deletes one", runMaps},
		{"replicas", "list the replicas the daemon knows (orphans too); replicas cleanup unregisters orphans", runReplicas},
		{"capabilities", "show which layers of a web map can go offline", runCapabilities},
		{"sync", "sync offline maps with their services now", runSync},
		{"conflicts", "list or resolve sync conflicts of an offline map", runConflicts},
	}
}

// run dispatches args to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: offlined <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}
