package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
)

// runConflicts lists an offline map's conflicts or resolves one.
func runConflicts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("conflicts", stderr)
	mapID := fs.String("map", "", "offline map (required)")
	resolve := fs.String("resolve", "", "conflict id to resolve (<service>:<n>)")
	choice := fs.String("choice", "", "with -resolve: device or server")
	pending := fs.Bool("pending", false, "list only conflicts held for review")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mapID == "" {
		return fmt.Errorf("-map: required")
	}
	if *resolve != "" && *choice != "device" && *choice != "server" {
		return fmt.Errorf("-choice: must be device or server")
	}
	if *resolve == "" && *choice != "" {
		return fmt.Errorf("-choice: needs -resolve")
	}
	d, err := cf.client()
	if err != nil {
		return err
	}
	fields := map[string]string{"map": "-map", "conflict": "-resolve", "choice": "-choice"}
	base := "/api/v1/maps/" + url.PathEscape(*mapID) + "/conflicts"
	if *resolve != "" {
		var res map[string]any
		if shown, err := d.show(ctx, stdout, "POST", base+"/"+url.PathEscape(*resolve)+"/resolve", map[string]string{"choice": *choice}, &res, fields); shown || err != nil {
			return err
		}
		fmt.Fprintf(stdout, "conflict %s resolved for the %s (sent at the next sync)\n", *resolve, *choice)
		return nil
	}
	q := ""
	if *pending {
		q = "?resolution=pending"
	}
	var res struct {
		Conflicts []map[string]any `json:"conflicts"`
	}
	if shown, err := d.show(ctx, stdout, "GET", base+q, nil, &res, fields); shown || err != nil {
		return err
	}
	tw := newTable(stdout, "ID\tTABLE\tGLOBALID\tLOCAL\tSERVER\tRESOLUTION\tDETECTED")
	for _, c := range res.Conflicts {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%v\t%v\n", c["id"], c["table"], c["globalId"], c["localOp"], c["serverOp"], c["resolution"], c["detectedAt"])
	}
	return tw.Flush()
}
