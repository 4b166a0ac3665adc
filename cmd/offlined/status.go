package main

import (
	"context"
	"fmt"
	"io"
	"sort"
)

// runStatus prints the daemon's status.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("status", stderr)
	d, err := cf.connect(fs, args)
	if err != nil {
		return err
	}
	var st map[string]any
	if shown, err := d.show(ctx, stdout, "GET", "/api/v1/status", nil, &st, nil); shown || err != nil {
		return err
	}
	fmt.Fprintf(stdout, "offlined %v at %s, up %vs\n", st["version"], d.base, st["uptimeSeconds"])
	fmt.Fprintf(stdout, "maps: %v   portal: %v   jobs: %v   sync: %v   replicas waiting to be unregistered: %v\n",
		st["maps"], onOff(st["portal"]), onOff(st["jobs"]), onOff(st["sync"]), st["pendingUnregister"])
	if js, ok := st["jobStates"].(map[string]any); ok && len(js) > 0 {
		var keys []string
		for k := range js {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprint(stdout, "jobs:")
		for _, k := range keys {
			fmt.Fprintf(stdout, " %s=%v", k, js[k])
		}
		fmt.Fprintln(stdout)
	}
	return nil
}

func onOff(v any) string {
	if v == true {
		return "on"
	}
	return "off"
}
