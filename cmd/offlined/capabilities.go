package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
)

// runCapabilities prints which layers of a web map can go offline and how.
func runCapabilities(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("capabilities", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := registerClientFlags(fs)
	item := fs.String("item", "", "web map item id on the daemon's portal")
	webmapURL := fs.String("webmap-url", "", "URL of a web map JSON document (instead of -item)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*item == "") == (*webmapURL == "") {
		return fmt.Errorf("-item: give exactly one of -item and -webmap-url")
	}
	d, err := cf.client()
	if err != nil {
		return err
	}
	src := map[string]string{"itemId": *item}
	if *webmapURL != "" {
		src = map[string]string{"webMapUrl": *webmapURL}
	}
	var caps struct {
		HasErrors bool             `json:"hasErrors"`
		Layers    []map[string]any `json:"layers"`
		Tables    []map[string]any `json:"tables"`
	}
	if err := d.call(ctx, "POST", "/api/v1/capabilities", map[string]any{"source": src}, &caps); err != nil {
		return flagError(err, map[string]string{"source": "-item", "source.itemId": "-item", "source.webMapUrl": "-webmap-url"})
	}
	if cf.json {
		return printJSON(stdout, caps)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LAYER\tROLE\tMETHOD\tOFFLINE\tREASON")
	for _, l := range append(caps.Layers, caps.Tables...) {
		reason, _ := l["reason"].(string)
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%s\n", l["title"], l["role"], l["method"], l["supportsOffline"], reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if caps.HasErrors {
		fmt.Fprintln(stdout, "some layers can neither go offline nor stay online (see REASON)")
	}
	return nil
}
