package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/demo"
	"github.com/offlined/offlined/offline"
)

// runTakeOffline takes a web map offline into a package directory. Running
// it again with the same arguments on the same directory resumes an
// interrupted job.
func runTakeOffline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return takeOffline(ctx, "take-offline", args, stdout, stderr)
}

// takeOffline is take-offline, or with cmd "estimate" the estimate alone
// (runEstimate).
func takeOffline(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	portal := fs.String("portal", "", "portal sharing REST URL, e.g. https://www.arcgis.com/sharing/rest (needed with --item and --user)")
	item := fs.String("item", "", "web map item id on the portal")
	webmap := fs.String("webmap", "", "web map JSON: an http(s) URL or a file")
	dir := fs.String("dir", "", "output directory (empty or absent; the same directory resumes an interrupted job)")
	bbox := fs.String("bbox", "", "area of interest as WGS84 xmin,ymin,xmax,ymax")
	aoiFile := fs.String("aoi", "", "area of interest file: GeoJSON (Polygon, MultiPolygon, Feature, FeatureCollection) or Esri JSON geometry")
	minScale := fs.Float64("min-scale", 0, "most zoomed-out scale for tiles (1:N, 0 = unbounded)")
	maxScale := fs.Float64("max-scale", 0, "most zoomed-in scale for tiles (1:N, 0 = unbounded)")
	paramsFile := fs.String("params", "", "JSON file of parameters applied over the defaults")
	overridesFile := fs.String("overrides", "", "JSON file of overrides used instead of the generated ones")
	includeBasemap := fs.Bool("include-basemap", true, "take the basemap")
	refDir := fs.String("reference-basemap-dir", "", "directory holding a basemap file already on the device")
	refFile := fs.String("reference-basemap-file", "", "basemap file name in --reference-basemap-dir (.mbtiles, .tpkx, .vtpk)")
	onlineOnly := fs.String("online-only", "", "layers that cannot go offline: include, exclude or useAuthoredSettings")
	updateMode := fs.String("update-mode", "", "syncWithFeatureServices or noUpdates")
	defFilter := fs.Bool("definition-filter", true, "apply layers' definition expressions")
	tableRows := fs.String("table-rows", "", "destination table rows: relatedOnly or all")
	continueOnErrors := fs.Bool("continue-on-errors", true, "keep going when a layer fails")
	attachments := fs.String("attachments", "", "attachments to take: none, allLayers, readOnlyLayers or editableLayers")
	attachmentSync := fs.String("attachment-sync", "", "attachment sync direction: none, upload or bidirectional")
	schemaOnly := fs.Bool("schema-only-editable", false, "take editable layers without features")
	title := fs.String("title", "", "title of the offline map")
	user := fs.String("user", "", "portal user name (password from $OFFLINED_PASSWORD)")
	token := fs.String("token", "", "ArcGIS token")
	apiKey := fs.String("api-key", "", "ArcGIS API key")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	abandon := fs.Bool("abandon", false, "give up the interrupted job in --dir: unregister its replicas and remove its partial files")
	maxSize := fs.String("max-size", "", "storage budget of the package, e.g. 2GB or 500MB: over it the job refuses to start and proposes what fits")
	overBudget := fs.Bool("over-budget", false, "start the job even when its estimate is over --max-size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *dir == "" && cmd != "estimate" {
		return errors.New("--dir: the output directory is required")
	}
	if *abandon {
		cred, err := credential(*user, *token, *apiKey, *portal)
		if err != nil {
			return err
		}
		opts := []arcgis.Option{arcgis.WithCredential(cred)}
		if *portal != "" {
			opts = append(opts, arcgis.WithPortal(*portal))
		}
		c, err := arcgis.New(opts...)
		if err != nil {
			return fmt.Errorf("--portal: %w", err)
		}
		if err := offline.AbandonJob(ctx, *dir, c); err != nil {
			return fmt.Errorf("--abandon: %w", err)
		}
		fmt.Fprintf(stdout, "abandoned the job in %s\n", *dir)
		return nil
	}
	src := offline.Source{PortalURL: *portal}
	switch {
	case *item != "" && *webmap != "":
		return errors.New("--item and --webmap: give one web map source, not both")
	case *item != "":
		if *portal == "" {
			return errors.New("--portal: required with --item")
		}
		src.ItemID = *item
	case strings.HasPrefix(*webmap, "http://") || strings.HasPrefix(*webmap, "https://"):
		src.WebMapURL = *webmap
	case *webmap != "":
		if _, err := os.Stat(*webmap); err != nil {
			return fmt.Errorf("--webmap: %w", err)
		}
		src.File = *webmap
	default:
		return errors.New("--item or --webmap: a web map source is required")
	}
	var area *arcgis.Geometry
	switch {
	case *bbox != "" && *aoiFile != "":
		return errors.New("--bbox and --aoi: give one area, not both")
	case *bbox != "":
		g, err := parseBBox(*bbox)
		if err != nil {
			return fmt.Errorf("--bbox: %w", err)
		}
		area = g
	case *aoiFile != "":
		g, err := readAOI(*aoiFile)
		if err != nil {
			return fmt.Errorf("--aoi: %w", err)
		}
		area = g
	default:
		return errors.New("--bbox or --aoi: an area of interest is required")
	}
	if *minScale < 0 {
		return fmt.Errorf("--min-scale: %g is negative", *minScale)
	}
	if *maxScale < 0 {
		return fmt.Errorf("--max-scale: %g is negative", *maxScale)
	}
	cred, err := credential(*user, *token, *apiKey, *portal)
	if err != nil {
		return err
	}
	opts := []arcgis.Option{arcgis.WithCredential(cred)}
	if *portal != "" {
		opts = append(opts, arcgis.WithPortal(*portal))
	}
	c, err := arcgis.New(opts...)
	if err != nil {
		return fmt.Errorf("--portal: %w", err)
	}
	var portalIf offline.Portal
	if *portal != "" {
		portalIf = c
	}
	task, err := offline.NewTask(ctx, src, portalIf, c)
	if err != nil {
		return err
	}
	p, err := task.CreateDefaultParameters(ctx, area, *minScale, *maxScale)
	if err != nil {
		return err
	}
	if *paramsFile != "" {
		b, err := os.ReadFile(*paramsFile)
		if err != nil {
			return fmt.Errorf("--params: %w", err)
		}
		if err := json.Unmarshal(b, p); err != nil {
			return fmt.Errorf("--params: %w", err)
		}
	}
	enum := func(flagName, v string, allowed []string, dst func(string)) error {
		if v == "" {
			return nil
		}
		for _, a := range allowed {
			if v == a {
				dst(v)
				return nil
			}
		}
		return fmt.Errorf("--%s: %q is not one of %s", flagName, v, strings.Join(allowed, ", "))
	}
	for _, e := range []error{
		enum("online-only", *onlineOnly, []string{"include", "exclude", "useAuthoredSettings"}, func(v string) { p.OnlineOnlyServicesOption = offline.OnlineOnlyOption(v) }),
		enum("update-mode", *updateMode, []string{"syncWithFeatureServices", "noUpdates"}, func(v string) { p.UpdateMode = offline.UpdateMode(v) }),
		enum("table-rows", *tableRows, []string{"relatedOnly", "all"}, func(v string) { p.DestinationTableRowFilter = offline.RowFilter(v) }),
		enum("attachments", *attachments, []string{"none", "allLayers", "readOnlyLayers", "editableLayers"}, func(v string) { p.ReturnLayerAttachmentOption = offline.AttachmentOption(v) }),
		enum("attachment-sync", *attachmentSync, []string{"none", "upload", "bidirectional"}, func(v string) { p.AttachmentSyncDirection = offline.AttachmentSyncDirection(v) }),
	} {
		if e != nil {
			return e
		}
	}
	if set["include-basemap"] {
		p.IncludeBasemap = *includeBasemap
	}
	if set["definition-filter"] {
		p.DefinitionExpressionFilterEnabled = *defFilter
	}
	if set["continue-on-errors"] {
		p.ContinueOnErrors = *continueOnErrors
	}
	if set["schema-only-editable"] {
		p.ReturnSchemaOnlyForEditableLayers = *schemaOnly
	}
	if (*refDir == "") != (*refFile == "") {
		return errors.New("--reference-basemap-dir and --reference-basemap-file: give both")
	}
	if *refDir != "" {
		p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = *refDir, *refFile
	}
	if *title != "" {
		if p.ItemInfo == nil {
			p.ItemInfo = &offline.ItemInfo{}
		}
		p.ItemInfo.Title = *title
	}
	var o *offline.Overrides
	if *overridesFile != "" {
		b, err := os.ReadFile(*overridesFile)
		if err != nil {
			return fmt.Errorf("--overrides: %w", err)
		}
		o = &offline.Overrides{}
		if err := json.Unmarshal(b, o); err != nil {
			return fmt.Errorf("--overrides: %w", err)
		}
	} else if o, err = task.CreateOverrides(ctx, p); err != nil {
		return err
	}
	if *maxSize != "" {
		if p.MaxBytes, err = parseSize(*maxSize); err != nil {
			return fmt.Errorf("--max-size: %w", err)
		}
	}
	if set["over-budget"] {
		p.AllowOverBudget = *overBudget
	}
	est, estErr := task.Estimate(ctx, p, o, offline.EstimateOptions{Client: c})
	if cmd == "estimate" {
		return printEstimate(stdout, est, estErr, *asJSON, *dir)
	}
	switch {
	case estErr != nil:
		fmt.Fprintf(stderr, "no estimate: %v\n", estErr)
	case !*asJSON:
		fmt.Fprintln(stdout, "Estimate:")
		offline.WriteEstimateTable(stdout, est, "   ")
	}
	jo := offline.JobOptions{Client: c, Estimate: est}
	var finish func(offline.Progress)
	if !*asJSON {
		jo.Progress, finish = demo.NewProgressBar(stderr)
	}
	job := task.NewJob(p, o, *dir, jo)
	res, runErr := job.Run(ctx)
	if finish != nil {
		finish(job.Progress())
	}
	if *asJSON {
		if res == nil {
			return runErr
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", " ")
		if err := enc.Encode(res); err != nil {
			return err
		}
		return runErr
	}
	if res != nil {
		demo.PrintResult(stdout, res, *dir)
	}
	return runErr
}

func credential(user, token, apiKey, portal string) (arcgis.Credential, error) {
	n := 0
	for _, s := range []string{user, token, apiKey} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("--user, --token and --api-key: give at most one")
	}
	switch {
	case user != "":
		pw := os.Getenv("OFFLINED_PASSWORD")
		if pw == "" {
			return nil, errors.New("--user: set the password in $OFFLINED_PASSWORD")
		}
		if portal == "" {
			return nil, errors.New("--user: needs --portal (tokens come from its generateToken)")
		}
		return &arcgis.UserCredential{Username: user, Password: pw}, nil
	case token != "":
		return arcgis.StaticToken(token), nil
	case apiKey != "":
		return arcgis.APIKey(apiKey), nil
	}
	return arcgis.Anonymous(), nil
}

// parseBBox reads "xmin,ymin,xmax,ymax" in WGS84 (xmin > xmax crosses the
// antimeridian).
func parseBBox(s string) (*arcgis.Geometry, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return nil, fmt.Errorf("want xmin,ymin,xmax,ymax, got %q", s)
	}
	v := make([]float64, 4)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		v[i] = f
	}
	if v[1] >= v[3] {
		return nil, fmt.Errorf("ymin %g must be below ymax %g", v[1], v[3])
	}
	return &arcgis.Geometry{XMin: &v[0], YMin: &v[1], XMax: &v[2], YMax: &v[3], SpatialReference: &arcgis.SpatialReference{WKID: 4326}}, nil
}

// readAOI reads an area file: GeoJSON (WGS84) or an Esri JSON geometry.
func readAOI(path string) (*arcgis.Geometry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseAOI(b)
}

func parseAOI(b []byte) (*arcgis.Geometry, error) {
	var probe struct {
		Type        string            `json:"type"`
		Rings       json.RawMessage   `json:"rings"`
		XMin        *float64          `json:"xmin"`
		Geometry    json.RawMessage   `json:"geometry"`
		Features    []json.RawMessage `json:"features"`
		Coordinates json.RawMessage   `json:"coordinates"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, err
	}
	if probe.Rings != nil || probe.XMin != nil {
		var g arcgis.Geometry
		if err := json.Unmarshal(b, &g); err != nil {
			return nil, err
		}
		if g.SpatialReference == nil {
			g.SpatialReference = &arcgis.SpatialReference{WKID: 4326}
		}
		return &g, nil
	}
	switch probe.Type {
	case "FeatureCollection":
		if len(probe.Features) == 0 {
			return nil, errors.New("empty FeatureCollection")
		}
		return parseAOI(probe.Features[0])
	case "Feature":
		if probe.Geometry == nil {
			return nil, errors.New("feature without geometry")
		}
		return parseAOI(probe.Geometry)
	case "Polygon":
		var rings [][][]float64
		if err := json.Unmarshal(probe.Coordinates, &rings); err != nil {
			return nil, fmt.Errorf("Polygon coordinates: %w", err)
		}
		return esriPolygon(rings), nil
	case "MultiPolygon":
		var polys [][][][]float64
		if err := json.Unmarshal(probe.Coordinates, &polys); err != nil {
			return nil, fmt.Errorf("MultiPolygon coordinates: %w", err)
		}
		var rings [][][]float64
		for _, p := range polys {
			rings = append(rings, p...)
		}
		return esriPolygon(rings), nil
	}
	return nil, fmt.Errorf("unsupported area type %q (want a GeoJSON polygon or an Esri JSON geometry)", probe.Type)
}

// esriPolygon turns GeoJSON rings (outer counter-clockwise) into Esri rings
// (outer clockwise).
func esriPolygon(rings [][][]float64) *arcgis.Geometry {
	out := make([][][]float64, len(rings))
	for i, r := range rings {
		cp := make([][]float64, len(r))
		for j := range r {
			cp[len(r)-1-j] = r[j]
		}
		out[i] = cp
	}
	g := &arcgis.Geometry{SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
	g.Rings = out
	return g
}
