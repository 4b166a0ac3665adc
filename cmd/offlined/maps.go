package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
)

// runMaps lists the offline maps (or deletes one with -delete).
func runMaps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("maps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := registerClientFlags(fs)
	del := fs.String("delete", "", "delete this offline map (its replicas are unregistered)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := cf.client()
	if err != nil {
		return err
	}
	if *del != "" {
		var res map[string]any
		if err := d.call(ctx, "DELETE", "/api/v1/maps/"+url.PathEscape(*del), nil, &res); err != nil {
			return flagError(err, map[string]string{"map": "-delete"})
		}
		if cf.json {
			return printJSON(stdout, res)
		}
		fmt.Fprintf(stdout, "deleted %s\n", *del)
		return nil
	}
	var res struct {
		Maps []struct {
			ID         string   `json:"id"`
			Title      string   `json:"title"`
			Complete   bool     `json:"complete"`
			Services   []string `json:"services"`
			Layers     []any    `json:"layers"`
			TileLayers []string `json:"tileLayers"`
			Broken     bool     `json:"broken"`
			Problems   []string `json:"problems,omitempty"`
		} `json:"maps"`
	}
	if err := d.call(ctx, "GET", "/api/v1/maps", nil, &res); err != nil {
		return err
	}
	if cf.json {
		return printJSON(stdout, res)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTITLE\tLAYERS\tTILE LAYERS\tCOMPLETE")
	for _, m := range res.Maps {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%v\n", m.ID, m.Title, len(m.Layers), len(m.TileLayers), m.Complete)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, m := range res.Maps {
		for _, p := range m.Problems {
			fmt.Fprintf(stdout, "broken: %s\n", p)
		}
	}
	return nil
}
