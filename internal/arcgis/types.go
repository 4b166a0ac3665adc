package arcgis

import (
	"encoding/json"
	"strings"
)

// Field types (esriFieldType*).
const (
	FieldOID             = "esriFieldTypeOID"
	FieldGlobalID        = "esriFieldTypeGlobalID"
	FieldGUID            = "esriFieldTypeGUID"
	FieldString          = "esriFieldTypeString"
	FieldSmallInteger    = "esriFieldTypeSmallInteger"
	FieldInteger         = "esriFieldTypeInteger"
	FieldBigInteger      = "esriFieldTypeBigInteger"
	FieldSingle          = "esriFieldTypeSingle"
	FieldDouble          = "esriFieldTypeDouble"
	FieldDate            = "esriFieldTypeDate"
	FieldDateOnly        = "esriFieldTypeDateOnly"
	FieldTimeOnly        = "esriFieldTypeTimeOnly"
	FieldTimestampOffset = "esriFieldTypeTimestampOffset"
	FieldGeometry        = "esriFieldTypeGeometry"
	FieldBlob            = "esriFieldTypeBlob"
	FieldRaster          = "esriFieldTypeRaster"
	FieldXML             = "esriFieldTypeXML"
)

// Field is one entry of a layer's fields array.
type Field struct {
	Name         string  `json:"name"`
	Type         string  `json:"type"`
	Alias        string  `json:"alias,omitempty"`
	SQLType      string  `json:"sqlType,omitempty"`
	Length       int     `json:"length,omitempty"`
	Nullable     *bool   `json:"nullable,omitempty"`
	Editable     *bool   `json:"editable,omitempty"`
	Domain       *Domain `json:"domain,omitempty"`
	DefaultValue any     `json:"defaultValue,omitempty"`
}

// IsNullable reports the field's nullability; ArcGIS treats a missing
// "nullable" as true.
func (f *Field) IsNullable() bool { return f.Nullable == nil || *f.Nullable }

// IsEditable reports whether clients may write the field; missing means true
// except for OID and GlobalID fields.
func (f *Field) IsEditable() bool {
	if f.Editable != nil {
		return *f.Editable
	}
	return f.Type != FieldOID && f.Type != FieldGlobalID
}

// Domain is a coded-value or range domain (or "inherited" in subtypes).
type Domain struct {
	Type        string       `json:"type"`
	Name        string       `json:"name,omitempty"`
	Description string       `json:"description,omitempty"`
	CodedValues []CodedValue `json:"codedValues,omitempty"`
	Range       []float64    `json:"range,omitempty"`
	MergePolicy string       `json:"mergePolicy,omitempty"`
	SplitPolicy string       `json:"splitPolicy,omitempty"`
}

// CodedValue is one name/code pair of a coded-value domain. Code is a
// string or a number.
type CodedValue struct {
	Name string `json:"name"`
	Code any    `json:"code"`
}

// EditFieldsInfo names the editor-tracking fields of a layer.
type EditFieldsInfo struct {
	CreationDateField       string `json:"creationDateField,omitempty"`
	CreatorField            string `json:"creatorField,omitempty"`
	EditDateField           string `json:"editDateField,omitempty"`
	EditorField             string `json:"editorField,omitempty"`
	Realm                   string `json:"realm,omitempty"`
	DateFieldsTimeReference any    `json:"dateFieldsTimeReference,omitempty"`
}

// Relationship is one entry of a layer's relationships array.
type Relationship struct {
	ID             int    `json:"id"`
	Name           string `json:"name"`
	RelatedTableID int    `json:"relatedTableId"`
	Cardinality    string `json:"cardinality,omitempty"`
	Role           string `json:"role,omitempty"`
	KeyField       string `json:"keyField,omitempty"`
	Composite      bool   `json:"composite,omitempty"`
}

// AdvancedQueryCapabilities is the subset of a layer's advancedQueryCapabilities offlined reads.
type AdvancedQueryCapabilities struct {
	SupportsPagination                bool `json:"supportsPagination"`
	SupportsOrderBy                   bool `json:"supportsOrderBy"`
	SupportsDistinct                  bool `json:"supportsDistinct,omitempty"`
	SupportsQueryWithResultType       bool `json:"supportsQueryWithResultType,omitempty"`
	SupportsReturningGeometryCentroid bool `json:"supportsReturningGeometryCentroid,omitempty"`
}

// Layer is the layer (or table) resource, GET …/FeatureServer/{id}?f=json.
type Layer struct {
	CurrentVersion                     float64                    `json:"currentVersion,omitempty"`
	ID                                 int                        `json:"id"`
	Name                               string                     `json:"name"`
	Type                               string                     `json:"type"` // "Feature Layer" or "Table"
	Description                        string                     `json:"description,omitempty"`
	GeometryType                       string                     `json:"geometryType,omitempty"`
	HasZ                               bool                       `json:"hasZ,omitempty"`
	HasM                               bool                       `json:"hasM,omitempty"`
	MinScale                           float64                    `json:"minScale,omitempty"`
	MaxScale                           float64                    `json:"maxScale,omitempty"`
	ObjectIDField                      string                     `json:"objectIdField,omitempty"`
	GlobalIDField                      string                     `json:"globalIdField,omitempty"`
	DisplayField                       string                     `json:"displayField,omitempty"`
	TypeIDField                        string                     `json:"typeIdField,omitempty"`
	SubtypeField                       string                     `json:"subtypeField,omitempty"`
	Fields                             []Field                    `json:"fields"`
	Relationships                      []Relationship             `json:"relationships,omitempty"`
	HasAttachments                     bool                       `json:"hasAttachments"`
	SupportsAttachmentsByUploadID      bool                       `json:"supportsAttachmentsByUploadId,omitempty"`
	SupportsApplyEditsWithGlobalIDs    bool                       `json:"supportsApplyEditsWithGlobalIds,omitempty"`
	SupportsRollbackOnFailureParameter bool                       `json:"supportsRollbackOnFailureParameter,omitempty"`
	SyncCanReturnChanges               bool                       `json:"syncCanReturnChanges,omitempty"`
	IsDataVersioned                    bool                       `json:"isDataVersioned,omitempty"`
	EditFieldsInfo                     *EditFieldsInfo            `json:"editFieldsInfo,omitempty"`
	Capabilities                       string                     `json:"capabilities,omitempty"`
	MaxRecordCount                     int                        `json:"maxRecordCount,omitempty"`
	AdvancedQueryCapabilities          *AdvancedQueryCapabilities `json:"advancedQueryCapabilities,omitempty"`
	Extent                             *Envelope                  `json:"extent,omitempty"`
	SpatialReference                   *SpatialReference          `json:"spatialReference,omitempty"`
	AllowGeometryUpdates               bool                       `json:"allowGeometryUpdates,omitempty"`
	Types                              json.RawMessage            `json:"types,omitempty"`
	Templates                          json.RawMessage            `json:"templates,omitempty"`
	DrawingInfo                        json.RawMessage            `json:"drawingInfo,omitempty"`
	EditingInfo                        *EditingInfo               `json:"editingInfo,omitempty"`
}

// EditingInfo is a layer's editingInfo: when its data or schema last
// changed (epoch milliseconds; 0 when not reported).
type EditingInfo struct {
	LastEditDate       int64 `json:"lastEditDate,omitempty"`
	SchemaLastEditDate int64 `json:"schemaLastEditDate,omitempty"`
	DataLastEditDate   int64 `json:"dataLastEditDate,omitempty"`
}

// IsTable reports whether the layer is a non-spatial table.
func (l *Layer) IsTable() bool { return l.Type == "Table" || l.GeometryType == "" }

// Field returns the named field (case-insensitive, as ArcGIS compares
// names), or nil.
func (l *Layer) Field(name string) *Field {
	for i := range l.Fields {
		if strings.EqualFold(l.Fields[i].Name, name) {
			return &l.Fields[i]
		}
	}
	return nil
}

// SyncCapabilities is a service's syncCapabilities object.
type SyncCapabilities struct {
	SupportsAsync                    bool `json:"supportsAsync"`
	SupportsRegisteringExistingData  bool `json:"supportsRegisteringExistingData"`
	SupportsSyncDirectionControl     bool `json:"supportsSyncDirectionControl"`
	SupportsPerLayerSync             bool `json:"supportsPerLayerSync"`
	SupportsPerReplicaSync           bool `json:"supportsPerReplicaSync"`
	SupportsSyncModelNone            bool `json:"supportsSyncModelNone"`
	SupportsRollbackOnFailure        bool `json:"supportsRollbackOnFailure"`
	SupportsAttachmentsSyncDirection bool `json:"supportsAttachmentsSyncDirection"`
	SupportedSyncDataOptions         int  `json:"supportedSyncDataOptions,omitempty"`
}

// UnmarshalJSON accepts the "supportsASync" spelling some documents use.
func (s *SyncCapabilities) UnmarshalJSON(b []byte) error {
	type plain SyncCapabilities
	var aux struct {
		plain
		ASync *bool `json:"supportsASync"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = SyncCapabilities(aux.plain)
	if aux.ASync != nil && *aux.ASync {
		s.SupportsAsync = true
	}
	return nil
}

// LayerRef is a layer or table entry in a service's layers/tables arrays.
type LayerRef struct {
	ID            int     `json:"id"`
	Name          string  `json:"name"`
	GeometryType  string  `json:"geometryType,omitempty"`
	Type          string  `json:"type,omitempty"`
	MinScale      float64 `json:"minScale,omitempty"`
	MaxScale      float64 `json:"maxScale,omitempty"`
	ParentLayerID int     `json:"parentLayerId,omitempty"`
	SubLayerIDs   []int   `json:"subLayerIds,omitempty"`
}

// FeatureService is the FeatureServer root resource.
type FeatureService struct {
	ServiceInfo
	HasVersionedData                bool              `json:"hasVersionedData,omitempty"`
	SupportsDisconnectedEditing     bool              `json:"supportsDisconnectedEditing,omitempty"`
	MaxRecordCount                  int               `json:"maxRecordCount,omitempty"`
	SupportedQueryFormats           string            `json:"supportedQueryFormats,omitempty"`
	Capabilities                    string            `json:"capabilities"`
	AllowGeometryUpdates            bool              `json:"allowGeometryUpdates,omitempty"`
	SyncEnabled                     bool              `json:"syncEnabled,omitempty"`
	SyncCapabilities                *SyncCapabilities `json:"syncCapabilities,omitempty"`
	SupportsApplyEditsWithGlobalIDs bool              `json:"supportsApplyEditsWithGlobalIds,omitempty"`
	Layers                          []LayerRef        `json:"layers"`
	Tables                          []LayerRef        `json:"tables"`
	ServiceItemID                   string            `json:"serviceItemId,omitempty"`
	EditorTrackingInfo              json.RawMessage   `json:"editorTrackingInfo,omitempty"`
}

// HasCapability reports whether the comma-separated capabilities string
// contains name (case-insensitive).
func HasCapability(capabilities, name string) bool {
	for _, c := range strings.Split(capabilities, ",") {
		if strings.EqualFold(strings.TrimSpace(c), name) {
			return true
		}
	}
	return false
}

// Feature is one feature of a query result, replica or edit.
type Feature struct {
	Attributes map[string]any `json:"attributes"`
	Geometry   *Geometry      `json:"geometry,omitempty"`
}

// FeatureSet is a query response (f=json).
type FeatureSet struct {
	ObjectIDFieldName     string            `json:"objectIdFieldName,omitempty"`
	GlobalIDFieldName     string            `json:"globalIdFieldName,omitempty"`
	GeometryType          string            `json:"geometryType,omitempty"`
	SpatialReference      *SpatialReference `json:"spatialReference,omitempty"`
	HasZ                  bool              `json:"hasZ,omitempty"`
	HasM                  bool              `json:"hasM,omitempty"`
	Fields                []Field           `json:"fields,omitempty"`
	Features              []Feature         `json:"features"`
	ExceededTransferLimit bool              `json:"exceededTransferLimit,omitempty"`
}

// AttachmentInfo describes one attachment in queryAttachments, per-feature
// attachment lists and replica files.
type AttachmentInfo struct {
	ID             int64  `json:"id,omitempty"`
	GlobalID       string `json:"globalId,omitempty"`
	ParentObjectID int64  `json:"parentObjectId,omitempty"`
	ParentGlobalID string `json:"parentGlobalId,omitempty"`
	Name           string `json:"name"`
	ContentType    string `json:"contentType"`
	Size           int64  `json:"size"`
	Keywords       string `json:"keywords,omitempty"`
	URL            string `json:"url,omitempty"`
	Data           string `json:"data,omitempty"` // base64, when embedded
}

// ServerGen is one layer's generation in a perLayer replica.
type ServerGen struct {
	ID           int   `json:"id"`
	ServerGen    int64 `json:"serverGen"`
	ServerSibGen int64 `json:"serverSibGen,omitempty"`
}

// ReplicaLayerQuery is a per-layer entry of createReplica's layerQueries
// (and of the replica resource's layers array).
type ReplicaLayerQuery struct {
	ID             *int   `json:"id,omitempty"`
	QueryOption    string `json:"queryOption,omitempty"` // all, none, useFilter
	Where          string `json:"where,omitempty"`
	UseGeometry    *bool  `json:"useGeometry,omitempty"`
	IncludeRelated *bool  `json:"includeRelated,omitempty"`
}

// ReplicaLayerData is one layer's data in a replica (or sync) JSON result.
type ReplicaLayerData struct {
	ID          int              `json:"id"`
	Features    []Feature        `json:"features"`
	Attachments []AttachmentInfo `json:"attachments,omitempty"`
}

// Replica is the replica JSON: the createReplica JSON result file and the
// replica info resource share these keys.
type Replica struct {
	ReplicaName              string            `json:"replicaName"`
	ReplicaID                string            `json:"replicaID"`
	ReplicaOwner             string            `json:"replicaOwner,omitempty"`
	TransportType            string            `json:"transportType,omitempty"`
	ResponseType             string            `json:"responseType,omitempty"`
	ReplicaServerGen         int64             `json:"replicaServerGen,omitempty"`
	LayerServerGens          []ServerGen       `json:"layerServerGens,omitempty"`
	SyncModel                string            `json:"syncModel,omitempty"`
	SyncDirection            string            `json:"syncDirection,omitempty"`
	TargetType               string            `json:"targetType,omitempty"`
	SyncDataOptions          int               `json:"syncDataOptions,omitempty"`
	ReturnAttachments        bool              `json:"returnAttachments,omitempty"`
	AttachmentsSyncDirection string            `json:"attachmentsSyncDirection,omitempty"`
	SpatialRel               string            `json:"spatialRel,omitempty"`
	Geometry                 *Geometry         `json:"geometry,omitempty"`
	SpatialReference         *SpatialReference `json:"spatialReference,omitempty"`
	CreationDate             int64             `json:"creationDate,omitempty"`
	LastSyncDate             int64             `json:"lastSyncDate,omitempty"`
	SupportsReplicaTracking  bool              `json:"supportsReplicaTracking,omitempty"`
	// Layers holds per-layer data in a result file, or per-layer query
	// settings in the replica info resource; use LayerData or LayerQueries.
	Layers json.RawMessage `json:"layers,omitempty"`
}

// LOD is one level of detail of a tiling scheme.
type LOD struct {
	Level      int     `json:"level"`
	Resolution float64 `json:"resolution"`
	Scale      float64 `json:"scale"`
}

// Point2D is a tiling scheme origin.
type Point2D struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// TileInfo is a cached service's tiling scheme.
type TileInfo struct {
	Rows               int               `json:"rows"`
	Cols               int               `json:"cols"`
	DPI                float64           `json:"dpi"`
	Format             string            `json:"format,omitempty"`
	CompressionQuality float64           `json:"compressionQuality,omitempty"`
	StorageFormat      string            `json:"storageFormat,omitempty"`
	PacketSize         int               `json:"packetSize,omitempty"`
	Origin             Point2D           `json:"origin"`
	SpatialReference   *SpatialReference `json:"spatialReference,omitempty"`
	LODs               []LOD             `json:"lods"`
}
