package offline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func TestCheckTargetDir(t *testing.T) {
	root := t.TempDir()
	empty := filepath.Join(root, "empty")
	full := filepath.Join(root, "full")
	file := filepath.Join(root, "file")
	for _, d := range []string{empty, full} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		code ErrCode
	}{
		{filepath.Join(root, "absent"), ""},
		{filepath.Join(root, "absent", "deeper"), ""},
		{empty, ""},
		{full, ErrTargetNotEmpty},
		{file, ErrTargetNotDirectory},
		{"", ErrParameter},
	} {
		err := CheckTargetDir(tc.dir)
		if tc.code == "" && err != nil || tc.code != "" && !HasCode(err, tc.code) {
			t.Errorf("CheckTargetDir(%q) = %v, want %q", tc.dir, err, tc.code)
		}
	}
}

func TestValidateCollectsEveryProblem(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, attachmentsMap)
	ctx := context.Background()
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "partial.gpkg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := defaults(t, task)
	p.AreaOfInterest = poly(4326, [][]float64{{0, 0}, {10, 10}, {10, 0}, {0, 10}, {0, 0}})
	p.MinScale, p.MaxScale = 1000, 90000
	p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = t.TempDir(), "missing.vtpk"
	p.UpdateMode = "sometimes"
	err := task.Validate(ctx, p, nil, full)
	for _, code := range []ErrCode{ErrAOISelfIntersects, ErrScales, ErrTargetNotEmpty, ErrReferenceBasemapMissing, ErrParameter} {
		if !HasCode(err, code) {
			t.Errorf("missing %s in %v", code, err)
		}
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("errors.As *ValidationError failed")
	}
	// includeBasemap false ignores the reference basemap.
	p = defaults(t, task)
	p.IncludeBasemap = false
	p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = t.TempDir(), "missing.vtpk"
	if err := task.Validate(ctx, p, nil, filepath.Join(t.TempDir(), "o")); err != nil {
		t.Errorf("reference basemap checked although basemap excluded: %v", err)
	}
	if err := task.Validate(ctx, nil, nil, "x"); !HasCode(err, ErrParameter) {
		t.Errorf("nil parameters: %v", err)
	}
	p = defaults(t, task)
	p.AreaOfInterest = nil
	if err := task.Validate(ctx, p, nil, filepath.Join(t.TempDir(), "o")); !HasCode(err, ErrAOIEmpty) {
		t.Errorf("no area: %v", err)
	}
}

func TestValidateOverrides(t *testing.T) {
	f := loadFake(t)
	task := fileTask(t, f, filepath.Join("testdata", "webmaps", "survey-offline.json"))
	ctx := context.Background()
	p := defaults(t, task)
	fresh := func() *Overrides { return overridesFor(t, task, p) }
	dir := func() string { return filepath.Join(t.TempDir(), "out") }
	if err := task.Validate(ctx, p, fresh(), dir()); err != nil {
		t.Fatalf("fresh overrides: %v", err)
	}
	fs := ServiceKey(fieldSurvey)
	for _, tc := range []struct {
		name   string
		change func(o *Overrides)
		code   ErrCode
		key    Key
	}{
		{"unknown service key", func(o *Overrides) {
			o.GenerateGeodatabase[ServiceKey("http://example.com/arcgis/rest/services/Nope/FeatureServer")] = &GenerateGeodatabaseParameters{}
		}, ErrUnknownOverrideKey, ServiceKey("http://example.com/arcgis/rest/services/Nope/FeatureServer")},
		{"layer key used as service key", func(o *Overrides) {
			o.GenerateGeodatabase[LayerKey(fieldSurvey, 0)] = o.GenerateGeodatabase[fs]
		}, ErrUnknownOverrideKey, LayerKey(fieldSurvey, 0)},
		{"unknown layer option", func(o *Overrides) {
			o.GenerateGeodatabase[fs].LayerOptions = append(o.GenerateGeodatabase[fs].LayerOptions, &GenerateLayerOption{LayerID: 9, QueryOption: QueryAll})
		}, ErrUnknownOverrideKey, LayerKey(fieldSurvey, 9)},
		{"tile key on a feature layer", func(o *Overrides) {
			o.ExportTileCache[LayerKey(fieldSurvey, 1)] = &ExportTileCacheParameters{LevelIDs: []int{1}}
		}, ErrUnknownOverrideKey, LayerKey(fieldSurvey, 1)},
		{"vector key on a raster layer", func(o *Overrides) {
			o.ExportVectorTiles[ServiceKey(demoBasemap)] = &ExportVectorTilesParameters{}
		}, ErrUnknownOverrideKey, ServiceKey(demoBasemap)},
		{"online table that is a layer", func(o *Overrides) { o.OnlineTables = append(o.OnlineTables, LayerKey(fieldSurvey, 0)) }, ErrUnknownOverrideKey, LayerKey(fieldSurvey, 0)},
		{"online layer not in map", func(o *Overrides) { o.OnlineLayers = append(o.OnlineLayers, "http://x/y") }, ErrUnknownOverrideKey, "http://x/y"},
		{"bad query option", func(o *Overrides) { o.GenerateGeodatabase[fs].LayerOption(1).QueryOption = "some" }, ErrOverride, fs},
		{"duplicate layer option", func(o *Overrides) {
			g := o.GenerateGeodatabase[fs]
			g.LayerOptions = append(g.LayerOptions, &GenerateLayerOption{LayerID: 1, QueryOption: QueryAll})
		}, ErrOverride, fs},
		{"attachments true with sync none", func(o *Overrides) {
			o.GenerateGeodatabase[fs].ReturnAttachments, o.GenerateGeodatabase[fs].AttachmentSyncDirection = true, AttachmentSyncNone
		}, ErrOverride, fs},
		{"attachments false with bidirectional", func(o *Overrides) {
			o.GenerateGeodatabase[fs].ReturnAttachments, o.GenerateGeodatabase[fs].AttachmentSyncDirection = false, AttachmentSyncBidirectional
		}, ErrOverride, fs},
		{"bad sync model", func(o *Overrides) { o.GenerateGeodatabase[fs].SyncModel = "often" }, ErrOverride, fs},
		{"snapshot with sync model", func(o *Overrides) {
			o.GenerateGeodatabase[ServiceKey(refData)].SyncModel = SyncModelPerLayer
		}, ErrOverride, ServiceKey(refData)},
		{"self-intersecting extent", func(o *Overrides) {
			o.GenerateGeodatabase[fs].Extent = poly(4326, [][]float64{{0, 0}, {10, 10}, {10, 0}, {0, 10}, {0, 0}})
		}, ErrOverride, fs},
		{"no tile levels", func(o *Overrides) { o.ExportTileCache[ServiceKey(demoBasemap)].LevelIDs = nil }, ErrOverride, ServiceKey(demoBasemap)},
		{"compression quality", func(o *Overrides) { o.ExportTileCache[ServiceKey(demoBasemap)].CompressionQuality = 101 }, ErrOverride, ServiceKey(demoBasemap)},
		{"reference basemap file missing", func(o *Overrides) {
			o.ReferenceBasemap = &ReferenceBasemap{Path: filepath.Join(t.TempDir(), "x.mbtiles")}
		}, ErrReferenceBasemapMissing, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := fresh()
			tc.change(o)
			err := task.Validate(ctx, p, o, dir())
			if !errors.Is(err, &ValidationError{Code: tc.code, Key: tc.key}) {
				t.Errorf("got %v, want %s for %s", err, tc.code, tc.key)
			}
		})
	}
}

func TestValidateChecksHook(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, attachmentsMap)
	ctx := context.Background()
	p := defaults(t, task)
	o := overridesFor(t, task, p)
	var seen *Overrides
	tileLimit := func(ctx context.Context, tk *Task, p *Parameters, o *Overrides) []error {
		seen = o
		var errs []error
		for k, et := range o.ExportTileCache {
			if et.MaxExportTilesCount > 0 && len(et.LevelIDs) > 3 {
				errs = append(errs, &ValidationError{Code: ErrTileLimit, Key: k, Message: fmt.Sprintf("%s: too many tiles, drop levels %v", k, et.LevelIDs[3:])})
			}
		}
		return errs
	}
	err := task.Validate(ctx, p, o, filepath.Join(t.TempDir(), "o"), tileLimit)
	if seen != o {
		t.Errorf("check not called with the overrides")
	}
	if !errors.Is(err, &ValidationError{Code: ErrTileLimit, Key: ServiceKey(demoBasemap)}) {
		t.Errorf("hook error not returned: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := task.Validate(cctx, p, o, filepath.Join(t.TempDir(), "o"), tileLimit); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
}

func TestClassifyError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Reason
	}{
		{&arcgis.Error{Code: 498, Message: "Invalid token."}, ReasonAccessDenied},
		{fmt.Errorf("feature service x: %w", &arcgis.Error{Code: 499}), ReasonAccessDenied},
		{&arcgis.Error{Code: 403}, ReasonAccessDenied},
		{&arcgis.HTTPError{StatusCode: 401}, ReasonAccessDenied},
		{&arcgis.Error{Code: 400, Message: "Invalid URL"}, ReasonServiceNotFound},
		{&arcgis.HTTPError{StatusCode: 404}, ReasonServiceNotFound},
		{&arcgis.RetryError{Last: &arcgis.HTTPError{StatusCode: 503}}, ReasonServiceUnreachable},
		{&arcgis.Error{Code: 429}, ReasonServiceUnreachable},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, ReasonServiceUnreachable},
		{context.DeadlineExceeded, ReasonServiceUnreachable},
		{&arcgis.Error{Code: 409}, ReasonServiceError},
		{errors.New("odd"), ReasonServiceError},
	} {
		if got := ClassifyError(tc.err); got != tc.want {
			t.Errorf("ClassifyError(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestCapabilityReasons(t *testing.T) {
	f := loadFake(t)
	task := fileTask(t, f, filepath.Join("testdata", "webmaps", "legacy.json"))
	caps := mustCaps(context.Background(), t, task, nil)
	byID := map[string]*Capability{}
	for _, c := range caps.Layers {
		byID[c.ID] = c
	}
	for id, want := range map[string]Reason{
		"7":    ReasonSyncNotEnabled,       // Query-only service: snapshot, not an error
		"8":    ReasonExportNotAllowed,     // tiled, exportTilesAllowed false
		"9":    ReasonUnsupportedLayerType, // CSV
		"10":   ReasonUnsupportedLayerType, // Bing
		"base": ReasonNotCached,            // tiled layer on a dynamic service
	} {
		c := byID[id]
		if c == nil || c.Reason != want || c.Message == "" {
			t.Errorf("%s: %+v, want %s", id, c, want)
		}
	}
	// A WebTiledLayer goes offline as web tiles (issue 12); its template is
	// shown without a query string.
	if w := byID["web"]; w == nil || !w.SupportsOffline || w.Method != MethodWebTiles || w.Error {
		t.Errorf("web tiled layer %+v, want webTiles", w)
	}
	if !byID["7"].SupportsOffline || byID["7"].Method != MethodSnapshot || byID["7"].Error || byID["7"].Editable {
		t.Errorf("snapshot layer %+v", byID["7"])
	}
	if !caps.HasErrors {
		t.Errorf("hasErrors")
	}
	// Without a service client every service is unreachable.
	task2, err := NewTask(context.Background(), Source{File: filepath.Join("testdata", "webmaps", "legacy.json")}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	caps2, _ := task2.Capabilities(context.Background(), nil)
	if c := caps2.Layers[0]; c.Reason != ReasonServiceUnreachable || !c.Error {
		t.Errorf("no client: %+v", c)
	}
}

func TestIsEditable(t *testing.T) {
	for _, tc := range []struct {
		svc, layer string
		want       bool
	}{
		{"Query,Sync", "", false},
		{"Query,Create,Sync", "", true},
		{"Query,Update,Sync", "Query,Sync", false},
		{"Query,Delete,Sync", "Query,Editing", true},
		{"Create,Update,Delete,Query,Sync", "Create,Query", true},
	} {
		got := IsEditable(&arcgis.FeatureService{Capabilities: tc.svc}, &arcgis.Layer{Capabilities: tc.layer})
		if got != tc.want {
			t.Errorf("IsEditable(%q, %q) = %v", tc.svc, tc.layer, got)
		}
	}
	if IsEditable(nil, nil) {
		t.Errorf("nil service")
	}
}

func TestBrokenLayers(t *testing.T) {
	f := loadFake(t)
	task := fileTask(t, f, filepath.Join("testdata", "webmaps", "broken-layers.json"))
	caps := mustCaps(context.Background(), t, task, nil)
	want := map[string]Reason{
		"missing_layer":     ReasonLayerNotFound,
		"restricted":        ReasonAccessDenied,
		"no_layer_id":       ReasonInvalidURL,
		"gone_tiles":        ReasonServiceNotFound,
		"tiles_on_features": ReasonInvalidURL,
		"style_missing":     ReasonUnresolvedStyle,
	}
	for _, c := range caps.Layers {
		if c.ID == "open" {
			if c.Method != MethodReplica || c.Error {
				t.Errorf("open layer of a half-readable service: %+v", c)
			}
			continue
		}
		if w := want[c.ID]; c.Reason != w || !c.Error || c.Method != MethodNone || !strings.Contains(c.Message, c.ID) && !strings.Contains(c.Message, c.Title) {
			t.Errorf("%s: %+v, want %s", c.ID, c, w)
		}
	}
	// Hard failures never stay online, even with include.
	p, _ := task.CreateDefaultParameters(context.Background(), demoArea(), 0, 0)
	p.OnlineOnlyServicesOption = OnlineOnlyInclude
	caps, _ = task.Capabilities(context.Background(), p)
	for _, c := range caps.Layers {
		if c.ID != "open" && c.RemainsOnline {
			t.Errorf("%s remains online after %s", c.ID, c.Reason)
		}
	}
	ov := mustOverrides(context.Background(), t, task, p)
	if g := ov.GenerateGeodatabase[ServiceKey("http://example.com/arcgis/rest/services/Half/FeatureServer")]; g == nil || !reflect.DeepEqual(g.LayerIDs(), []int{0}) {
		t.Errorf("half service replica: %+v", g)
	}
	if _, ok := ov.GenerateGeodatabase[ServiceKey(fieldSurvey)]; ok {
		t.Errorf("no layer of Field_Survey is usable, yet it has a replica")
	}
}

func TestCoerceAttachmentSync(t *testing.T) {
	for _, tc := range []struct {
		d       AttachmentSyncDirection
		ret, ed bool
		want    AttachmentSyncDirection
	}{
		{AttachmentSyncBidirectional, true, true, AttachmentSyncBidirectional},
		{AttachmentSyncUpload, true, true, AttachmentSyncUpload},
		{AttachmentSyncNone, true, true, AttachmentSyncUpload},
		{AttachmentSyncNone, true, false, AttachmentSyncBidirectional},
		{AttachmentSyncUpload, true, false, AttachmentSyncBidirectional},
		{AttachmentSyncBidirectional, false, true, AttachmentSyncUpload},
		{AttachmentSyncBidirectional, false, false, AttachmentSyncNone},
		{AttachmentSyncUpload, false, false, AttachmentSyncNone},
		{AttachmentSyncNone, false, true, AttachmentSyncNone},
		{"", true, true, AttachmentSyncUpload},
	} {
		if got := CoerceAttachmentSync(tc.d, tc.ret, tc.ed); got != tc.want {
			t.Errorf("CoerceAttachmentSync(%q, ret=%v, editable=%v) = %q, want %q", tc.d, tc.ret, tc.ed, got, tc.want)
		}
	}
	if u := (ServiceRef{URL: "http://h/a/FeatureServer"}).LayerURL(3); u != "http://h/a/FeatureServer/3" {
		t.Errorf("LayerURL = %s", u)
	}
}
