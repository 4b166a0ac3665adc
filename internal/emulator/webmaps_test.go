package emulator_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files in demo/testdata")

// TestDemoWebMapGolden compares each demo web map (with the request host
// replaced by http://HOST) with its golden document.
func TestDemoWebMapGolden(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	for _, tc := range []struct{ id, golden string }{
		{emulator.DemoWebMapFieldSurveyID, "webmap-field-survey.golden.json"},
		{emulator.DemoWebMapVectorBasemapID, "webmap-vector-basemap.golden.json"},
		{emulator.DemoWebMapDuplicateLayersID, "webmap-duplicate-layers.golden.json"},
		{emulator.DemoWebMapNoOfflineID, "webmap-no-offline.golden.json"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			raw := bytes.ReplaceAll(em.ItemData(t, tok, tc.id), []byte(em.URL), []byte("http://HOST"))
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, raw, "", "  "); err != nil {
				t.Fatalf("web map is not JSON: %v", err)
			}
			pretty.WriteByte('\n')
			testutil.Golden(t, filepath.Join("demo", "testdata", tc.golden), pretty.Bytes(), *update, "update")
		})
	}
}

// webMap is the part of the web map JSON the structural test reads.
type webMap struct {
	OperationalLayers []wmLayer `json:"operationalLayers"`
	Tables            []wmLayer `json:"tables"`
	BaseMap           struct {
		Title         string    `json:"title"`
		BaseMapLayers []wmLayer `json:"baseMapLayers"`
	} `json:"baseMap"`
	SpatialReference struct {
		WKID int `json:"wkid"`
	} `json:"spatialReference"`
	Version               string `json:"version"`
	ApplicationProperties *struct {
		Offline *struct {
			EditableLayers struct{ Download, Sync string } `json:"editableLayers"`
			ReadonlyLayers struct {
				DownloadAttachments *bool `json:"downloadAttachments"`
			} `json:"readonlyLayers"`
			OfflineBasemap struct {
				ReferenceBasemapName string `json:"referenceBasemapName"`
			} `json:"offlinebasemap"`
		} `json:"offline"`
	} `json:"applicationProperties"`
}

type wmLayer struct {
	ID              string    `json:"id"`
	LayerType       string    `json:"layerType"`
	URL             string    `json:"url"`
	StyleURL        string    `json:"styleUrl"`
	IsReference     bool      `json:"isReference"`
	Layers          []wmLayer `json:"layers"`
	MinScale        float64   `json:"minScale"`
	LayerDefinition struct {
		DefinitionExpression string  `json:"definitionExpression"`
		MinScale             float64 `json:"minScale"`
	} `json:"layerDefinition"`
}

// flatten returns every layer, group layers' children included.
func flatten(ls []wmLayer) []wmLayer {
	var out []wmLayer
	for _, l := range ls {
		out = append(out, l)
		out = append(out, flatten(l.Layers)...)
	}
	return out
}

func TestDemoWebMapContents(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	basic := fixture(t, "webmap-data-basic.arcrestgo.json")
	vtl := fixture(t, "webmap-vtl-basemap.arcgis-rest-js.json")
	fs := em.ServicesURL + "/Field_Survey/FeatureServer"
	parse := func(id string) (webMap, obj) {
		raw := em.ItemData(t, tok, id)
		var wm webMap
		var o obj
		if err := json.Unmarshal(raw, &wm); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Fatal(err)
		}
		assertHasKeys(t, id+" vs webmap-data-basic", basic, o)
		assertHasKeys(t, id+" vs webmap-vtl-basemap", vtl, o)
		if !strings.HasPrefix(wm.Version, "2.") || wm.SpatialReference.WKID != 102100 {
			t.Errorf("%s: version %q wkid %d", id, wm.Version, wm.SpatialReference.WKID)
		}
		return wm, o
	}

	t.Run("field survey", func(t *testing.T) {
		wm, _ := parse(emulator.DemoWebMapFieldSurveyID)
		all := flatten(wm.OperationalLayers)
		byURL := map[string]wmLayer{}
		var types []string
		for _, l := range all {
			byURL[l.URL] = l
			types = append(types, l.LayerType)
		}
		for _, want := range []string{fs + "/0", fs + "/1", fs + "/2", em.ServicesURL + "/Reference_Data/FeatureServer/0", em.ServicesURL + "/Dynamic_Layers/MapServer"} {
			if _, ok := byURL[want]; !ok {
				t.Errorf("no operational layer %s", want)
			}
		}
		for _, lt := range []string{"GroupLayer", "ArcGISMapServiceLayer", "WMS", "ArcGISFeatureLayer"} {
			if !slices.Contains(types, lt) {
				t.Errorf("no %s layer (types %v)", lt, types)
			}
		}
		var group wmLayer
		for _, l := range wm.OperationalLayers {
			if l.LayerType == "GroupLayer" {
				group = l
			}
		}
		if len(group.Layers) != 1 || group.Layers[0].URL != fs+"/1" || group.Layers[0].LayerDefinition.DefinitionExpression == "" ||
			group.Layers[0].LayerDefinition.MinScale == 0 {
			t.Errorf("group layer should hold the filtered, scale-limited Pipes layer: %+v", group)
		}
		if byURL[fs+"/2"].MinScale == 0 {
			t.Errorf("Parcels has no scale range")
		}
		if len(wm.Tables) != 1 || wm.Tables[0].URL != fs+"/3" {
			t.Errorf("tables = %+v", wm.Tables)
		}
		bl := wm.BaseMap.BaseMapLayers
		if len(bl) != 2 || bl[0].LayerType != "ArcGISTiledMapServiceLayer" || bl[0].URL != em.ServicesURL+"/Demo_Basemap/MapServer" ||
			!bl[1].IsReference || bl[1].StyleURL != em.ServicesURL+"/Demo_Vector/VectorTileServer/resources/styles/root.json" {
			t.Errorf("basemap layers = %+v", bl)
		}
		off := wm.ApplicationProperties.Offline
		if off == nil || off.EditableLayers.Download != "featuresAndAttachments" || off.EditableLayers.Sync != "syncFeaturesUploadAttachments" ||
			off.ReadonlyLayers.DownloadAttachments == nil || *off.ReadonlyLayers.DownloadAttachments ||
			off.OfflineBasemap.ReferenceBasemapName == "" {
			t.Errorf("offline settings = %+v", off)
		}
	})
	t.Run("vector basemap", func(t *testing.T) {
		wm, _ := parse(emulator.DemoWebMapVectorBasemapID)
		bl := wm.BaseMap.BaseMapLayers
		if len(bl) != 1 || bl[0].LayerType != "VectorTileLayer" || !strings.HasSuffix(bl[0].StyleURL, "/Demo_Vector/VectorTileServer/resources/styles/root.json") {
			t.Errorf("basemap = %+v", bl)
		}
	})
	t.Run("duplicate layers", func(t *testing.T) {
		wm, _ := parse(emulator.DemoWebMapDuplicateLayersID)
		var exprs []string
		for _, l := range wm.OperationalLayers {
			if l.URL == fs+"/0" {
				exprs = append(exprs, l.LayerDefinition.DefinitionExpression)
			}
		}
		if len(exprs) != 2 || exprs[0] == exprs[1] || exprs[0] == "" || exprs[1] == "" {
			t.Errorf("two layers on %s/0 with different filters expected, got %q", fs, exprs)
		}
	})
	t.Run("no offline settings", func(t *testing.T) {
		wm, _ := parse(emulator.DemoWebMapNoOfflineID)
		if wm.ApplicationProperties != nil && wm.ApplicationProperties.Offline != nil {
			t.Errorf("has offline settings: %+v", wm.ApplicationProperties.Offline)
		}
		if len(wm.OperationalLayers) == 0 {
			t.Error("no layers")
		}
	})
	t.Run("districts", func(t *testing.T) {
		for n := 1; n <= emulator.DemoDistrictMaps; n++ {
			wm, _ := parse(emulator.DemoDistrictWebMapID(n))
			hasOffline := wm.ApplicationProperties != nil && wm.ApplicationProperties.Offline != nil
			if hasOffline != (n%2 == 0) || len(wm.OperationalLayers) != 1 || wm.OperationalLayers[0].URL != fs+"/0" {
				t.Errorf("district %d: offline %v layers %+v", n, hasOffline, wm.OperationalLayers)
			}
		}
	})
}

// TestWebMapURLsFollowHost checks the absolute URLs use the request's Host.
func TestWebMapURLsFollowHost(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	tok := signIn(t, em)
	req, _ := http.NewRequest(http.MethodGet, em.PortalURL+"/content/items/"+emulator.DemoWebMapFieldSurveyID+"/data?token="+tok, nil)
	req.Host = "gis.example.test:8443"
	_, b := testutil.Do(t, req)
	if !bytes.Contains(b, []byte(`"http://gis.example.test:8443/arcgis/rest/services/Field_Survey/FeatureServer/0"`)) ||
		bytes.Contains(b, []byte(em.URL)) {
		t.Errorf("URLs do not follow the Host header: %.300s", b)
	}
}
