package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
)

// runMaps lists the offline maps; "maps add DIR" registers a package
// directory with the running daemon and "maps delete MAP" (or -delete MAP)
// deletes a map, unregistering its replicas.
func runMaps(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	sub, args := cutSubcommand(args, "add", "delete")
	fs, cf := usageFlagSet("maps", stderr,
		"usage: offlined maps [flags]            list the offline maps",
		"       offlined maps add [flags] DIR    register a package directory (made by take-offline) with the daemon",
		"       offlined maps delete [flags] MAP delete a map and unregister its replicas")
	del := fs.String("delete", "", "delete this offline map (its replicas are unregistered)")
	id := fs.String("id", "", "with add: the map id (default: the directory's name)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case sub == "add" && fs.NArg() != 1:
		return fmt.Errorf("maps add: give one package directory (offlined maps add DIR)")
	case sub == "delete" && fs.NArg() != 1:
		return fmt.Errorf("maps delete: give one map id (offlined maps delete MAP)")
	case sub == "" && fs.NArg() != 0:
		return fmt.Errorf("maps: unexpected argument %q (offlined maps add DIR, offlined maps delete MAP)", fs.Arg(0))
	}
	if sub == "delete" {
		*del = fs.Arg(0)
	}
	d, err := cf.client()
	if err != nil {
		return err
	}
	if sub == "add" {
		dir, err := filepath.Abs(fs.Arg(0))
		if err != nil {
			return err
		}
		var res struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		if shown, err := d.show(ctx, stdout, "POST", "/api/v1/maps", map[string]string{"dir": dir, "id": *id}, &res, map[string]string{"dir": "DIR", "id": "-id"}); shown || err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", res.ID, res.Title)
		return nil
	}
	if *del != "" {
		var res map[string]any
		if err := d.call(ctx, "DELETE", "/api/v1/maps/"+url.PathEscape(*del), nil, &res); err != nil {
			name := "-delete"
			if sub == "delete" {
				name = "MAP"
			}
			return flagError(err, map[string]string{"map": name})
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
	if shown, err := d.show(ctx, stdout, "GET", "/api/v1/maps", nil, &res, nil); shown || err != nil {
		return err
	}
	tw := newTable(stdout, "ID\tTITLE\tLAYERS\tTILE LAYERS\tCOMPLETE")
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
