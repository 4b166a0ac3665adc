package offline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// Layer types (web map layerType values) offlined treats specially. Any other
// value is kept and reported as online-only.
const (
	LayerTypeFeature         = "ArcGISFeatureLayer"
	LayerTypeMapService      = "ArcGISMapServiceLayer"
	LayerTypeTiledMapService = "ArcGISTiledMapServiceLayer"
	LayerTypeTiledImage      = "ArcGISTiledImageServiceLayer"
	LayerTypeImageService    = "ArcGISImageServiceLayer"
	LayerTypeVectorTile      = "VectorTileLayer"
	LayerTypeGroup           = "GroupLayer"
	LayerTypeSubtypeGroup    = "SubtypeGroupLayer"
	LayerTypeWMS             = "WMS"
	LayerTypeWebTiled        = "WebTiledLayer"
	LayerTypeTable           = "Table" // pseudo type given to web map tables
)

// Web map editableLayers.download values.
const (
	DownloadNone                   = "none"
	DownloadFeatures               = "features"
	DownloadFeaturesAndAttachments = "featuresAndAttachments"
)

// Web map editableLayers.sync values.
const (
	SyncFeaturesAndAttachments       = "syncFeaturesAndAttachments"
	SyncFeaturesUploadAttachments    = "syncFeaturesUploadAttachments"
	UploadFeaturesAndAttachments     = "uploadFeaturesAndAttachments"
	defaultEditableDownload          = DownloadFeaturesAndAttachments
	defaultEditableSync              = SyncFeaturesAndAttachments
	defaultReadonlyDownloadAttachmts = true
)

// Extra holds the JSON members a model type does not know, so that a web map
// read and written again keeps everything its author put there.
type Extra map[string]json.RawMessage

// WebMap is a web map (version 2.x), the JSON of a web map item's /data.
// Members offlined does not use are kept in Extra and written back by
// MarshalJSON.
type WebMap struct {
	Version               string                   `json:"version,omitempty"`
	OperationalLayers     []*Layer                 `json:"operationalLayers"`
	BaseMap               *BaseMap                 `json:"baseMap,omitempty"`
	Tables                []*Layer                 `json:"tables,omitempty"`
	SpatialReference      *arcgis.SpatialReference `json:"spatialReference,omitempty"`
	InitialState          *InitialState            `json:"initialState,omitempty"`
	MapOptions            *MapOptions              `json:"mapOptions,omitempty"`
	ApplicationProperties *ApplicationProperties   `json:"applicationProperties,omitempty"`
	Extra                 Extra                    `json:"-"`
}

// BaseMap is the web map's baseMap member.
type BaseMap struct {
	Title         string   `json:"title,omitempty"`
	BaseMapLayers []*Layer `json:"baseMapLayers"`
	Extra         Extra    `json:"-"`
}

// InitialState is the newer (2.x) home for the map's initial viewpoint.
type InitialState struct {
	Viewpoint *Viewpoint `json:"viewpoint,omitempty"`
	Extra     Extra      `json:"-"`
}

// Viewpoint is initialState.viewpoint.
type Viewpoint struct {
	TargetGeometry *arcgis.Geometry `json:"targetGeometry,omitempty"`
	Scale          float64          `json:"scale,omitempty"`
	Extra          Extra            `json:"-"`
}

// MapOptions is the legacy mapOptions member (extent of older maps).
type MapOptions struct {
	Extent *arcgis.Geometry `json:"extent,omitempty"`
	Extra  Extra            `json:"-"`
}

// LayerID is a web map layer id. Old maps use numbers; it remembers which
// form it came in so it is written back the same way.
type LayerID struct {
	Value   string
	Numeric bool
}

// String returns the id text.
func (id LayerID) String() string { return id.Value }

// MarshalJSON writes the id as a number when it was read as one.
func (id LayerID) MarshalJSON() ([]byte, error) {
	if id.Numeric {
		return []byte(id.Value), nil
	}
	return json.Marshal(id.Value)
}

// UnmarshalJSON accepts a string or a number.
func (id *LayerID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		id.Numeric = false
		return json.Unmarshal(b, &id.Value)
	}
	if string(b) == "null" {
		*id = LayerID{}
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("layer id: %w", err)
	}
	*id = LayerID{Value: n.String(), Numeric: true}
	return nil
}

// Layer is an operational layer, a basemap layer, a group's sublayer or a
// table of a web map (tables share the members offlined needs).
type Layer struct {
	ID                LayerID          `json:"id"`
	Title             string           `json:"title,omitempty"`
	LayerType         string           `json:"layerType,omitempty"`
	Type              string           `json:"type,omitempty"` // deprecated mirror of layerType
	URL               string           `json:"url,omitempty"`
	ItemID            string           `json:"itemId,omitempty"`
	StyleURL          string           `json:"styleUrl,omitempty"`
	MinScale          float64          `json:"minScale,omitempty"`
	MaxScale          float64          `json:"maxScale,omitempty"`
	IsReference       bool             `json:"isReference,omitempty"`
	LayerDefinition   *LayerDefinition `json:"layerDefinition,omitempty"`
	Layers            []*Layer         `json:"layers,omitempty"`
	FeatureCollection json.RawMessage  `json:"featureCollection,omitempty"`
	Extra             Extra            `json:"-"`
}

// Kind returns layerType, or the deprecated type member when layerType is
// missing.
func (l *Layer) Kind() string {
	if l.LayerType != "" {
		return l.LayerType
	}
	return l.Type
}

// DefinitionExpression returns layerDefinition.definitionExpression ("" if none).
func (l *Layer) DefinitionExpression() string {
	if l.LayerDefinition == nil {
		return ""
	}
	return strings.TrimSpace(l.LayerDefinition.DefinitionExpression)
}

// ScaleRange returns the layer's visible scale range: the layer's own
// minScale/maxScale, or layerDefinition's when the layer has none. 0 means
// unbounded.
func (l *Layer) ScaleRange() (minScale, maxScale float64) {
	minScale, maxScale = l.MinScale, l.MaxScale
	if l.LayerDefinition != nil {
		if minScale == 0 {
			minScale = l.LayerDefinition.MinScale
		}
		if maxScale == 0 {
			maxScale = l.LayerDefinition.MaxScale
		}
	}
	return minScale, maxScale
}

// LayerDefinition is a layer's layerDefinition member.
type LayerDefinition struct {
	DefinitionExpression string  `json:"definitionExpression,omitempty"`
	MinScale             float64 `json:"minScale,omitempty"`
	MaxScale             float64 `json:"maxScale,omitempty"`
	Extra                Extra   `json:"-"`
}

// ApplicationProperties is the web map's applicationProperties member.
type ApplicationProperties struct {
	Offline *OfflineSettings `json:"offline,omitempty"`
	Extra   Extra            `json:"-"`
}

// OfflineSettings is applicationProperties.offline: the web map author's
// offline settings.
type OfflineSettings struct {
	EditableLayers        *EditableLayersSettings `json:"editableLayers,omitempty"`
	ReadonlyLayers        *ReadonlyLayersSettings `json:"readonlyLayers,omitempty"`
	OfflineBasemap        *OfflineBasemapSettings `json:"offlinebasemap,omitempty"`
	ConnectedOnlineLayers []ConnectedOnlineLayer  `json:"connectedOnlineLayers,omitempty"`
	SyncDataOptions       *int                    `json:"syncDataOptions,omitempty"`
	Tables                *OfflineTablesSettings  `json:"tables,omitempty"`
	Extra                 Extra                   `json:"-"`
}

// EditableLayersSettings is offline.editableLayers.
type EditableLayersSettings struct {
	Download string `json:"download,omitempty"`
	Sync     string `json:"sync,omitempty"`
	Extra    Extra  `json:"-"`
}

// ReadonlyLayersSettings is offline.readonlyLayers.
type ReadonlyLayersSettings struct {
	DownloadAttachments *bool `json:"downloadAttachments,omitempty"`
	Extra               Extra `json:"-"`
}

// OfflineBasemapSettings is offline.offlinebasemap.
type OfflineBasemapSettings struct {
	ReferenceBasemapName string `json:"referenceBasemapName,omitempty"`
	Extra                Extra  `json:"-"`
}

// OfflineTablesSettings is offline.tables.
type OfflineTablesSettings struct {
	IncludeRows *bool `json:"includeRows,omitempty"`
	Extra       Extra `json:"-"`
}

// ConnectedOnlineLayer is one entry of offline.connectedOnlineLayers: a
// reference to a web map layer (by id, or by URL) that stays online.
type ConnectedOnlineLayer struct {
	ID    string `json:"id,omitempty"`
	URL   string `json:"url,omitempty"`
	Extra Extra  `json:"-"`
}

// UnmarshalJSON accepts an object {"id":…} or a bare id string.
func (c *ConnectedOnlineLayer) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*c = ConnectedOnlineLayer{}
		return json.Unmarshal(b, &c.ID)
	}
	type plain ConnectedOnlineLayer
	var p struct {
		plain
		ID json.RawMessage `json:"id"`
	}
	if err := unmarshalKeep(b, &p, &p.plain.Extra, reflect.TypeFor[plain]()); err != nil {
		return err
	}
	*c = ConnectedOnlineLayer(p.plain)
	if len(p.ID) > 0 {
		var id LayerID
		if err := id.UnmarshalJSON(p.ID); err != nil {
			return err
		}
		c.ID = id.Value
	}
	return nil
}

// MarshalJSON writes the reference back with its unknown members.
func (c ConnectedOnlineLayer) MarshalJSON() ([]byte, error) {
	type plain ConnectedOnlineLayer
	return marshalKeep(plain(c), c.Extra)
}

// ParseWebMap decodes a web map document. It checks what offlined relies on:
// a JSON object, layers with a layerType (or type) or a URL, group layers
// nested less than 32 deep.
func ParseWebMap(data []byte) (*WebMap, error) {
	if err := checkNesting(data, maxJSONDepth); err != nil {
		return nil, fmt.Errorf("parse web map: %w", err)
	}
	var wm WebMap
	if err := json.Unmarshal(data, &wm); err != nil {
		return nil, fmt.Errorf("parse web map: %w", err)
	}
	if err := wm.check(); err != nil {
		return nil, fmt.Errorf("parse web map: %w", err)
	}
	return &wm, nil
}

// maxJSONDepth bounds the nesting of a web map document. Real maps nest a
// few dozen levels (group layers, renderers); the bound keeps the
// per-level decoding of kept members from going quadratic on hostile input.
const maxJSONDepth = 200

// checkNesting reports JSON nested deeper than max arrays/objects. It scans
// bytes (strings skipped) and leaves syntax errors to the decoder.
func checkNesting(data []byte, max int) error {
	depth, inStr, esc := 0, false, false
	for _, c := range data {
		switch {
		case inStr:
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				return fmt.Errorf("JSON nested deeper than %d levels", max)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

func (wm *WebMap) check() error {
	var walk func(where string, ls []*Layer, depth int) error
	walk = func(where string, ls []*Layer, depth int) error {
		if depth > 32 {
			return fmt.Errorf("%s: layers nested deeper than 32 levels", where)
		}
		for i, l := range ls {
			if l == nil {
				return fmt.Errorf("%s[%d]: null layer", where, i)
			}
			if len(l.Layers) > 0 {
				if err := walk(fmt.Sprintf("%s[%d].layers", where, i), l.Layers, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("operationalLayers", wm.OperationalLayers, 0); err != nil {
		return err
	}
	if wm.BaseMap != nil {
		if err := walk("baseMap.baseMapLayers", wm.BaseMap.BaseMapLayers, 0); err != nil {
			return err
		}
	}
	for i, t := range wm.Tables {
		if t == nil {
			return fmt.Errorf("tables[%d]: null table", i)
		}
	}
	return nil
}

// Offline returns the web map's offline settings, or an empty value when the
// author set none.
func (wm *WebMap) Offline() *OfflineSettings {
	if wm.ApplicationProperties == nil || wm.ApplicationProperties.Offline == nil {
		return &OfflineSettings{}
	}
	return wm.ApplicationProperties.Offline
}

// HasOfflineSettings reports whether the web map carries
// applicationProperties.offline.
func (wm *WebMap) HasOfflineSettings() bool {
	return wm.ApplicationProperties != nil && wm.ApplicationProperties.Offline != nil
}

// Extent returns the map's initial extent: initialState.viewpoint's target
// geometry, else mapOptions.extent, else nil.
func (wm *WebMap) Extent() *arcgis.Geometry {
	if wm.InitialState != nil && wm.InitialState.Viewpoint != nil && wm.InitialState.Viewpoint.TargetGeometry != nil {
		return wm.InitialState.Viewpoint.TargetGeometry
	}
	if wm.MapOptions != nil && wm.MapOptions.Extent != nil {
		return wm.MapOptions.Extent
	}
	return nil
}

// EditableDownload returns editableLayers.download with its default.
func (o *OfflineSettings) EditableDownload() string {
	if o.EditableLayers == nil || o.EditableLayers.Download == "" {
		return defaultEditableDownload
	}
	return o.EditableLayers.Download
}

// EditableSync returns editableLayers.sync with its default.
func (o *OfflineSettings) EditableSync() string {
	if o.EditableLayers == nil || o.EditableLayers.Sync == "" {
		return defaultEditableSync
	}
	return o.EditableLayers.Sync
}

// ReadonlyDownloadAttachments returns readonlyLayers.downloadAttachments
// with its default (true).
func (o *OfflineSettings) ReadonlyDownloadAttachments() bool {
	if o.ReadonlyLayers == nil || o.ReadonlyLayers.DownloadAttachments == nil {
		return defaultReadonlyDownloadAttachmts
	}
	return *o.ReadonlyLayers.DownloadAttachments
}

// ReferenceBasemapName returns offlinebasemap.referenceBasemapName ("" if none).
func (o *OfflineSettings) ReferenceBasemapName() string {
	if o.OfflineBasemap == nil {
		return ""
	}
	return o.OfflineBasemap.ReferenceBasemapName
}

// TableRows returns tables.includeRows with its default (true).
func (o *OfflineSettings) TableRows() bool {
	if o.Tables == nil || o.Tables.IncludeRows == nil {
		return true
	}
	return *o.Tables.IncludeRows
}

// Clone returns a deep copy (through JSON).
func (wm *WebMap) Clone() (*WebMap, error) {
	b, err := json.Marshal(wm)
	if err != nil {
		return nil, fmt.Errorf("clone web map: %w", err)
	}
	return ParseWebMap(b)
}
