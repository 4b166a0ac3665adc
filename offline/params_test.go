package offline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

const (
	fieldSurvey = "http://example.com/arcgis/rest/services/Field_Survey/FeatureServer"
	readOnlySvc = "http://example.com/arcgis/rest/services/ReadOnly_Sync/FeatureServer"
	refData     = "http://example.com/arcgis/rest/services/Reference_Data/FeatureServer"
	demoBasemap = "http://example.com/arcgis/rest/services/Demo_Basemap/MapServer"
)

// mapTask writes a web map document to a temp file and opens a task on it.
func mapTask(t *testing.T, f *fakeArcGIS, doc string) *Task {
	t.Helper()
	path := filepath.Join(t.TempDir(), "map.json")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return fileTask(t, f, path)
}

// attachmentsMap has an editable layer with attachments (Field_Survey/0), a
// read-only replica layer with attachments (ReadOnly_Sync/0) and a snapshot
// layer with attachments (Reference_Data/0).
const attachmentsMap = `{"version":"2.28","spatialReference":{"wkid":102100},
 "operationalLayers":[
  {"id":"Inspections","layerType":"ArcGISFeatureLayer","url":"` + fieldSurvey + `/0"},
  {"id":"Hydrants","layerType":"ArcGISFeatureLayer","url":"` + readOnlySvc + `/0"},
  {"id":"Zones","layerType":"ArcGISFeatureLayer","url":"` + refData + `/0"}],
 "baseMap":{"baseMapLayers":[{"id":"b","layerType":"ArcGISTiledMapServiceLayer","url":"` + demoBasemap + `"}]}}`

func overridesFor(t *testing.T, task *Task, p *Parameters) *Overrides {
	t.Helper()
	return mustOverrides(context.Background(), t, task, p)
}

// mustOverrides, mustDefaults and mustCaps are the task's CreateOverrides,
// CreateDefaultParameters and Capabilities, failing the test on an error.
func mustOverrides(ctx context.Context, t testing.TB, task *Task, p *Parameters) *Overrides {
	t.Helper()
	ov, err := task.CreateOverrides(ctx, p)
	return noErr(t, ov, err)
}

func mustDefaults(ctx context.Context, t testing.TB, task *Task, area *arcgis.Geometry, minScale, maxScale float64) *Parameters {
	t.Helper()
	p, err := task.CreateDefaultParameters(ctx, area, minScale, maxScale)
	return noErr(t, p, err)
}

func mustCaps(ctx context.Context, t testing.TB, task *Task, p *Parameters) *Capabilities {
	t.Helper()
	caps, err := task.Capabilities(ctx, p)
	return noErr(t, caps, err)
}

// noErr returns v, failing the test when err is not nil.
func noErr[T any](t testing.TB, v T, err error) T {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func replicaValues(t *testing.T, ov *Overrides, svc string) map[string]string {
	t.Helper()
	g := ov.GenerateGeodatabase[ServiceKey(svc)]
	if g == nil {
		t.Fatalf("no generateGeodatabase entry for %s: %v", svc, sortedKeys(ov.GenerateGeodatabase))
	}
	v, err := CreateReplicaRequest(g, ReplicaRequestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return flat(v)
}

func defaults(t *testing.T, task *Task) *Parameters {
	t.Helper()
	return mustDefaults(context.Background(), t, task, demoArea(), 150000, 5000)
}

// TestAttachmentWorkflows runs the seed's four attachment workflows and
// checks what each asks of every service.
func TestAttachmentWorkflows(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, attachmentsMap)
	type want struct {
		ret string // returnAttachments request value
		dir string // attachmentsSyncDirection request value
	}
	for _, tc := range []struct {
		name      string
		option    AttachmentOption
		direction AttachmentSyncDirection
		editable  want // Field_Survey
		readOnly  want // ReadOnly_Sync
		snapshot  bool // Reference_Data returnAttachments (query path)
	}{
		{"1 all layers, bidirectional", AttachmentsAllLayers, AttachmentSyncBidirectional,
			want{"true", "bidirectional"}, want{"true", "bidirectional"}, true},
		{"2 read-only layers, bidirectional", AttachmentsReadOnlyLayers, AttachmentSyncBidirectional,
			want{"false", "upload"}, want{"true", "bidirectional"}, true},
		{"3 editable layers, bidirectional", AttachmentsEditableLayers, AttachmentSyncBidirectional,
			want{"true", "bidirectional"}, want{"false", "none"}, false},
		{"4 none, upload", AttachmentsNone, AttachmentSyncUpload,
			want{"false", "upload"}, want{"false", "none"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := defaults(t, task)
			p.ReturnLayerAttachmentOption, p.AttachmentSyncDirection = tc.option, tc.direction
			if err := task.Validate(context.Background(), p, nil, filepath.Join(t.TempDir(), "o")); err != nil {
				t.Fatal(err)
			}
			ov := overridesFor(t, task, p)
			ev := replicaValues(t, ov, fieldSurvey)
			if ev["returnAttachments"] != tc.editable.ret || ev["attachmentsSyncDirection"] != tc.editable.dir {
				t.Errorf("editable service: returnAttachments=%s attachmentsSyncDirection=%s, want %+v", ev["returnAttachments"], ev["attachmentsSyncDirection"], tc.editable)
			}
			rv := replicaValues(t, ov, readOnlySvc)
			if rv["returnAttachments"] != tc.readOnly.ret || rv["attachmentsSyncDirection"] != tc.readOnly.dir {
				t.Errorf("read-only service: returnAttachments=%s attachmentsSyncDirection=%s, want %+v", rv["returnAttachments"], rv["attachmentsSyncDirection"], tc.readOnly)
			}
			snap := ov.GenerateGeodatabase[ServiceKey(refData)]
			if snap == nil || !snap.Snapshot || snap.ReturnAttachments != tc.snapshot || snap.AttachmentSyncDirection != "" {
				t.Errorf("snapshot service: %+v, want returnAttachments %v and no sync direction", snap, tc.snapshot)
			}
			// Every produced pair is one ArcGIS accepts.
			if err := task.Validate(context.Background(), p, ov, filepath.Join(t.TempDir(), "o")); err != nil {
				t.Errorf("overrides do not validate: %v", err)
			}
		})
	}
}

func TestDefaultParametersFromOfflineSettings(t *testing.T) {
	f := loadFake(t)
	base := `{"version":"2.28","spatialReference":{"wkid":102100},"operationalLayers":[],"baseMap":{"baseMapLayers":[]},
	  "applicationProperties":{"offline":%s}}`
	for _, tc := range []struct {
		offline    string
		option     AttachmentOption
		dir        AttachmentSyncDirection
		schemaOnly bool
		online     OnlineOnlyOption
		refName    string
		tableRows  bool
		syncData   int
	}{
		{`{}`, AttachmentsAllLayers, AttachmentSyncBidirectional, false, OnlineOnlyExclude, "", true, 0},
		{`{"editableLayers":{"download":"features","sync":"syncFeaturesAndAttachments"},"readonlyLayers":{"downloadAttachments":false}}`,
			AttachmentsNone, AttachmentSyncUpload, false, OnlineOnlyExclude, "", true, 0},
		{`{"editableLayers":{"download":"featuresAndAttachments","sync":"syncFeaturesUploadAttachments"},"readonlyLayers":{"downloadAttachments":false}}`,
			AttachmentsEditableLayers, AttachmentSyncUpload, false, OnlineOnlyExclude, "", true, 0},
		{`{"editableLayers":{"download":"none","sync":"uploadFeaturesAndAttachments"},"readonlyLayers":{"downloadAttachments":true}}`,
			AttachmentsReadOnlyLayers, AttachmentSyncUpload, true, OnlineOnlyExclude, "", true, 0},
		{`{"offlinebasemap":{"referenceBasemapName":"City.tpkx"},"connectedOnlineLayers":[{"id":"x"}],"tables":{"includeRows":false},"syncDataOptions":"4"}`,
			AttachmentsAllLayers, AttachmentSyncBidirectional, false, OnlineOnlyUseAuthoredSettings, "City.tpkx", false, 4},
	} {
		task := mapTask(t, f, strings.Replace(base, "%s", tc.offline, 1))
		p := defaults(t, task)
		if p.ReturnLayerAttachmentOption != tc.option || p.AttachmentSyncDirection != tc.dir || p.ReturnSchemaOnlyForEditableLayers != tc.schemaOnly ||
			p.OnlineOnlyServicesOption != tc.online || p.ReferenceBasemapFilename != tc.refName || p.IncludeTableRows != tc.tableRows || p.SyncDataOptions != tc.syncData {
			b, _ := json.Marshal(p)
			t.Errorf("offline %s: got %s", tc.offline, b)
		}
		if !p.IncludeBasemap || p.UpdateMode != UpdateSyncWithFeatureServices || !p.DefinitionExpressionFilterEnabled ||
			p.DestinationTableRowFilter != RowFilterRelatedOnly || !p.ContinueOnErrors || p.ReferenceBasemapDirectory != "" {
			t.Errorf("offline %s: fixed defaults wrong: %+v", tc.offline, p)
		}
	}
}

func TestSchemaOnlyForEditableLayers(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, `{"spatialReference":{"wkid":102100},"operationalLayers":[
	  {"id":"a","layerType":"ArcGISFeatureLayer","url":"`+fieldSurvey+`/0"},
	  {"id":"b","layerType":"ArcGISFeatureLayer","url":"`+fieldSurvey+`/2"},
	  {"id":"c","layerType":"ArcGISFeatureLayer","url":"`+readOnlySvc+`/0"}],"baseMap":{"baseMapLayers":[]}}`)
	p := defaults(t, task)
	p.ReturnSchemaOnlyForEditableLayers = true
	ov := overridesFor(t, task, p)
	fs := ov.GenerateGeodatabase[ServiceKey(fieldSurvey)]
	if o := fs.LayerOption(0); o.QueryOption != QueryNone {
		t.Errorf("editable layer 0: %+v, want queryOption none", o)
	}
	if o := fs.LayerOption(2); o.QueryOption != QueryUseFilter {
		t.Errorf("read-only layer 2 (layer capabilities Query,Sync): %+v, want useFilter", o)
	}
	if o := ov.GenerateGeodatabase[ServiceKey(readOnlySvc)].LayerOption(0); o.QueryOption != QueryUseFilter {
		t.Errorf("read-only service: %+v", o)
	}
	v := replicaValues(t, ov, fieldSurvey)
	if !strings.Contains(v["layerQueries"], `"0":{"queryOption":"none"`) {
		t.Errorf("layerQueries %s", v["layerQueries"])
	}
	// Schema-only layers bring no attachments.
	if v["returnAttachments"] != "true" { // layer 2 still has attachments (all layers option)
		t.Errorf("returnAttachments %s", v["returnAttachments"])
	}
	p.ReturnLayerAttachmentOption = AttachmentsEditableLayers
	if v := replicaValues(t, overridesFor(t, task, p), fieldSurvey); v["returnAttachments"] != "false" {
		t.Errorf("schema-only editable layer must not bring attachments: %s", v["returnAttachments"])
	}
}

func TestUpdateModeNoUpdates(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, attachmentsMap)
	p := defaults(t, task)
	p.UpdateMode = UpdateNoUpdates
	caps, err := task.Capabilities(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if c := caps.Get(LayerKey(readOnlySvc, 0)); c.Method != MethodSnapshot || c.Reason != ReasonSyncModelNoneUnsupported || c.Error {
		t.Errorf("service without syncModel none: %+v", c)
	}
	if c := caps.Get(LayerKey(fieldSurvey, 0)); c.Method != MethodReplica {
		t.Errorf("field survey: %+v", c)
	}
	ov := overridesFor(t, task, p)
	v := replicaValues(t, ov, fieldSurvey)
	if v["syncModel"] != "none" || v["syncDirection"] != "" {
		t.Errorf("noUpdates: syncModel=%q syncDirection=%q", v["syncModel"], v["syncDirection"])
	}
	if g := ov.GenerateGeodatabase[ServiceKey(readOnlySvc)]; !g.Snapshot || g.SyncModel != SyncModelNone {
		t.Errorf("read-only service under noUpdates: %+v", g)
	}
	p.UpdateMode = UpdateSyncWithFeatureServices
	if v := replicaValues(t, overridesFor(t, task, p), fieldSurvey); v["syncModel"] != "perLayer" || v["syncDirection"] != "bidirectional" {
		t.Errorf("sync: %v", v)
	}
	if v := replicaValues(t, overridesFor(t, task, p), readOnlySvc); v["syncModel"] != "perReplica" {
		t.Errorf("service without perLayer sync: %v", v["syncModel"])
	}
}

const relatedMap = `{"spatialReference":{"wkid":102100},"operationalLayers":[
  {"id":"open","layerType":"ArcGISFeatureLayer","url":"` + fieldSurvey + `/0","layerDefinition":{"definitionExpression":"Status = 'open'"}},
  {"id":"urgent","layerType":"ArcGISFeatureLayer","url":"` + fieldSurvey + `/0","layerDefinition":{"definitionExpression":"Priority >= 4"}},
  {"id":"pipes","layerType":"ArcGISFeatureLayer","url":"` + fieldSurvey + `/1","layerDefinition":{"definitionExpression":"Status <> 'closed'"}}],
 "tables":[{"id":"notes","url":"` + fieldSurvey + `/3"},{"id":"lookup","url":"` + fieldSurvey + `/4"}],
 "baseMap":{"baseMapLayers":[]}}`

func TestDefinitionExpressionsAndRowFilter(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, relatedMap)
	p := defaults(t, task)
	ov := overridesFor(t, task, p)
	g := ov.GenerateGeodatabase[ServiceKey(fieldSurvey)]
	if len(ov.GenerateGeodatabase) != 1 || len(g.LayerOptions) != 4 {
		t.Fatalf("one replica with 4 layers expected: %+v", ov.GenerateGeodatabase)
	}
	if o := g.LayerOption(0); o.WhereClause != "(Status = 'open') OR (Priority >= 4)" || !o.IncludeRelated || !o.UseGeometry {
		t.Errorf("layer 0: %+v", o)
	}
	if o := g.LayerOption(3); o.QueryOption != QueryNone || !o.IncludeRelated || o.UseGeometry {
		t.Errorf("destination table, relatedOnly: %+v", o)
	}
	if o := g.LayerOption(4); o.QueryOption != QueryAll || o.UseGeometry {
		t.Errorf("standalone table: %+v", o)
	}
	v := replicaValues(t, ov, fieldSurvey)
	if v["layers"] != "0,1,3,4" || !strings.Contains(v["layerQueries"], `"where":"(Status = 'open') OR (Priority >= 4)"`) {
		t.Errorf("request: layers=%s layerQueries=%s", v["layers"], v["layerQueries"])
	}

	p.DestinationTableRowFilter = RowFilterAll
	if o := overridesFor(t, task, p).GenerateGeodatabase[ServiceKey(fieldSurvey)].LayerOption(3); o.QueryOption != QueryAll {
		t.Errorf("destination table, all rows: %+v", o)
	}
	p.DefinitionExpressionFilterEnabled = false
	g = overridesFor(t, task, p).GenerateGeodatabase[ServiceKey(fieldSurvey)]
	if g.LayerOption(0).WhereClause != "" || g.LayerOption(1).WhereClause != "" {
		t.Errorf("filter disabled but where clauses remain: %+v %+v", g.LayerOption(0), g.LayerOption(1))
	}
	p.IncludeTableRows = false
	g = overridesFor(t, task, p).GenerateGeodatabase[ServiceKey(fieldSurvey)]
	if g.LayerOption(3).QueryOption != QueryNone || g.LayerOption(4).QueryOption != QueryNone {
		t.Errorf("includeRows false: %+v %+v", g.LayerOption(3), g.LayerOption(4))
	}
	// One fetch per service even with several references to it.
	if n := f.called(fieldSurvey); n != 1 {
		t.Errorf("feature service fetched %d times", n)
	}
}

func TestRemoveLayerOmitsIt(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, relatedMap)
	ov := overridesFor(t, task, defaults(t, task))
	g := ov.GenerateGeodatabase[ServiceKey(fieldSurvey)]
	if !g.RemoveLayer(1) || g.RemoveLayer(1) {
		t.Fatal("RemoveLayer")
	}
	v := replicaValues(t, ov, fieldSurvey)
	if v["layers"] != "0,3,4" || strings.Contains(v["layerQueries"], `"1":`) {
		t.Errorf("removed layer still requested: %s %s", v["layers"], v["layerQueries"])
	}
	g.LayerOptions = nil
	if _, err := CreateReplicaRequest(g, ReplicaRequestOptions{}); err == nil {
		t.Errorf("replica without layers must be refused")
	}
}

func TestOnlineOnlyOptions(t *testing.T) {
	f := loadFake(t)
	task := fileTask(t, f, filepath.Join("testdata", "webmaps", "survey-offline.json"))
	ctx := context.Background()
	dyn := ServiceKey("http://example.com/arcgis/rest/services/Dynamic_Layers/MapServer")
	traffic := ServiceKey("http://example.com/arcgis/rest/services/Traffic/MapServer")
	wms := Key(NormalizeURL("http://example.com/ogc/wms"))
	secure := LayerKey("http://example.com/arcgis/rest/services/Secure/FeatureServer", 0)
	for _, tc := range []struct {
		opt                OnlineOnlyOption
		online             []Key
		excluded           []Key
		inspectionsOffline bool
	}{
		{OnlineOnlyExclude, nil, []Key{dyn, traffic, wms, secure}, true},
		{OnlineOnlyInclude, []Key{dyn, traffic, wms}, []Key{secure}, true},
		{OnlineOnlyUseAuthoredSettings, []Key{traffic}, []Key{dyn, wms, secure}, true},
	} {
		p := defaults(t, task)
		p.OnlineOnlyServicesOption = tc.opt
		caps, err := task.Capabilities(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ov := overridesFor(t, task, p)
		for _, k := range tc.online {
			c := caps.Get(k)
			if !c.RemainsOnline || c.Method != MethodOnlineOnly || c.Error {
				t.Errorf("%s: %s should stay online: %+v", tc.opt, k, c)
			}
			if !containsKey(ov.OnlineLayers, k) {
				t.Errorf("%s: %s not in onlineLayers %v", tc.opt, k, ov.OnlineLayers)
			}
		}
		for _, k := range tc.excluded {
			c := caps.Get(k)
			if c.RemainsOnline || c.Method != MethodNone || !c.Error {
				t.Errorf("%s: %s should be left out: %+v", tc.opt, k, c)
			}
			if containsKey(ov.OnlineLayers, k) {
				t.Errorf("%s: %s listed online", tc.opt, k)
			}
		}
		if !caps.HasErrors {
			t.Errorf("%s: secure layer is an error in every mode", tc.opt)
		}
		if c := caps.Get(LayerKey(fieldSurvey, 0)); c.Method != MethodReplica || !c.SupportsOffline {
			t.Errorf("%s: inspections %+v", tc.opt, c)
		}
	}
}

func containsKey(ks []Key, k Key) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

func TestBasemapOptions(t *testing.T) {
	f := loadFake(t)
	task := fileTask(t, f, filepath.Join("testdata", "webmaps", "survey-offline.json"))
	ctx := context.Background()
	labels := ServiceKey("http://example.com/arcgis/rest/services/Labels/VectorTileServer")
	basemap := ServiceKey(demoBasemap)

	p := defaults(t, task)
	ov := overridesFor(t, task, p)
	if ov.ExportTileCache[basemap] == nil || ov.ExportVectorTiles[labels] == nil || ov.ReferenceBasemap != nil {
		t.Fatalf("include basemap: %+v", ov)
	}
	if got := ov.ExportTileCache[basemap].LevelIDs; LevelRanges(got) != "12-16" {
		t.Errorf("levels for 1:150000..1:5000: %v", got)
	}
	if got := ov.ExportVectorTiles[labels].MaxLevel; got != 15 {
		t.Errorf("vector max level %d", got)
	}

	p.IncludeBasemap = false
	caps, _ := task.Capabilities(ctx, p)
	ov = overridesFor(t, task, p)
	if len(ov.ExportTileCache) != 0 || len(ov.ExportVectorTiles) != 0 {
		t.Errorf("includeBasemap false still exports: %+v %+v", ov.ExportTileCache, ov.ExportVectorTiles)
	}
	if c := caps.Get(basemap); c.Reason != ReasonBasemapExcluded || c.Error || c.Method != MethodNone {
		t.Errorf("excluded basemap capability %+v", c)
	}

	// Reference basemap on the device.
	dir := t.TempDir()
	p = defaults(t, task)
	p.ReferenceBasemapDirectory = dir
	err := task.Validate(ctx, p, nil, filepath.Join(t.TempDir(), "out"))
	if !HasCode(err, ErrReferenceBasemapMissing) {
		t.Errorf("missing reference basemap: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Demo_Basemap.tpkx"), []byte("tpkx"), 0o644); err != nil {
		t.Fatal(err)
	}
	ov = overridesFor(t, task, p)
	if err := task.Validate(ctx, p, ov, filepath.Join(t.TempDir(), "out")); err != nil {
		t.Fatal(err)
	}
	if ov.ReferenceBasemap == nil || ov.ReferenceBasemap.Path != filepath.Join(dir, "Demo_Basemap.tpkx") ||
		len(ov.ReferenceBasemap.Replaces) != 2 || len(ov.ExportTileCache) != 0 || len(ov.ExportVectorTiles) != 0 {
		t.Errorf("reference basemap overrides: %+v", ov)
	}
	caps, _ = task.Capabilities(ctx, p)
	if c := caps.Get(basemap); c.Method != MethodReferenceBasemap || !c.SupportsOffline {
		t.Errorf("reference basemap capability %+v", c)
	}
}

func TestAreaOfInterestForms(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, attachmentsMap)
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		aoi      *arcgis.Geometry
		inSR     string
		rings    int
		geomType string
	}{
		{"wgs84 envelope", demoArea(), `{"wkid":4326}`, 1, arcgis.GeometryPolygon},
		{"web mercator polygon", poly(102100, [][]float64{{-13052769, 4024252}, {-13052769, 4040394}, {-13036072, 4040394}, {-13036072, 4024252}, {-13052769, 4024252}}), `{"wkid":102100}`, 1, arcgis.GeometryPolygon},
		{"map SR by default", poly(0, [][]float64{{-13052769, 4024252}, {-13052769, 4040394}, {-13036072, 4040394}}), `{"wkid":102100}`, 1, arcgis.GeometryPolygon},
		{"across the antimeridian", env(179, -17, -179, -16, 4326), `{"wkid":4326}`, 2, arcgis.GeometryPolygon},
	} {
		p, err := task.CreateDefaultParameters(ctx, tc.aoi, 0, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ov := overridesFor(t, task, p)
		v := replicaValues(t, ov, fieldSurvey)
		var g arcgis.Geometry
		if err := json.Unmarshal([]byte(v["geometry"]), &g); err != nil {
			t.Fatal(err)
		}
		if v["inSR"] != tc.inSR || len(g.Rings) != tc.rings || v["geometryType"] != tc.geomType {
			t.Errorf("%s: inSR %s, %d rings, %s", tc.name, v["inSR"], len(g.Rings), v["geometryType"])
		}
		if et := ov.ExportTileCache[ServiceKey(demoBasemap)]; et == nil || len(et.AreaOfInterest.Rings) != tc.rings {
			t.Errorf("%s: tile area %+v", tc.name, et)
		}
	}
	if _, err := task.CreateDefaultParameters(ctx, poly(4326, [][]float64{{0, 0}, {10, 10}, {10, 0}, {0, 10}, {0, 0}}), 0, 0); !HasCode(err, ErrAOISelfIntersects) {
		t.Errorf("self-intersecting area: %v", err)
	}
	if _, err := task.CreateDefaultParameters(ctx, demoArea(), 1000, 50000); !HasCode(err, ErrScales) {
		t.Errorf("inverted scales: %v", err)
	}
	if _, err := task.CreateOverrides(ctx, &Parameters{}); !HasCode(err, ErrAOIEmpty) {
		t.Errorf("overrides without area: %v", err)
	}
}

func TestLevelIDs(t *testing.T) {
	lods := []arcgis.LOD{{Level: 0, Scale: 591657527.591555}, {Level: 1, Scale: 295828763.795777}, {Level: 2, Scale: 147914381.897889},
		{Level: 3, Scale: 73957190.948944}, {Level: 4, Scale: 36978595.474472}}
	for _, tc := range []struct {
		min, max float64
		want     string
	}{
		{0, 0, "0-4"},
		{300000000, 0, "1-4"},
		{0, 100000000, "0-2"},
		{296000000, 73957190.948944, "1-3"},
		{200000000, 180000000, "2"}, // between levels: the nearest
		{100, 50, "4"},
	} {
		if got := LevelRanges(LevelIDs(lods, tc.min, tc.max)); got != tc.want {
			t.Errorf("LevelIDs(%v, %v) = %s, want %s", tc.min, tc.max, got, tc.want)
		}
	}
	if got := LevelRanges([]int{7, 0, 1, 2, 9, 10}); got != "0-2,7,9-10" {
		t.Errorf("LevelRanges = %s", got)
	}
}

func TestExportRequests(t *testing.T) {
	a, err := PrepareAOI(demoArea(), nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ExportTilesRequest(&ExportTileCacheParameters{ServiceURL: demoBasemap, AreaOfInterest: a.Geometry, LevelIDs: []int{3, 4, 5, 8}, CompressionQuality: 75})
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("levels") != "3-5,8" || v.Get("exportBy") != "LevelID" || v.Get("tilePackage") != "true" ||
		v.Get("compressionQuality") != "75" || v.Get("optimizeTilesForSize") != "true" ||
		v.Get("exportExtent") != `{"xmin":-117.25,"ymin":33.98,"xmax":-117.1,"ymax":34.1,"spatialReference":{"wkid":4326}}` ||
		!strings.HasPrefix(v.Get("polygon"), `{"rings":[[[-117.25,33.98]`) {
		t.Errorf("exportTiles values %v", v)
	}
	v, _ = ExportTilesRequest(&ExportTileCacheParameters{AreaOfInterest: a.Geometry, LevelIDs: []int{1}, CompressionQuality: -1})
	if v.Has("compressionQuality") || v.Has("optimizeTilesForSize") {
		t.Errorf("compression -1 must keep tiles: %v", v)
	}
	if _, err := ExportTilesRequest(&ExportTileCacheParameters{AreaOfInterest: a.Geometry}); err == nil {
		t.Errorf("no levels must fail")
	}
	v, err = ExportVectorTilesRequest(&ExportVectorTilesParameters{AreaOfInterest: a.Geometry, MaxLevel: 6})
	if err != nil || v.Get("levels") != "0-6" {
		t.Errorf("vector export %v %v", v, err)
	}
}

func TestSnapshotQueries(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, `{"spatialReference":{"wkid":102100},"operationalLayers":[
	  {"id":"z","layerType":"ArcGISFeatureLayer","url":"`+refData+`/0","layerDefinition":{"definitionExpression":"Kind = 'A'"}}],"baseMap":{"baseMapLayers":[]}}`)
	ov := overridesFor(t, task, defaults(t, task))
	g := ov.GenerateGeodatabase[ServiceKey(refData)]
	if g == nil || !g.Snapshot || g.SyncModel != SyncModelNone {
		t.Fatalf("snapshot parameters %+v", g)
	}
	if _, err := CreateReplicaRequest(g, ReplicaRequestOptions{}); err == nil {
		t.Errorf("snapshot must not create a replica")
	}
	v, ok, err := QueryRequest(g, 0)
	if err != nil || !ok || v.Get("where") != "Kind = 'A'" || v.Get("spatialRel") != "esriSpatialRelIntersects" || v.Get("outFields") != "*" {
		t.Errorf("query %v %v %v", v, ok, err)
	}
	g.LayerOption(0).QueryOption = QueryNone
	if _, ok, _ := QueryRequest(g, 0); ok {
		t.Errorf("schema-only layer must not be queried")
	}
	if _, _, err := QueryRequest(g, 5); err == nil {
		t.Errorf("unknown layer must fail")
	}
}

func TestItemInfoFromPortal(t *testing.T) {
	f := loadFake(t)
	raw, err := os.ReadFile(filepath.Join("testdata", "fixtures", "portal-item-webmap.arcrestgo.json"))
	if err != nil {
		t.Fatal(err)
	}
	var item arcgis.Item
	if err := json.Unmarshal(raw, &item); err != nil {
		t.Fatal(err)
	}
	item.ID, item.Title, item.Snippet = "abc123", "Field survey", "Inspections"
	f.items["abc123"] = &item
	f.data["abc123"] = json.RawMessage(attachmentsMap)
	ctx := context.Background()
	task, err := NewTask(ctx, Source{PortalURL: "http://example.com/sharing/rest", ItemID: "abc123"}, f, f)
	if err != nil {
		t.Fatal(err)
	}
	p := defaults(t, task)
	if p.ItemInfo.Title != "Field survey" || p.ItemInfo.Snippet != "Inspections" || p.ItemInfo.Thumbnail != "thumbnail/ago_downloaded.png" ||
		strings.Join(p.ItemInfo.Tags, ",") != "World,Global,United States" {
		t.Errorf("item info %+v", p.ItemInfo)
	}
	// Override: a new title and a local thumbnail that must exist.
	p.ItemInfo.Title = "Field survey — district 4"
	p.ItemInfo.ThumbnailFile = filepath.Join(t.TempDir(), "thumb.png")
	if err := task.Validate(ctx, p, nil, filepath.Join(t.TempDir(), "o")); !HasCode(err, ErrThumbnailMissing) {
		t.Errorf("missing thumbnail: %v", err)
	}
	if err := os.WriteFile(p.ItemInfo.ThumbnailFile, []byte{0x89, 'P', 'N', 'G'}, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := task.Validate(ctx, p, nil, filepath.Join(t.TempDir(), "o")); err != nil {
		t.Errorf("overridden item info: %v", err)
	}
	b, _ := json.Marshal(p)
	if !strings.Contains(string(b), `"title":"Field survey — district 4"`) {
		t.Errorf("override not in parameters JSON: %s", b)
	}

	// A non-web-map item is refused; an unknown one carries the portal error.
	f.items["svc"] = &arcgis.Item{ID: "svc", Type: "Feature Service"}
	if _, err := NewTask(ctx, Source{ItemID: "svc"}, f, f); !HasCode(err, ErrSource) {
		t.Errorf("feature service item: %v", err)
	}
	if _, err := NewTask(ctx, Source{ItemID: "nope"}, f, f); err == nil || ErrorCode(err) != 400 {
		t.Errorf("unknown item: %v", err)
	}
}

func TestSources(t *testing.T) {
	f := loadFake(t)
	ctx := context.Background()
	for _, s := range []Source{{}, {ItemID: "a", File: "b"}, {WebMapURL: "ftp://x/y"}, {WebMapURL: "not a url"}} {
		if _, err := NewTask(ctx, s, f, f); !HasCode(err, ErrSource) {
			t.Errorf("%+v: %v", s, err)
		}
	}
	f.docs[NormalizeURL("http://example.com/maps/field.json")] = json.RawMessage(attachmentsMap)
	task, err := NewTask(ctx, Source{WebMapURL: "http://example.com/maps/field.json"}, nil, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Entries()) != 4 || task.Entry(LayerKey(fieldSurvey, 0)) == nil {
		t.Errorf("entries from URL source: %d", len(task.Entries()))
	}
	if _, err := NewTask(ctx, Source{File: filepath.Join(t.TempDir(), "missing.json")}, nil, f); err == nil {
		t.Errorf("missing file")
	}
	if _, err := NewTask(ctx, Source{ItemID: "x"}, nil, f); err == nil {
		t.Errorf("item source without portal")
	}
	if s := (Source{ItemID: "x", PortalURL: "https://p"}).String(); !strings.Contains(s, "x") {
		t.Errorf("String() = %q", s)
	}
}

func TestVectorTileStyleResolution(t *testing.T) {
	f := loadFake(t)
	task := fileTask(t, f, filepath.Join("testdata", "fixtures", "webmap-vtl-basemap.arcgis-rest-js.json"))
	want := ServiceKey("https://basemaps.arcgis.com/arcgis/rest/services/World_Basemap_v2/VectorTileServer")
	e := task.Entry(want)
	if e == nil || e.Service.Type != VectorTileServer {
		t.Fatalf("style not resolved to its VectorTileServer: %+v", task.Entries())
	}
	// Through the portal: the item's url names the service.
	f.items["vt"] = &arcgis.Item{ID: "vt", Type: "Vector Tile Service", URL: "http://example.com/arcgis/rest/services/Labels/VectorTileServer"}
	f.items["wm"] = &arcgis.Item{ID: "wm", Type: "Web Map", Title: "m"}
	f.data["wm"] = json.RawMessage(`{"operationalLayers":[],"baseMap":{"baseMapLayers":[{"id":"v","layerType":"VectorTileLayer","itemId":"vt","styleUrl":"http://nowhere/style.json"}]}}`)
	task, err := NewTask(context.Background(), Source{ItemID: "wm"}, f, f)
	if err != nil {
		t.Fatal(err)
	}
	if task.Entry(ServiceKey("http://example.com/arcgis/rest/services/Labels/VectorTileServer")) == nil {
		t.Errorf("item url not used: %+v", task.Entries()[0])
	}
}

// TestPersistRoundTrip: the job journals parameters and overrides as JSON;
// what it reads back must produce the same requests.
func TestPersistRoundTrip(t *testing.T) {
	f := loadFake(t)
	task := fileTask(t, f, filepath.Join("testdata", "webmaps", "survey-offline.json"))
	p := defaults(t, task)
	ov := overridesFor(t, task, p)
	pb, _ := json.Marshal(p)
	ob, _ := json.Marshal(ov)
	var p2 Parameters
	var ov2 Overrides
	if err := json.Unmarshal(pb, &p2); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ob, &ov2); err != nil {
		t.Fatal(err)
	}
	pb2, _ := json.Marshal(&p2)
	ob2, _ := json.Marshal(&ov2)
	if string(pb) != string(pb2) || string(ob) != string(ob2) {
		t.Fatalf("JSON round trip differs:\n%s\n%s", ob, ob2)
	}
	a, b := requestsOf(t, ov), requestsOf(t, &ov2)
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	if string(ab) != string(bb) {
		t.Errorf("requests differ after round trip")
	}
	if err := task.Validate(context.Background(), &p2, &ov2, filepath.Join(t.TempDir(), "o")); err != nil {
		t.Errorf("restored parameters: %v", err)
	}
}

func TestFeatureLayerInBasemap(t *testing.T) {
	f := loadFake(t)
	task := mapTask(t, f, `{"spatialReference":{"wkid":102100},"operationalLayers":[
	  {"id":"a","layerType":"ArcGISFeatureLayer","url":"`+fieldSurvey+`/0"}],
	  "baseMap":{"baseMapLayers":[{"id":"parcels","layerType":"ArcGISFeatureLayer","url":"`+fieldSurvey+`/2"}]}}`)
	p := defaults(t, task)
	if g := overridesFor(t, task, p).GenerateGeodatabase[ServiceKey(fieldSurvey)]; !reflect.DeepEqual(g.LayerIDs(), []int{0, 2}) {
		t.Errorf("basemap feature layer not taken: %v", g.LayerIDs())
	}
	p.IncludeBasemap = false
	if g := overridesFor(t, task, p).GenerateGeodatabase[ServiceKey(fieldSurvey)]; !reflect.DeepEqual(g.LayerIDs(), []int{0}) {
		t.Errorf("includeBasemap false still takes the basemap feature layer: %v", g.LayerIDs())
	}
}

func TestConcurrentFetchAndCancel(t *testing.T) {
	f := loadFake(t)
	f.delay = 20 * time.Millisecond
	task := fileTask(t, f, filepath.Join("testdata", "webmaps", "survey-offline.json"))
	// Canceled mid-way: an error, and nothing canceled is remembered.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	_, err := task.Capabilities(ctx, nil)
	cancel()
	if err == nil {
		t.Fatal("canceled capabilities returned no error")
	}
	f.delay = 10 * time.Millisecond
	start := time.Now()
	caps, err := task.Capabilities(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := caps.Get(LayerKey(fieldSurvey, 0)); c.Method != MethodReplica {
		t.Errorf("after a canceled run: %+v", c)
	}
	if f.maxIn < 2 || f.maxIn > fetchConcurrency {
		t.Errorf("max concurrent requests %d, want 2..%d", f.maxIn, fetchConcurrency)
	}
	t.Logf("capabilities in %v, %d requests, at most %d at once", time.Since(start), len(f.calls), f.maxIn)
	// Each service and layer is fetched once across both calls' successes.
	if n := f.called(fieldSurvey + "/0"); n > 2 {
		t.Errorf("layer fetched %d times", n)
	}
}

func TestSnapshotQueryParams(t *testing.T) {
	a, _ := PrepareAOI(demoArea(), nil)
	g := &GenerateGeodatabaseParameters{ServiceURL: refData, Snapshot: true, SyncModel: SyncModelNone, Extent: a.Geometry,
		OutSpatialReference: &arcgis.SpatialReference{WKT: `PROJCS["local"]`},
		LayerOptions:        []*GenerateLayerOption{{LayerID: 0, QueryOption: QueryUseFilter, WhereClause: "A = 1", UseGeometry: true}, {LayerID: 1, QueryOption: QueryNone}}}
	p, ok, err := SnapshotQueryParams(g, 0)
	if err != nil || !ok {
		t.Fatal(err)
	}
	if p.Where != "A = 1" || p.InSR != 4326 || p.OutSR != 0 || p.Extra.Get("outSR") != `{"wkt":"PROJCS[\"local\"]"}` ||
		p.GeometryType != arcgis.GeometryPolygon || p.SpatialRel != "esriSpatialRelIntersects" || *p.ReturnGeometry != true {
		t.Errorf("query params %+v", p)
	}
	if _, ok, _ := SnapshotQueryParams(g, 1); ok {
		t.Errorf("schema-only layer")
	}
}
