package arcgis

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fixtureChecks parses every fixture in testdata into its typed struct and
// asserts values read from it.
var fixtureChecks = map[string]func(t *testing.T, b []byte){
	"applyedits-attachments-param.docs-example.json": func(t *testing.T, b []byte) {
		var a ApplyAttachmentEdits
		mustUnmarshal(t, b, &a)
		if len(a.Adds) != 2 || a.Adds[0].UploadID != "{DD1D0A30-CD6E-4ad7-A516-C2468FD95E5E}" || a.Adds[1].Data == "" ||
			a.Adds[0].ParentGlobalID != "{02041AEF-4174-4d81-8A98-D7AC5B9F4C2F}" || len(a.Updates) != 1 || len(a.Deletes) != 2 {
			t.Errorf("attachments = %+v", a)
		}
	},
	"errors-token.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		var m map[string]json.RawMessage
		mustUnmarshal(t, b, &m)
		for k, v := range m {
			if e, ok := ParseError(v); !ok || e.Code == 0 || e.Message == "" {
				t.Errorf("%s: ParseError = %+v, %v", k, e, ok)
			}
		}
		if len(m) != 8 {
			t.Errorf("%d error bodies, want 8", len(m))
		}
	},
	"featureserver-layer.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		var l Layer
		mustUnmarshal(t, b, &l)
		if l.Name != "Service Requests" || l.ObjectIDField != "objectid" || l.GlobalIDField != "globalid" || len(l.Fields) != 11 ||
			l.Field("OBJECTID") == nil || l.Field("objectid").Type != FieldOID || l.Relationships[0].KeyField != "requestid" ||
			l.Relationships[0].Cardinality != "esriRelCardinalityOneToMany" || !l.AdvancedQueryCapabilities.SupportsPagination ||
			l.MaxRecordCount != 1000 || !HasCapability(l.Capabilities, "uploads") || l.IsTable() {
			t.Errorf("layer = %+v", l)
		}
	},
	"featureserver-layer.arcrestgo.json": func(t *testing.T, b []byte) {
		var l Layer
		mustUnmarshal(t, b, &l)
		if l.ObjectIDField != "OBJECTID" || l.GlobalIDField != "GlobalID" || l.EditFieldsInfo == nil || l.EditFieldsInfo.EditorField != "Editor" ||
			!HasCapability(l.Capabilities, "Sync") || !l.AdvancedQueryCapabilities.SupportsQueryWithResultType {
			t.Errorf("layer = %+v", l)
		}
	},
	"featureserver-service.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		var s FeatureService
		mustUnmarshal(t, b, &s)
		sc := s.SyncCapabilities
		if sc == nil || !sc.SupportsAsync || !sc.SupportsPerLayerSync || sc.SupportsPerReplicaSync || sc.SupportedSyncDataOptions != 3 ||
			s.MaxRecordCount != 1000 || len(s.Layers) == 0 || s.Layers[0].Name != "Sitings" || s.Layers[0].ParentLayerID != -1 ||
			s.SpatialReference.EPSG() == 0 {
			t.Errorf("service = %+v sync=%+v", s, sc)
		}
	},
	"featureserver-service.arcrestgo.json": func(t *testing.T, b []byte) {
		var s FeatureService
		mustUnmarshal(t, b, &s)
		sc := s.SyncCapabilities
		if !s.SyncEnabled || sc == nil || !sc.SupportsAsync || !sc.SupportsSyncModelNone || !sc.SupportsAttachmentsSyncDirection ||
			s.MaxRecordCount != 2000 || !HasCapability(s.Capabilities, "sync") || !s.SupportsApplyEditsWithGlobalIDs {
			t.Errorf("service = %+v", s)
		}
	},
	"gdb-serviceitems-featureserver.arcrestgo.json": func(t *testing.T, b []byte) {
		var s FeatureService
		mustUnmarshal(t, b, &s)
		if s.MaxRecordCount != 1000 || len(s.Layers) == 0 || s.Layers[0].Name != "Homesites" || s.Layers[0].ID != 8 || !s.SyncEnabled {
			t.Errorf("service = %+v", s)
		}
	},
	"gp-job-statuses.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		want := map[string]struct {
			status string
			done   bool
		}{"GPJobIdResponse": {JobSubmitted, false}, "GPJobInfoWithResults": {JobSucceeded, true}, "failedState": {JobFailed, true},
			"mockCancelledState": {JobCancelled, true}, "GPJobInfoFailure": {"error", true}}
		for k, w := range want {
			var st JobStatus
			mustUnmarshal(t, mustSub(t, b, k), &st)
			if st.JobStatus != w.status || st.Done() != w.done {
				t.Errorf("%s: status %q done %v", k, st.JobStatus, st.Done())
			}
		}
		var ok, failed JobStatus
		mustUnmarshal(t, mustSub(t, b, "GPJobInfoWithResults"), &ok)
		mustUnmarshal(t, mustSub(t, b, "failedState"), &failed)
		if ok.Results["Output_Features"].ParamURL != "results/output_features" {
			t.Errorf("results = %+v", ok.Results)
		}
		if msgs := failed.ErrorMessages(); len(msgs) != 1 || msgs[0] != "Failed" || failed.StatusCode != 400 {
			t.Errorf("failed messages = %v", msgs)
		}
	},
	"mapserver-tiled.arcrestgo.json": func(t *testing.T, b []byte) {
		var m MapService
		mustUnmarshal(t, b, &m)
		ti := m.TileInfo
		if !m.IsCached() || ti.Rows != 256 || ti.DPI != 96 || ti.Format != "PNG" || len(ti.LODs) != 20 || ti.LODs[0].Resolution != 156543.033928 ||
			ti.Origin.X != -20037508.342787 || !ti.SpatialReference.IsWebMercator() || m.Storage().PacketSize != 128 || m.ExportTilesAllowed ||
			m.MaxExportTilesCount != 100000 || m.FullExtent.XMin != -12354045.957299948 {
			t.Errorf("map service = %+v", m)
		}
	},
	"portal-item-webmap.arcrestgo.json": func(t *testing.T, b []byte) {
		var it Item
		mustUnmarshal(t, b, &it)
		if it.Type != "Web Map" || !it.HasTypeKeyword("Offline") || it.Thumbnail != "thumbnail/ago_downloaded.png" ||
			len(it.Extent) != 2 || it.Extent[1][1] != 85 || it.Access != "private" || it.Created != 1463147189931 {
			t.Errorf("item = %+v", it)
		}
	},
	"portal-search.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		var s SearchResult
		mustUnmarshal(t, b, &s)
		if s.Total != 10795 || s.NextStart != -1 || len(s.Results) != 1 || s.Results[0].Type != "Feature Service" ||
			!strings.HasSuffix(s.Results[0].URL, "/FeatureServer") {
			t.Errorf("search = %+v", s)
		}
	},
	"portal-search.arcrestgo.json": func(t *testing.T, b []byte) {
		var s SearchResult
		mustUnmarshal(t, b, &s)
		if s.Total != 1 || s.Num != 100 || s.NextStart != -1 || s.Results[0].ID != "7af4318fc298486f9ff8032376f8cbe0" || !s.Results[0].HasTypeKeyword("collector") {
			t.Errorf("search = %+v", s)
		}
	},
	"portals-self.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		var p PortalSelf
		mustUnmarshal(t, b, &p)
		if p.ID != "LjjARY1mkhxulWPq" || p.URLKey != "dc" || p.IsPortal || p.CustomBaseURL != "mapsdevext.arcgis.com" || !p.SupportsOAuth ||
			p.CurrentVersion != "5.4" || len(p.DefaultVectorBasemap) < 10 || p.User == nil {
			t.Errorf("portals/self = %+v", p)
		}
	},
	"portals-self.arcrestgo.json": func(t *testing.T, b []byte) {
		var p PortalSelf
		mustUnmarshal(t, b, &p)
		if p.PortalHostname != "www.arcgis.com" || !p.SupportsOAuth || p.MaxTokenExpirationMinutes != -1 || p.User == nil ||
			p.User.Role != "org_admin" || len(p.User.Privileges) == 0 || len(p.HelperServices.Geocode) == 0 ||
			p.DefaultExtent == nil || p.DefaultExtent.SpatialReference.EPSG() != 3857 {
			t.Errorf("portals/self = %+v", p)
		}
	},
	"replica-info.gis-maine-gov.json": func(t *testing.T, b []byte) {
		var r Replica
		mustUnmarshal(t, b, &r)
		lq, err := r.LayerQueries()
		if err != nil || len(lq) != 1 || *lq[0].ID != 0 || lq[0].QueryOption != "useFilter" || !*lq[0].UseGeometry || lq[0].Where != "(DRAW='Yes' AND PUBLISH='Yes')" {
			t.Errorf("layer queries = %+v, %v", lq, err)
		}
		if r.ReplicaID != "C359563A-A4E3-46A9-AFAC-6765B3AC37DB" || r.SyncModel != SyncModelPerLayer || r.LayerServerGens[0].ServerGen != 1746014194603 ||
			r.SyncDataOptions != 4 || r.Geometry.Type() != GeometryEnvelope || r.SpatialReference.EPSG() != 3857 || !r.ReturnAttachments {
			t.Errorf("replica = %+v", r)
		}
	},
	"sharing-rest-info.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		var p PortalInfo
		mustUnmarshal(t, b, &p)
		if p.OwningSystemURL != "http://www.arcgis.com" || !p.AuthInfo.IsTokenBasedSecurity || !strings.HasSuffix(p.AuthInfo.TokenServicesURL, "/generateToken") {
			t.Errorf("info = %+v", p)
		}
	},
	"upload-response.docs-example.json": func(t *testing.T, b []byte) {
		var u UploadResponse
		mustUnmarshal(t, b, &u)
		if !u.Success || u.Item.ItemID != "ib740c7bb-e5d0-4156-9cea-12fa7d3a472c" || u.Item.ItemName != "lake.tif" || !u.Item.Committed || u.Item.Date != 1246060800000 {
			t.Errorf("upload = %+v", u)
		}
	},
	"vectortileserver-root.docs-example.json": func(t *testing.T, b []byte) {
		var v VectorTileService
		mustUnmarshal(t, b, &v)
		if v.Type != "indexedVector" || v.TileTemplate() != "tile/{z}/{y}/{x}.pbf" || v.TileInfo.Rows != 512 || len(v.TileInfo.LODs) != 20 ||
			v.Storage().StorageFormat != "compactV2" || v.ResourceInfo.TileCompression != "gzip" || v.MaxExportTilesCount != 10000 || !v.ExportTilesAllowed {
			t.Errorf("vector tile service = %+v", v)
		}
	},
	"vts-exporttiles-jobstatus-enterprise.docs-example.json": func(t *testing.T, b []byte) {
		var st JobStatus
		mustUnmarshal(t, b, &st)
		if st.JobStatus != JobSucceeded || st.Results["out_service_url"].ParamURL != "results/out_service_url" || len(st.Inputs) != 12 ||
			len(st.Messages) != 2 || st.Messages[0].Type != JobMessageInformative || len(st.ErrorMessages()) != 0 {
			t.Errorf("job = %+v", st)
		}
	},
	"vts-exporttiles-jobstatus-online.docs-example.json": func(t *testing.T, b []byte) {
		var st JobStatus
		mustUnmarshal(t, b, &st)
		if st.JobStatus != JobSucceeded || st.Type != "EXPORTTILES" || st.EstimatedNumTiles != 28 || len(st.Output.OutputURL) != 1 ||
			!hasExt(st.Output.OutputURL[0], []string{".vtpk"}) || st.Extent.Type() != GeometryEnvelope {
			t.Errorf("job = %+v", st)
		}
	},
	"vts-exporttiles-submit.docs-example.json": func(t *testing.T, b []byte) {
		var ent, online JobStatus
		mustUnmarshal(t, mustSub(t, b, "arcgisEnterprise"), &ent)
		mustUnmarshal(t, mustSub(t, b, "arcgisOnline"), &online)
		if ent.JobID != "j5ed98befb0f64c3db7cdf713d3157c2b_et" || ent.JobStatus != JobSubmitted || online.JobID != "b79884b278a0e325" || online.Type != "Vector Tile Service" {
			t.Errorf("submit = %+v / %+v", ent, online)
		}
	},
	"webmap-data-basic.arcrestgo.json": func(t *testing.T, b []byte) {
		wm := decodeTestWebMap(t, b)
		if wm.Version != "2.2" || len(wm.BaseMap.BaseMapLayers) != 1 || wm.BaseMap.BaseMapLayers[0].LayerType != "ArcGISTiledMapServiceLayer" ||
			!strings.HasSuffix(wm.BaseMap.BaseMapLayers[0].URL, "/MapServer") || wm.SpatialReference.EPSG() != 3857 {
			t.Errorf("web map = %+v", wm)
		}
	},
	"webmap-vtl-basemap.arcgis-rest-js.json": func(t *testing.T, b []byte) {
		wm := decodeTestWebMap(t, b)
		if wm.Version != "2.8" || len(wm.OperationalLayers) != 1 || wm.OperationalLayers[0].LayerType != "ArcGISFeatureLayer" ||
			wm.BaseMap.BaseMapLayers[0].LayerType != "VectorTileLayer" || !strings.HasSuffix(wm.BaseMap.BaseMapLayers[0].StyleURL, "/resources/styles/root.json") {
			t.Errorf("web map = %+v", wm)
		}
	},
}

// testWebMap is the part of a web map this package's tests read (the full
// model lives in package offline).
type testWebMap struct {
	Version           string            `json:"version"`
	SpatialReference  *SpatialReference `json:"spatialReference"`
	OperationalLayers []testWebMapLayer `json:"operationalLayers"`
	BaseMap           struct {
		BaseMapLayers []testWebMapLayer `json:"baseMapLayers"`
	} `json:"baseMap"`
}

type testWebMapLayer struct {
	LayerType string `json:"layerType"`
	URL       string `json:"url"`
	StyleURL  string `json:"styleUrl"`
}

func decodeTestWebMap(t *testing.T, b []byte) testWebMap {
	var wm testWebMap
	mustUnmarshal(t, b, &wm)
	return wm
}

func TestFixturesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			check, ok := fixtureChecks[name]
			if !ok {
				t.Fatalf("fixture %s has no parse check", name)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			check(t, b)
		})
	}
	if len(files) != len(fixtureChecks) {
		t.Errorf("%d fixtures, %d checks", len(files), len(fixtureChecks))
	}
}

func TestFixturesMatchShared(t *testing.T) {
	shared, _ := filepath.Glob("/work/shared/arcgis-fixtures/*.json")
	if len(shared) == 0 {
		t.Skip("shared fixtures not present")
	}
	for _, s := range shared {
		want, _ := os.ReadFile(s)
		got, err := os.ReadFile(filepath.Join("testdata", filepath.Base(s)))
		if err != nil || string(got) != string(want) {
			t.Errorf("testdata/%s differs from the shared fixture (%v)", filepath.Base(s), err)
		}
	}
}
