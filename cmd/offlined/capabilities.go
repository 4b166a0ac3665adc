package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/offlined/offlined/internal/aoi"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
)

// runCapabilities prints which layers of a web map can go offline and how.
func runCapabilities(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, cf := clientFlagSet("capabilities", stderr)
	item := fs.String("item", "", "web map item id (on the daemon's portal, or on -portal without a daemon)")
	webmapURL := fs.String("webmap-url", "", "URL of a web map JSON document, asked through the daemon (instead of -item)")
	webmap := fs.String("webmap", "", "web map JSON, an http(s) URL or a file: examined here, with no daemon or portal")
	portal := fs.String("portal", "", "portal sharing REST URL: examine -item here, with no daemon")
	user := fs.String("user", "", "portal user name for -portal (password from $OFFLINED_PASSWORD); anonymous when empty")
	bbox := fs.String("bbox", "", "area of interest as WGS84 xmin,ymin,xmax,ymax: warns of layers whose extent it misses")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var area *arcgis.Geometry
	if *bbox != "" {
		g, err := aoi.ParseBBox(*bbox)
		if err != nil {
			return fmt.Errorf("-bbox: %w", err)
		}
		area = g
	}
	if *webmap != "" || *portal != "" {
		return localCapabilities(ctx, *webmap, *portal, *item, *user, *webmapURL, area, cf.json, stdout)
	}
	if (*item == "") == (*webmapURL == "") {
		return fmt.Errorf("-item: give exactly one of -item and -webmap-url (or -webmap to examine a web map without a daemon)")
	}
	d, err := cf.client()
	if err != nil {
		return err
	}
	src := map[string]string{"itemId": *item}
	if *webmapURL != "" {
		src = map[string]string{"webMapUrl": *webmapURL}
	}
	body := map[string]any{"source": src}
	if area != nil {
		body["areaOfInterest"] = area
	}
	var caps json.RawMessage
	if shown, err := d.show(ctx, stdout, "POST", "/api/v1/capabilities", body, &caps, map[string]string{"source": "-item", "source.itemId": "-item", "source.webMapUrl": "-webmap-url", "areaOfInterest": "-bbox"}); shown || err != nil {
		return err
	}
	return printCapabilities(stdout, caps)
}

// capabilityRow is what the capabilities table shows of a layer.
type capabilityRow struct {
	Title           string `json:"title"`
	Role            string `json:"role"`
	Method          string `json:"method"`
	SupportsOffline bool   `json:"supportsOffline"`
	Reason          string `json:"reason"`
}

// printCapabilities writes the capabilities (offline.Capabilities as JSON,
// from the daemon or the local task) as a table, then what is wrong.
func printCapabilities(w io.Writer, capsJSON []byte) error {
	var caps struct {
		HasErrors bool                   `json:"hasErrors"`
		Layers    []capabilityRow        `json:"layers"`
		Tables    []capabilityRow        `json:"tables"`
		Warnings  []offline.LayerWarning `json:"warnings"`
	}
	if err := json.Unmarshal(capsJSON, &caps); err != nil {
		return fmt.Errorf("capabilities: %w", err)
	}
	tw := newTable(w, "LAYER\tROLE\tMETHOD\tOFFLINE\tREASON")
	for _, l := range append(caps.Layers, caps.Tables...) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", l.Title, l.Role, l.Method, l.SupportsOffline, l.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if caps.HasErrors {
		fmt.Fprintln(w, "some layers can neither go offline nor stay online (see REASON)")
	}
	printLayerWarnings(w, caps.Warnings)
	return nil
}

// printLayerWarnings writes one line per warning.
func printLayerWarnings(w io.Writer, ws []offline.LayerWarning) {
	for _, lw := range ws {
		fmt.Fprintf(w, "warning (%s): %s\n", lw.Code, lw.Message)
	}
}

// localCapabilities runs the offline map task here, with no daemon: the web
// map comes from a file, a URL, or an item of -portal (anonymous unless
// -user is given), as take-offline reads it.
func localCapabilities(ctx context.Context, webmap, portal, item, user, webmapURL string, area *arcgis.Geometry, asJSON bool, stdout io.Writer) error {
	if webmapURL != "" {
		return errors.New("-webmap-url: asks the daemon; use -webmap URL to examine a web map here")
	}
	src := offline.Source{PortalURL: portal}
	switch {
	case item != "" && webmap != "":
		return errors.New("-item and -webmap: give one web map source, not both")
	case item != "":
		if portal == "" {
			return errors.New("-portal: required with -item when examining here")
		}
		src.ItemID = item
	case strings.HasPrefix(webmap, "http://") || strings.HasPrefix(webmap, "https://"):
		src.WebMapURL = webmap
	case webmap != "":
		if _, err := os.Stat(webmap); err != nil {
			return fmt.Errorf("-webmap: %w", err)
		}
		src.File = webmap
	default:
		return errors.New("-webmap or -item: a web map source is required")
	}
	var opts []arcgis.Option
	if user != "" {
		pw := os.Getenv("OFFLINED_PASSWORD")
		if pw == "" {
			return errors.New("-user: set the password in $OFFLINED_PASSWORD")
		}
		opts = append(opts, arcgis.WithCredential(&arcgis.UserCredential{Username: user, Password: pw}))
	}
	if portal != "" {
		opts = append(opts, arcgis.WithPortal(portal))
	}
	c, err := arcgis.New(opts...)
	if err != nil {
		return fmt.Errorf("-portal: %w", err)
	}
	var portalIf offline.Portal
	if portal != "" {
		portalIf = c
	}
	task, err := offline.NewTask(ctx, src, portalIf, c)
	if err != nil {
		return err
	}
	var params *offline.Parameters
	if area != nil {
		if params, err = task.CreateDefaultParameters(ctx, area, 0, 0); err != nil {
			return fmt.Errorf("-bbox: %w", err)
		}
	}
	caps, err := task.Capabilities(ctx, params)
	if err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, caps)
	}
	b, err := json.Marshal(caps)
	if err != nil {
		return err
	}
	return printCapabilities(stdout, b)
}
