// Package demo is the demo content of the ArcGIS REST emulator: the portal
// items of the demo services, the demo web maps (webmaps.go) and the
// generated "Survey District NN" maps, with their well-known item ids.
// The demo services themselves are the defaults of packages features
// (generated data) and tiles.
package demo

import (
	"fmt"
	"time"

	"github.com/offlined/offlined/internal/emulator/portal"
)

// Item ids of the demo service items and other demo items.
const (
	DemoItemFieldSurveyID   = "0ff11ed0b5e94a3c8d2f0000000000f1" // Feature Service Field_Survey
	DemoItemReferenceDataID = "0ff11ed0b5e94a3c8d2f0000000000f2" // Feature Service Reference_Data
	DemoItemBasemapID       = "0ff11ed0b5e94a3c8d2f0000000000f3" // Map Service Demo_Basemap (tiled)
	DemoItemDynamicID       = "0ff11ed0b5e94a3c8d2f0000000000f4" // Map Service Dynamic_Layers
	DemoItemVectorID        = "0ff11ed0b5e94a3c8d2f0000000000f5" // Vector Tile Service Demo_Vector
	// DemoItemPrivateOtherID is a private web map owned by DemoOtherUser;
	// other users get a 403 error for it.
	DemoItemPrivateOtherID = "0ff11ed0b5e94a3c8d2f0000000000e1"
	// DemoOtherUser owns DemoItemPrivateOtherID. It has no password unless
	// Options.Users gives it one.
	DemoOtherUser = "other.user"
	// DemoDistrictMaps is how many generated "Survey District NN" web maps
	// the portal holds (even-numbered ones are offline-enabled), so that
	// search paging has several pages.
	DemoDistrictMaps = 24
)

// DemoDistrictWebMapID returns the item id of generated web map n
// (1..DemoDistrictMaps).
func DemoDistrictWebMapID(n int) string {
	return fmt.Sprintf("0ff11ed0b5e94a3c8d2f000000001%03d", n)
}

var (
	featureServiceKeywords = []string{"ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service"}
	tiledServiceKeywords   = []string{"ArcGIS Server", "Data", "Map Service", "Service", "Tiled"}
	dynamicServiceKeywords = []string{"ArcGIS Server", "Data", "Map Service", "Service"}
	vectorServiceKeywords  = []string{"ArcGIS Server", "Data", "Vector Tile Service", "Service", "Tiled"}
)

// AddItems fills the portal with the demo service items, the demo web
// maps and the generated district maps.
func AddItems(p *portal.Portal) {
	put := func(it portal.Item, data func(string) []byte) {
		_ = p.PutItem(it, data) // fails only for an empty id; every demo item has one
	}
	webMap := func(id, title, snippet string, offline bool, tags []string, data func(string) []byte) {
		put(portal.Item{
			ID: id, Title: title, Type: "Web Map", TypeKeywords: portal.WebMapKeywords(offline),
			Snippet: snippet, Description: snippet, Tags: tags, NumViews: 42,
		}, data)
	}
	webMap(DemoWebMapFieldSurveyID, "Field Survey", "Inspections, pipes and parcels for field crews (offline-enabled).",
		true, []string{"survey", "inspections", "offline", "demo"}, fieldSurveyWebMap)
	webMap(DemoWebMapVectorBasemapID, "Field Survey (vector basemap)", "Inspections and zones on the Demo_Vector basemap.",
		true, []string{"survey", "vector", "offline", "demo"}, vectorBasemapWebMap)
	webMap(DemoWebMapDuplicateLayersID, "Open and urgent inspections", "Two filtered views of the same inspections layer.",
		true, []string{"survey", "inspections", "demo"}, duplicateLayersWebMap)
	webMap(DemoWebMapNoOfflineID, "Field Survey (online only)", "The survey layers without offline settings.",
		false, []string{"survey", "demo"}, noOfflineWebMap)

	service := func(id, title, typ, url string, kw []string, access string) {
		put(portal.Item{
			ID: id, Title: title, Type: typ, TypeKeywords: kw, URL: url, Access: access,
			Snippet: title + " demo service", Tags: []string{"demo", "service"},
		}, nil)
	}
	service(DemoItemFieldSurveyID, "Field_Survey", "Feature Service", "/arcgis/rest/services/Field_Survey/FeatureServer",
		append(featureServiceKeywords, "Sync"), "org")
	service(DemoItemReferenceDataID, "Reference_Data", "Feature Service", "/arcgis/rest/services/Reference_Data/FeatureServer",
		featureServiceKeywords, "org")
	service(DemoItemBasemapID, "Demo_Basemap", "Map Service", "/arcgis/rest/services/Demo_Basemap/MapServer",
		tiledServiceKeywords, "public")
	service(DemoItemDynamicID, "Dynamic_Layers", "Map Service", "/arcgis/rest/services/Dynamic_Layers/MapServer",
		dynamicServiceKeywords, "org")
	service(DemoItemVectorID, "Demo_Vector", "Vector Tile Service", "/arcgis/rest/services/Demo_Vector/VectorTileServer",
		vectorServiceKeywords, "public")

	put(portal.Item{
		ID: DemoItemPrivateOtherID, Owner: DemoOtherUser, Access: "private", Title: "Private field notes",
		Type: "Web Map", TypeKeywords: portal.WebMapKeywords(true), Tags: []string{"survey", "private"},
		Snippet: "A private map of another user.",
	}, noOfflineWebMap)

	for n := 1; n <= DemoDistrictMaps; n++ {
		put(portal.Item{
			ID: DemoDistrictWebMapID(n), Title: fmt.Sprintf("Survey District %02d", n), Type: "Web Map",
			TypeKeywords: portal.WebMapKeywords(n%2 == 0), Tags: []string{"survey", "district"},
			Snippet:  fmt.Sprintf("Inspections of survey district %02d.", n),
			Created:  portal.DemoTime.Add(time.Duration(n) * time.Hour),
			NumViews: n * 3,
		}, districtWebMap(n))
	}
}
