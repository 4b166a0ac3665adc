package main

import (
	"context"
	"fmt"
	"io"
)

// runReplicas lists the replicas the daemon knows — of registered maps,
// orphaned (package directory removed by hand) and queued for
// unregistration; "replicas cleanup" unregisters the orphans.
func runReplicas(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args := cutSubcommand(args, "cleanup")
	fs, cf := usageFlagSet("replicas", stderr,
		"usage: offlined replicas [flags]          list replicas (registered, orphaned, unregistering)",
		"       offlined replicas cleanup [flags]  unregister the replicas of packages removed by hand")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("replicas: unexpected argument %q (offlined replicas, offlined replicas cleanup)", fs.Arg(0))
	}
	d, err := cf.client()
	if err != nil {
		return err
	}
	if sub == "cleanup" {
		var res struct {
			Queued            int `json:"queued"`
			PendingUnregister int `json:"pendingUnregister"`
		}
		if shown, err := d.show(ctx, stdout, "POST", "/api/v1/replicas/cleanup", nil, &res, nil); shown || err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d orphaned replicas queued for unregistration; %d still queued (retried while the daemon runs)\n", res.Queued, res.PendingUnregister)
		return nil
	}
	var res struct {
		Replicas []struct {
			MapID      string `json:"mapId"`
			Service    string `json:"service"`
			ServiceURL string `json:"serviceUrl"`
			ReplicaID  string `json:"replicaId"`
			State      string `json:"state"`
		} `json:"replicas"`
	}
	if shown, err := d.show(ctx, stdout, "GET", "/api/v1/replicas", nil, &res, nil); shown || err != nil {
		return err
	}
	tw := newTable(stdout, "STATE\tMAP\tSERVICE\tREPLICA\tSERVICE URL")
	orphans := 0
	for _, r := range res.Replicas {
		if r.State == "orphaned" {
			orphans++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.State, dash(r.MapID), dash(r.Service), r.ReplicaID, r.ServiceURL)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if orphans > 0 {
		fmt.Fprintf(stdout, "%d orphaned (package removed by hand): offlined replicas cleanup unregisters them\n", orphans)
	}
	return nil
}

// dash is s, or "-" when empty.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
