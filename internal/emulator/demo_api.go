package emulator

import (
	"github.com/offlined/offlined/internal/emulator/demo"
	"github.com/offlined/offlined/internal/emulator/features"
	"github.com/offlined/offlined/internal/emulator/portal"
	"github.com/offlined/offlined/internal/emulator/tiles"
)

// Item is a portal item as AddItem takes it (package portal).
type Item = portal.Item

// Demo OAuth app registered on every emulator (client_credentials and
// refresh_token grants).
const (
	DemoClientID     = portal.DemoClientID
	DemoClientSecret = portal.DemoClientSecret
)

// RefreshTokenLifetime is how long refresh tokens stay valid (two weeks).
const RefreshTokenLifetime = portal.RefreshTokenLifetime

// Item ids of the demo items and web maps (package demo documents each).
const (
	DemoItemFieldSurveyID       = demo.DemoItemFieldSurveyID
	DemoItemReferenceDataID     = demo.DemoItemReferenceDataID
	DemoItemBasemapID           = demo.DemoItemBasemapID
	DemoItemDynamicID           = demo.DemoItemDynamicID
	DemoItemVectorID            = demo.DemoItemVectorID
	DemoItemPrivateOtherID      = demo.DemoItemPrivateOtherID
	DemoOtherUser               = demo.DemoOtherUser
	DemoDistrictMaps            = demo.DemoDistrictMaps
	DemoWebMapFieldSurveyID     = demo.DemoWebMapFieldSurveyID
	DemoWebMapVectorBasemapID   = demo.DemoWebMapVectorBasemapID
	DemoWebMapDuplicateLayersID = demo.DemoWebMapDuplicateLayersID
	DemoWebMapNoOfflineID       = demo.DemoWebMapNoOfflineID
)

// DemoDistrictWebMapID returns the item id of generated web map n
// (1..DemoDistrictMaps).
func DemoDistrictWebMapID(n int) string { return demo.DemoDistrictWebMapID(n) }

// The open WMTS server (internal/emulator/tiles/wmts.go).
const (
	DemoWMTSCapabilities = tiles.DemoWMTSCapabilities
	DemoWMTSLayer        = tiles.DemoWMTSLayer
	DemoWMTSLayerKVP     = tiles.DemoWMTSLayerKVP
	WMTSMercatorSet      = tiles.WMTSMercatorSet
	WMTSCRS84Set         = tiles.WMTSCRS84Set
)

// DemoFeatureServices returns the demo feature services (Field_Survey and
// Reference_Data), the default of Options.FeatureServices.
func DemoFeatureServices() []FeatureServiceOptions { return features.DemoFeatureServices() }
