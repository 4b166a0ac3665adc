package offline

import (
	"context"
	"math"
	"sort"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// QueryOption is a createReplica layerQueries queryOption.
type QueryOption string

// Query options.
const (
	QueryAll       QueryOption = "all"
	QueryNone      QueryOption = "none"
	QueryUseFilter QueryOption = "useFilter"
)

// SyncModel is createReplica's syncModel.
type SyncModel string

// Sync models.
const (
	SyncModelPerLayer   SyncModel = "perLayer"
	SyncModelPerReplica SyncModel = "perReplica"
	SyncModelNone       SyncModel = "none"
)

// Overrides are the per-layer details of an offline map job, pre-populated
// from the parameters by CreateOverrides and editable before the job runs
// (ArcGIS's GenerateOfflineMapParameterOverrides). Deleting a map entry, or
// a layer option of a service, leaves that service or layer out of the
// offline map.
type Overrides struct {
	// GenerateGeodatabase holds one entry per feature service (by service
	// key): one replica, or one read-only snapshot (Snapshot true).
	GenerateGeodatabase map[Key]*GenerateGeodatabaseParameters `json:"generateGeodatabase"`
	// ExportTileCache holds one entry per raster tiled layer (service key).
	ExportTileCache map[Key]*ExportTileCacheParameters `json:"exportTileCache"`
	// ExportVectorTiles holds one entry per vector tile layer (service key).
	ExportVectorTiles map[Key]*ExportVectorTilesParameters `json:"exportVectorTiles"`
	// ReferenceBasemap, when set, replaces the basemap layers by a file on
	// the device.
	ReferenceBasemap *ReferenceBasemap `json:"referenceBasemap,omitempty"`
	// OnlineLayers and OnlineTables stay online in the offline map.
	OnlineLayers []Key `json:"onlineLayers"`
	OnlineTables []Key `json:"onlineTables"`
	// WebTiles holds one entry per WebTiledLayer (XYZ template) taken
	// offline into MBTiles (by entry key).
	WebTiles map[Key]*WebTilesParameters `json:"webTiles,omitempty"`
	// WMTS holds one entry per WMTS layer taken offline into MBTiles (by
	// entry key), with the settings of a WebTiledLayer.
	WMTS map[Key]*WebTilesParameters `json:"wmts,omitempty"`
	// OGCFeatures and GeoJSON hold one entry per OGC API – Features or
	// GeoJSON layer taken offline as a read-only snapshot (by entry key).
	OGCFeatures map[Key]*OpenFeaturesParameters `json:"ogcFeatures,omitempty"`
	GeoJSON     map[Key]*OpenFeaturesParameters `json:"geoJSON,omitempty"`
	// StyleTiles holds one entry per MapLibre style or PMTiles layer taken
	// offline (by entry key; source_style.go).
	StyleTiles map[Key]*StyleTilesParameters `json:"styleTiles,omitempty"`
	// LeftOut says, for every layer and table that neither goes offline
	// nor stays online, why (as the capabilities decided it): the package
	// lists these entries with their reason, and the ones marked Error
	// count in hasErrors.
	LeftOut map[Key]*LeftOut `json:"leftOut,omitempty"`
}

// LeftOut is why a web map entry is neither taken offline nor kept online.
type LeftOut struct {
	Reason  Reason `json:"reason"`
	Message string `json:"message,omitempty"`
	// Error is true when the entry could neither go offline nor stay
	// online (Capability.Error); false when the parameters left it out
	// (includeBasemap false).
	Error bool `json:"error"`
}

// ReferenceBasemap is a basemap file already on the device.
type ReferenceBasemap struct {
	Path string `json:"path"`
	// Replaces lists the basemap layer keys it stands for.
	Replaces []Key `json:"replaces"`
}

// GenerateGeodatabaseParameters are one feature service's replica (or
// snapshot) settings; they map 1:1 onto createReplica (see
// CreateReplicaRequest) or, for snapshots, onto layer queries (QueryRequest).
type GenerateGeodatabaseParameters struct {
	ServiceURL string `json:"serviceUrl"`
	// Snapshot: no replica; every layer is read through paged queries and
	// is read-only offline.
	Snapshot     bool                   `json:"snapshot,omitempty"`
	LayerOptions []*GenerateLayerOption `json:"layerOptions"`
	// ReturnAttachments ↔ returnAttachments.
	ReturnAttachments bool `json:"returnAttachments"`
	// AttachmentSyncDirection ↔ attachmentsSyncDirection ("" = not sent:
	// the service does not support it).
	AttachmentSyncDirection AttachmentSyncDirection `json:"attachmentSyncDirection,omitempty"`
	SyncModel               SyncModel               `json:"syncModel"`
	// Extent ↔ geometry/geometryType/inSR.
	Extent *arcgis.Geometry `json:"extent"`
	// OutSpatialReference ↔ replicaSR.
	OutSpatialReference *arcgis.SpatialReference `json:"outSpatialReference,omitempty"`
	// SyncDataOptions ↔ replicaOptions.syncDataOptions (0 = not sent).
	SyncDataOptions int `json:"syncDataOptions,omitempty"`
	// Async is whether the service supports asynchronous createReplica.
	Async bool `json:"async"`
}

// LayerIDs returns the ids of the layer options, sorted.
func (g *GenerateGeodatabaseParameters) LayerIDs() []int {
	ids := make([]int, 0, len(g.LayerOptions))
	for _, o := range g.LayerOptions {
		if o != nil {
			ids = append(ids, o.LayerID)
		}
	}
	sort.Ints(ids)
	return ids
}

// LayerOption returns the option of a layer, or nil.
func (g *GenerateGeodatabaseParameters) LayerOption(id int) *GenerateLayerOption {
	for _, o := range g.LayerOptions {
		if o != nil && o.LayerID == id {
			return o
		}
	}
	return nil
}

// RemoveLayer drops a layer's option (the layer is then not taken).
func (g *GenerateGeodatabaseParameters) RemoveLayer(id int) bool {
	for i, o := range g.LayerOptions {
		if o != nil && o.LayerID == id {
			g.LayerOptions = append(g.LayerOptions[:i], g.LayerOptions[i+1:]...)
			return true
		}
	}
	return false
}

// GenerateLayerOption is one layer's entry: createReplica layerQueries[id].
type GenerateLayerOption struct {
	LayerID        int         `json:"layerId"`
	QueryOption    QueryOption `json:"queryOption"`
	WhereClause    string      `json:"whereClause,omitempty"`
	UseGeometry    bool        `json:"useGeometry"`
	IncludeRelated bool        `json:"includeRelated"`
}

// ExportTileCacheParameters are one raster tiled layer's settings.
type ExportTileCacheParameters struct {
	ServiceURL     string           `json:"serviceUrl"`
	AreaOfInterest *arcgis.Geometry `json:"areaOfInterest"`
	LevelIDs       []int            `json:"levelIds"`
	// CompressionQuality 0-100 recompresses JPEG tiles; -1 keeps them.
	CompressionQuality float64 `json:"compressionQuality"`
	// MaxExportTilesCount is the service's limit (for the tile check).
	MaxExportTilesCount int64 `json:"maxExportTilesCount,omitempty"`
	// ExportTiles makes the job ask the service for a tile package
	// (exportTiles, .tpkx) instead of fetching the tiles one by one; a
	// CompressionQuality of 0-100 implies it (only the server recompresses).
	ExportTiles bool `json:"exportTiles,omitempty"`
	// TileMethod is "" (exportTiles with direct tile requests as the
	// fallback), "exportTiles" or "tiles" (direct requests); see
	// TileMethodAuto.
	TileMethod string `json:"tileMethod,omitempty"`
}

// ExportVectorTilesParameters are one vector tile layer's settings.
type ExportVectorTilesParameters struct {
	ServiceURL          string           `json:"serviceUrl"`
	AreaOfInterest      *arcgis.Geometry `json:"areaOfInterest"`
	MaxLevel            int              `json:"maxLevel"`
	MaxExportTilesCount int64            `json:"maxExportTilesCount,omitempty"`
}

// CreateOverrides returns overrides pre-populated from the parameters for
// every layer and table that goes offline; layers that stay online are
// listed in OnlineLayers/OnlineTables. How parameters become per-service
// values:
//
//   - layer options: queryOption none for editable layers when
//     ReturnSchemaOnlyForEditableLayers, and for tables when
//     IncludeTableRows is false or when they are the destination of a
//     relationship with a layer taken, have no definition expression and the
//     row filter is relatedOnly (their related rows come through
//     includeRelated); useFilter with the layers' combined definition
//     expression (when the filter is enabled) and the area for layers; all
//     (or useFilter with the expression, without geometry) for other tables.
//     includeRelated is true for layers in a relationship with another
//     layer or table taken.
//   - returnAttachments: true when a layer taken with features has
//     attachments and the attachment option selects it (allLayers, or
//     readOnlyLayers / editableLayers by IsEditable).
//   - attachmentsSyncDirection (only for services with
//     supportsAttachmentsSyncDirection): the parameter, coerced to a valid
//     pair — without attachments bidirectional becomes upload (editable
//     service) or none; with attachments none becomes upload (editable) or
//     bidirectional (read-only), and upload on a read-only service becomes
//     bidirectional.
//   - syncModel: none for noUpdates and snapshots, else perLayer when the
//     service supports it, else perReplica.
//   - syncDataOptions: the web map's value ANDed with the service's
//     supportedSyncDataOptions.
//   - tiles: levels whose scale lies within [MaxScale, MinScale] (0 =
//     unbounded); when none does, the level nearest the range.
func (t *Task) CreateOverrides(ctx context.Context, p *Parameters) (*Overrides, error) {
	if p == nil {
		return nil, &ValidationError{Code: ErrParameter, Message: "parameters: missing"}
	}
	aoi, err := PrepareAOI(p.AreaOfInterest, t.Map.SpatialReference)
	if err != nil {
		return nil, err
	}
	a, err := t.analyze(ctx, p)
	if err != nil {
		return nil, err
	}
	ov := &Overrides{
		GenerateGeodatabase: map[Key]*GenerateGeodatabaseParameters{},
		ExportTileCache:     map[Key]*ExportTileCacheParameters{},
		ExportVectorTiles:   map[Key]*ExportVectorTilesParameters{},
		OnlineLayers:        []Key{},
		OnlineTables:        []Key{},
	}
	for _, s := range sources() {
		s.defaults(a, aoi, ov)
	}
	seenOnline := map[Key]bool{}
	for _, e := range a.taking(MethodOnlineOnly) {
		if seenOnline[e.Key] {
			continue
		}
		seenOnline[e.Key] = true
		if e.IsTable() {
			ov.OnlineTables = append(ov.OnlineTables, e.Key)
		} else {
			ov.OnlineLayers = append(ov.OnlineLayers, e.Key)
		}
	}
	ov.LeftOut = a.leftOut()
	return ov, nil
}

// leftOut returns the entries whose every occurrence in the map is
// neither offline nor online, with the capability's reason.
func (a *analysis) leftOut() map[Key]*LeftOut {
	out := map[Key]*LeftOut{}
	kept := map[Key]bool{}
	for _, e := range a.order {
		c := a.caps[e]
		if c.Method != MethodNone {
			kept[e.Key] = true
			continue
		}
		if out[e.Key] == nil {
			out[e.Key] = &LeftOut{Reason: c.Reason, Message: c.Message, Error: c.Error}
		}
	}
	for k := range kept {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// CoerceAttachmentSync turns a requested attachment sync direction into a
// valid createReplica pair with returnAttachments (ArcGIS accepts
// returnAttachments=true with bidirectional or upload, false with upload or
// none), taking into account whether the service can take uploads.
func CoerceAttachmentSync(d AttachmentSyncDirection, returnAttachments, editable bool) AttachmentSyncDirection {
	switch {
	case !returnAttachments && d == AttachmentSyncBidirectional, !returnAttachments && d == AttachmentSyncUpload:
		if editable {
			return AttachmentSyncUpload
		}
		return AttachmentSyncNone
	case !returnAttachments:
		return AttachmentSyncNone
	case d == AttachmentSyncNone || d == "":
		if editable {
			return AttachmentSyncUpload
		}
		return AttachmentSyncBidirectional
	case d == AttachmentSyncUpload && !editable:
		return AttachmentSyncBidirectional
	}
	return d
}

// LevelIDs returns the levels of a tiling scheme whose scale lies within
// [maxScale, minScale] (0 = unbounded on that side; a scale within 0.5% of
// a bound counts as inside, as in tiles.Scheme.LevelRange), sorted. When the range falls between two levels it
// returns the level nearest to it.
func LevelIDs(lods []arcgis.LOD, minScale, maxScale float64) []int {
	var ids []int
	for _, l := range lods {
		if minScale > 0 && l.Scale > minScale*1.005 {
			continue
		}
		if maxScale > 0 && l.Scale < maxScale/1.005 {
			continue
		}
		ids = append(ids, l.Level)
	}
	if len(ids) == 0 && len(lods) > 0 {
		target := minScale
		if target == 0 {
			target = maxScale
		}
		best, bestD := lods[0].Level, math.Inf(1)
		for _, l := range lods {
			if d := math.Abs(math.Log(l.Scale / target)); d < bestD {
				best, bestD = l.Level, d
			}
		}
		ids = []int{best}
	}
	sort.Ints(ids)
	return ids
}

// LevelRanges writes level ids as exportTiles expects, e.g. "0-4,7".
func LevelRanges(ids []int) string { return tiles.LevelList(ids) }
