package demo

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/offlined/offlined/internal/emulator/portal"
	"github.com/offlined/offlined/internal/emulator/tiles"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/project"
)

// Item ids of the demo web maps.
const (
	// DemoWebMapFieldSurveyID is the offline-enabled "Field Survey" map:
	// Field_Survey layers 0-2 (Pipes inside a group layer, with a
	// definitionExpression), table 3, Reference_Data/0, the dynamic
	// Dynamic_Layers map service and a WMS layer (both online-only), basemap
	// Demo_Basemap with a Demo_Vector reference layer, and
	// applicationProperties.offline settings.
	DemoWebMapFieldSurveyID = "0ff11ed0b5e94a3c8d2f000000000001"
	// DemoWebMapVectorBasemapID is an offline-enabled map on the Demo_Vector
	// vector tile basemap.
	DemoWebMapVectorBasemapID = "0ff11ed0b5e94a3c8d2f000000000002"
	// DemoWebMapDuplicateLayersID has two layers on Field_Survey/0 with
	// different definition expressions, plus Field_Survey/1 unfiltered.
	DemoWebMapDuplicateLayersID = "0ff11ed0b5e94a3c8d2f000000000003"
	// DemoWebMapNoOfflineID is a map without offline settings and without
	// the "Offline" type keyword.
	DemoWebMapNoOfflineID = "0ff11ed0b5e94a3c8d2f000000000004"
)

// webMapVersion is the web map specification version of the demo maps.
const webMapVersion = "2.28"

// svcURLs builds the absolute service URLs of the demo services at base.
type svcURLs struct{ base string }

func (u svcURLs) svc(name, kind string) string {
	return u.base + "/arcgis/rest/services/" + name + "/" + kind
}
func (u svcURLs) fieldSurvey(id int) string {
	return fmt.Sprintf("%s/%d", u.svc("Field_Survey", "FeatureServer"), id)
}
func (u svcURLs) vectorStyle() string {
	return u.svc("Demo_Vector", "VectorTileServer") + "/resources/styles/root.json"
}

// mercatorExtent is the demo area in Web Mercator as an Esri envelope.
func mercatorExtent(e [4]float64) map[string]any {
	cm := func(v float64) float64 { return math.Round(v*100) / 100 }
	lo := project.WGS84.ToMercator(orb.Point{e[0], e[1]})
	hi := project.WGS84.ToMercator(orb.Point{e[2], e[3]})
	return map[string]any{
		"xmin": cm(lo[0]), "ymin": cm(lo[1]), "xmax": cm(hi[0]), "ymax": cm(hi[1]),
		"spatialReference": map[string]any{"wkid": 102100, "latestWkid": 3857},
	}
}

// featureLayer is an ArcGISFeatureLayer operational layer.
func featureLayer(id, title, url, itemID string, def map[string]any) map[string]any {
	if def == nil {
		def = map[string]any{}
	}
	l := map[string]any{
		"id": id, "title": title, "layerType": "ArcGISFeatureLayer", "url": url,
		"visibility": true, "opacity": 1, "layerDefinition": def,
	}
	if itemID != "" {
		l["itemId"] = itemID
	}
	return l
}

// tiledBasemap is the Demo_Basemap base map layer list plus extra layers.
func tiledBasemap(u svcURLs, extra ...map[string]any) map[string]any {
	layers := []any{map[string]any{
		"id": "Demo_Basemap", "title": "Demo Basemap", "layerType": "ArcGISTiledMapServiceLayer",
		"url": u.svc("Demo_Basemap", "MapServer"), "itemId": DemoItemBasemapID,
		"visibility": true, "opacity": 1,
	}}
	for _, e := range extra {
		layers = append(layers, e)
	}
	return map[string]any{"title": "Demo Basemap", "baseMapLayers": layers}
}

// webMapDoc assembles the top-level web map object.
func webMapDoc(ops []any, tables []any, baseMap map[string]any, app map[string]any) map[string]any {
	doc := map[string]any{
		"operationalLayers": ops,
		"baseMap":           baseMap,
		"spatialReference":  map[string]any{"wkid": 102100, "latestWkid": 3857},
		"initialState": map[string]any{"viewpoint": map[string]any{
			"targetGeometry": mercatorExtent(portal.DemoExtent),
		}},
		"authoringApp":        "offlined-emulator",
		"authoringAppVersion": "1.0",
		"version":             webMapVersion,
	}
	if tables != nil {
		doc["tables"] = tables
	}
	if app != nil {
		doc["applicationProperties"] = app
	}
	return doc
}

// mustJSON marshals a value built from maps, slices, strings and numbers
// (which cannot fail).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("emulator: marshal demo document: %v", err))
	}
	return b
}

// fieldSurveyWebMap builds the "Field Survey" web map at base.
func fieldSurveyWebMap(base string) []byte {
	u := svcURLs{base}
	inspections := featureLayer("Field_Survey_Inspections", "Inspections", u.fieldSurvey(0), DemoItemFieldSurveyID, nil)
	inspections["popupInfo"] = map[string]any{
		"title": "Inspection {InspectionID}",
		"fieldInfos": []any{
			map[string]any{"fieldName": "InspectionID", "label": "Inspection ID", "visible": true},
			map[string]any{"fieldName": "Status", "label": "Status", "visible": true},
		},
		"showAttachments": true,
	}
	pipes := featureLayer("Field_Survey_Pipes", "Active pipes", u.fieldSurvey(1), DemoItemFieldSurveyID,
		map[string]any{"definitionExpression": "Status <> 'closed'", "minScale": 144448, "maxScale": 564})
	parcels := featureLayer("Field_Survey_Parcels", "Parcels", u.fieldSurvey(2), DemoItemFieldSurveyID, nil)
	parcels["opacity"] = 0.6
	parcels["minScale"] = 72224
	parcels["maxScale"] = 0
	network := map[string]any{
		"id": "Network", "title": "Network", "layerType": "GroupLayer", "visibilityMode": "independent",
		"visibility": true, "opacity": 1, "layers": []any{pipes},
	}
	zones := featureLayer("Reference_Zones", "Zones", u.svc("Reference_Data", "FeatureServer")+"/0", DemoItemReferenceDataID,
		map[string]any{"minScale": 0, "maxScale": 0})
	zones["opacity"] = 0.4
	dynamic := map[string]any{
		"id": "Dynamic_Layers", "title": "Dynamic Layers", "layerType": "ArcGISMapServiceLayer",
		"url": u.svc("Dynamic_Layers", "MapServer"), "itemId": DemoItemDynamicID,
		"visibility": false, "opacity": 0.8,
	}
	wms := map[string]any{
		"id": "Demo_WMS", "title": "Demo WMS", "layerType": "WMS", "url": base + "/ogc/wms",
		"version": "1.3.0", "visibility": false, "opacity": 1,
		"layers": []any{map[string]any{"name": "demo", "title": "Demo"}},
	}
	// An open layer: an XYZ template on the emulator's anonymous tile
	// server (not ArcGIS), taken offline like the ArcGIS tiles.
	openXYZ := map[string]any{
		"id": "Open_XYZ", "title": "Open tiles (XYZ)", "layerType": "WebTiledLayer",
		"templateUrl": base + tiles.DemoXYZTemplate, "visibility": true, "opacity": 0.5,
		"copyright": "offlined emulator (open XYZ server)",
	}
	notes := map[string]any{
		"id": "Field_Survey_InspectionNotes", "title": "Inspection notes", "url": u.fieldSurvey(3),
		"itemId": DemoItemFieldSurveyID, "layerDefinition": map[string]any{},
		"capabilities": "Create,Delete,Query,Update,Editing,Sync",
	}
	reference := map[string]any{
		"id": "Demo_Vector_Reference", "title": "Demo labels", "layerType": "VectorTileLayer",
		"type": "VectorTileLayer", "styleUrl": u.vectorStyle(), "itemId": DemoItemVectorID,
		"isReference": true, "visibility": true, "opacity": 1,
	}
	app := map[string]any{
		"viewing": map[string]any{"routing": map[string]any{"enabled": false}, "measure": map[string]any{"enabled": true}},
		"editing": map[string]any{"locationTracking": map[string]any{"enabled": false}},
		"offline": map[string]any{
			"editableLayers":  map[string]any{"download": "featuresAndAttachments", "sync": "syncFeaturesUploadAttachments"},
			"readonlyLayers":  map[string]any{"downloadAttachments": false},
			"offlinebasemap":  map[string]any{"referenceBasemapName": "Demo_Basemap.tpkx"},
			"syncDataOptions": 4,
		},
	}
	return mustJSON(webMapDoc(
		[]any{openXYZ, parcels, network, inspections, zones, dynamic, wms},
		[]any{notes}, tiledBasemap(u, reference), app))
}

// vectorBasemapWebMap builds the map on the Demo_Vector basemap at base.
func vectorBasemapWebMap(base string) []byte {
	u := svcURLs{base}
	basemap := map[string]any{"title": "Demo Vector", "baseMapLayers": []any{map[string]any{
		"id": "Demo_Vector", "title": "Demo Vector", "layerType": "VectorTileLayer", "type": "VectorTileLayer",
		"styleUrl": u.vectorStyle(), "itemId": DemoItemVectorID, "visibility": true, "opacity": 1,
	}}}
	app := map[string]any{"offline": map[string]any{
		"editableLayers": map[string]any{"download": "featuresAndAttachments", "sync": "syncFeaturesAndAttachments"},
		"readonlyLayers": map[string]any{"downloadAttachments": true},
	}}
	return mustJSON(webMapDoc([]any{
		featureLayer("Reference_Zones", "Zones", u.svc("Reference_Data", "FeatureServer")+"/0", DemoItemReferenceDataID, nil),
		featureLayer("Field_Survey_Inspections", "Inspections", u.fieldSurvey(0), DemoItemFieldSurveyID, nil),
	}, nil, basemap, app))
}

// duplicateLayersWebMap builds the map with two filtered layers on the same
// feature service layer at base.
func duplicateLayersWebMap(base string) []byte {
	u := svcURLs{base}
	app := map[string]any{"offline": map[string]any{
		"editableLayers": map[string]any{"download": "features", "sync": "syncFeaturesAndAttachments"},
	}}
	return mustJSON(webMapDoc([]any{
		featureLayer("Pipes_All", "Pipes", u.fieldSurvey(1), DemoItemFieldSurveyID, nil),
		featureLayer("Inspections_Open", "Open inspections", u.fieldSurvey(0), DemoItemFieldSurveyID,
			map[string]any{"definitionExpression": "Status = 'open'"}),
		featureLayer("Inspections_Urgent", "Urgent inspections", u.fieldSurvey(0), DemoItemFieldSurveyID,
			map[string]any{"definitionExpression": "Priority >= 4"}),
	}, nil, tiledBasemap(u), app))
}

// noOfflineWebMap builds a map without offline settings at base.
func noOfflineWebMap(base string) []byte {
	u := svcURLs{base}
	return mustJSON(webMapDoc([]any{
		featureLayer("Field_Survey_Parcels", "Parcels", u.fieldSurvey(2), DemoItemFieldSurveyID, nil),
		featureLayer("Field_Survey_Pipes", "Pipes", u.fieldSurvey(1), DemoItemFieldSurveyID, nil),
		featureLayer("Field_Survey_Inspections", "Inspections", u.fieldSurvey(0), DemoItemFieldSurveyID, nil),
	}, nil, tiledBasemap(u), map[string]any{"viewing": map[string]any{"measure": map[string]any{"enabled": true}}}))
}

// districtWebMap builds generated map n: one filtered Inspections layer.
func districtWebMap(n int) func(base string) []byte {
	return func(base string) []byte {
		u := svcURLs{base}
		app := map[string]any{"viewing": map[string]any{"measure": map[string]any{"enabled": true}}}
		if n%2 == 0 {
			app["offline"] = map[string]any{
				"editableLayers": map[string]any{"download": "featuresAndAttachments", "sync": "syncFeaturesAndAttachments"},
			}
		}
		return mustJSON(webMapDoc([]any{
			featureLayer("Inspections", fmt.Sprintf("District %02d inspections", n), u.fieldSurvey(0), DemoItemFieldSurveyID,
				map[string]any{"definitionExpression": fmt.Sprintf("Priority >= %d", n%5+1)}),
		}, nil, tiledBasemap(u), app))
	}
}
