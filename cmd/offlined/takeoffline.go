package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/offlined/offlined/internal/aoi"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/demo"
	"github.com/offlined/offlined/offline"
)

// takeOfflineCommand runs take-offline, which takes a web map offline
// into a package directory (running it again with the same arguments on
// the same directory resumes an interrupted job), or with cmd "estimate"
// prints the size and time a take-offline with the same flags would take,
// per layer, without a daemon and before any download.
func takeOfflineCommand(cmd string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		return takeOffline(ctx, cmd, args, stdout, stderr)
	}
}

// takeOffline is take-offline, or with cmd "estimate" the estimate alone.
func takeOffline(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(cmd, stderr)
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
	refFile := fs.String("reference-basemap-file", "", "basemap file name in --reference-basemap-dir (.mbtiles, .tpkx, .vtpk, .pmtiles; default: the name the web map's offline settings give)")
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
	tokenFile := fs.String("token-file", "", "file holding an ArcGIS token (- for stdin; or set $OFFLINED_TOKEN)")
	apiKeyFile := fs.String("api-key-file", "", "file holding an ArcGIS API key (- for stdin; or set $OFFLINED_API_KEY)")
	// Secrets are never flag values (other processes read command lines):
	// the old flags stay only to say what replaced them.
	fs.String("token", "", "refused: use --token-file or $OFFLINED_TOKEN")
	fs.String("api-key", "", "refused: use --api-key-file or $OFFLINED_API_KEY")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	acceptPartial := fs.Bool("accept-partial", false, "exit 0 when the package was written but some layers failed (hasErrors); by default that exits 3")
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
	if set["token"] {
		return errors.New("--token: secrets are not accepted as flag values (other processes can read them); use --token-file FILE or $OFFLINED_TOKEN")
	}
	if set["api-key"] {
		return errors.New("--api-key: secrets are not accepted as flag values (other processes can read them); use --api-key-file FILE or $OFFLINED_API_KEY")
	}
	secrets := secretSources{user: *user, tokenFile: *tokenFile, apiKeyFile: *apiKeyFile, portal: *portal}

	if *dir == "" && cmd != "estimate" {
		return errors.New("--dir: the output directory is required")
	}
	if *abandon {
		cred, err := credential(secrets)
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
		g, err := aoi.ParseBBox(*bbox)
		if err != nil {
			return fmt.Errorf("--bbox: %w", err)
		}
		area = g
	case *aoiFile != "":
		g, err := aoi.ReadFile(*aoiFile)
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
	cred, err := credential(secrets)
	if err != nil {
		return err
	}
	opts := []arcgis.Option{arcgis.WithCredential(cred)}
	if *portal != "" {
		opts = append(opts, arcgis.WithPortal(*portal))
	} else if u, err := url.Parse(src.WebMapURL); err == nil && u.Host != "" {
		// Without a portal the credential is for the web map's host only:
		// never for the other hosts the web map or its styles name.
		opts = append(opts, arcgis.WithTrustedHosts(u.Host))
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
		anon := secrets.user == "" && secrets.tokenFile == "" && secrets.apiKeyFile == "" && os.Getenv("OFFLINED_TOKEN") == "" && os.Getenv("OFFLINED_API_KEY") == ""
		return signInHint(err, anon)
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
	if *refFile != "" && *refDir == "" {
		return errors.New("--reference-basemap-file: needs --reference-basemap-dir (the directory holding it)")
	}
	if *refDir != "" {
		// The file name defaults to the one the web map's offline settings
		// give (offlinebasemap.referenceBasemapName).
		p.ReferenceBasemapDirectory = *refDir
		if *refFile != "" {
			p.ReferenceBasemapFilename = *refFile
		}
		if p.ReferenceBasemapFilename == "" {
			return errors.New("--reference-basemap-dir: the web map names no reference basemap file; give --reference-basemap-file")
		}
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
	// What the map holds and how each entry goes, before the job: no layer
	// is left out without the user seeing it.
	caps, err := task.Capabilities(ctx, p)
	if err != nil {
		return err
	}
	if !*asJSON && cmd != "estimate" {
		demo.PrintCapabilities(stdout, caps)
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
	// Say once that an interrupted job is resumed (finished steps are not
	// redone), before the progress bar goes on.
	bar, said := jo.Progress, false
	jo.Progress = func(pr offline.Progress) {
		if pr.Resumed && !said {
			said = true
			fmt.Fprintf(stderr, "resuming the interrupted job in %s (finished steps are kept)\n", *dir)
		}
		if bar != nil {
			bar(pr)
		}
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
		out := struct {
			*offline.Result
			Capabilities *offline.Capabilities `json:"capabilities"`
		}{res, caps}
		if err := enc.Encode(out); err != nil {
			return err
		}
		return partialError(res, runErr, *acceptPartial)
	}
	if res != nil {
		demo.PrintResult(stdout, res, *dir)
	}
	return partialError(res, runErr, *acceptPartial)
}

// PartialError is take-offline's failure when the package was written but
// some layers or tables failed (the result's hasErrors); main exits 3.
type PartialError struct{ Failed int }

func (e *PartialError) Error() string {
	return fmt.Sprintf("the package was written but %d layers or tables failed (see layerErrors; --accept-partial to exit 0)", e.Failed)
}

// ExitCode is the process exit status for a partial package.
func (e *PartialError) ExitCode() int { return 3 }

func partialError(res *offline.Result, runErr error, accept bool) error {
	if runErr != nil || res == nil || !res.HasErrors || accept {
		return runErr
	}
	return &PartialError{Failed: len(res.LayerErrors) + len(res.TableErrors)}
}

// secretSources are where take-offline may find its portal credential.
type secretSources struct {
	user, tokenFile, apiKeyFile, portal string
}

// credential builds the portal credential from at most one of --user
// (password in $OFFLINED_PASSWORD), --token-file, --api-key-file, or, when
// none is given, $OFFLINED_TOKEN or $OFFLINED_API_KEY. Anonymous otherwise.
func credential(src secretSources) (arcgis.Credential, error) {
	n := 0
	for _, s := range []string{src.user, src.tokenFile, src.apiKeyFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("--user, --token-file and --api-key-file: give at most one")
	}
	switch {
	case src.user != "":
		pw := os.Getenv("OFFLINED_PASSWORD")
		if pw == "" {
			return nil, errors.New("--user: set the password in $OFFLINED_PASSWORD")
		}
		if src.portal == "" {
			return nil, errors.New("--user: needs --portal (tokens come from its generateToken)")
		}
		return &arcgis.UserCredential{Username: src.user, Password: pw}, nil
	case src.tokenFile != "":
		tok, err := readSecret(src.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("--token-file: %w", err)
		}
		return arcgis.StaticToken(tok), nil
	case src.apiKeyFile != "":
		key, err := readSecret(src.apiKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--api-key-file: %w", err)
		}
		return arcgis.APIKey(key), nil
	}
	tok, key := os.Getenv("OFFLINED_TOKEN"), os.Getenv("OFFLINED_API_KEY")
	switch {
	case tok != "" && key != "":
		return nil, errors.New("$OFFLINED_TOKEN and $OFFLINED_API_KEY: set at most one")
	case tok != "":
		return arcgis.StaticToken(tok), nil
	case key != "":
		return arcgis.APIKey(key), nil
	}
	return arcgis.Anonymous(), nil
}

// signInHint adds, to a sign-in failure, the flags that fix it.
func signInHint(err error, anonymous bool) error {
	if !arcgis.IsAuth(err) {
		return err
	}
	if anonymous {
		return fmt.Errorf("%w\nsign-in required: give --user NAME (password in $OFFLINED_PASSWORD, needs --portal), --token-file FILE or --api-key-file FILE (or $OFFLINED_TOKEN / $OFFLINED_API_KEY)", err)
	}
	return fmt.Errorf("%w\nthe credential was refused: check --user and $OFFLINED_PASSWORD, or renew the token in --token-file", err)
}
