package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
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
	for _, fg := range a.groups {
		if gp := a.geodatabaseParameters(fg, aoi, t.Map.SpatialReference); gp != nil {
			ov.GenerateGeodatabase[fg.Key] = gp
		}
	}
	seenOnline := map[Key]bool{}
	for _, e := range a.order {
		c := a.caps[e]
		switch c.Method {
		case MethodRasterTiles:
			if _, ok := ov.ExportTileCache[e.Key]; ok {
				continue
			}
			ts := a.tileSvc[e.Key]
			ov.ExportTileCache[e.Key] = &ExportTileCacheParameters{
				ServiceURL: e.Service.URL, AreaOfInterest: cloneGeometry(aoi.Geometry),
				LevelIDs: LevelIDs(ts.tileInfo.LODs, p.MinScale, p.MaxScale), CompressionQuality: -1,
				MaxExportTilesCount: ts.maxExportTilesCount,
			}
		case MethodVectorTiles:
			if _, ok := ov.ExportVectorTiles[e.Key]; ok {
				continue
			}
			ts := a.tileSvc[e.Key]
			levels := LevelIDs(ts.tileInfo.LODs, p.MinScale, p.MaxScale)
			maxLevel := 0
			if len(levels) > 0 {
				maxLevel = levels[len(levels)-1]
			}
			ov.ExportVectorTiles[e.Key] = &ExportVectorTilesParameters{
				ServiceURL: e.Service.URL, AreaOfInterest: cloneGeometry(aoi.Geometry), MaxLevel: maxLevel,
				MaxExportTilesCount: ts.maxExportTilesCount,
			}
		case MethodReferenceBasemap:
			if ov.ReferenceBasemap == nil {
				ov.ReferenceBasemap = &ReferenceBasemap{Path: p.ReferenceBasemapPath()}
			}
			ov.ReferenceBasemap.Replaces = append(ov.ReferenceBasemap.Replaces, e.Key)
		case MethodOnlineOnly:
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
	}
	return ov, nil
}

func (a *analysis) geodatabaseParameters(fg *featureGroup, aoi *AOI, mapSR *arcgis.SpatialReference) *GenerateGeodatabaseParameters {
	if fg.method == "" {
		return nil
	}
	p := a.params
	// Layers taken: ok in the service and at least one entry going offline
	// by this group's method.
	taken := map[int]*GroupLayer{}
	for _, gl := range fg.Layers {
		if !fg.ok[gl.ID] {
			continue
		}
		for _, e := range gl.Entries {
			if m := a.caps[e].Method; m == MethodReplica || m == MethodSnapshot {
				taken[gl.ID] = gl
			}
		}
	}
	if len(taken) == 0 {
		return nil
	}
	gp := &GenerateGeodatabaseParameters{
		ServiceURL: fg.URL, Snapshot: fg.method == MethodSnapshot,
		Extent: cloneGeometry(aoi.Geometry),
	}
	sc := fg.svc.SyncCapabilities
	switch {
	case gp.Snapshot || p.UpdateMode == UpdateNoUpdates:
		gp.SyncModel = SyncModelNone
	case sc != nil && sc.SupportsPerLayerSync:
		gp.SyncModel = SyncModelPerLayer
	default:
		gp.SyncModel = SyncModelPerReplica
	}
	if mapSR != nil {
		sr := *mapSR
		gp.OutSpatialReference = &sr
	} else if fg.svc.SpatialReference != nil {
		sr := *fg.svc.SpatialReference
		gp.OutSpatialReference = &sr
	}
	if sc != nil && !gp.Snapshot {
		gp.SyncDataOptions = p.SyncDataOptions & sc.SupportedSyncDataOptions
		gp.Async = sc.SupportsAsync
	}

	anyEditable := false
	for id := range taken {
		if fg.editable[id] {
			anyEditable = true
		}
	}
	ids := make([]int, 0, len(taken))
	for id := range taken {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		gl := taken[id]
		l := fg.layers[id]
		editable := fg.editable[id]
		isTable := gl.IsTable || l.IsTable()
		related, destination := false, false
		for _, r := range l.Relationships {
			if _, ok := taken[r.RelatedTableID]; ok && r.RelatedTableID != id {
				related = true
				if strings.EqualFold(r.Role, "esriRelRoleDestination") {
					destination = true
				}
			}
		}
		where := ""
		if p.DefinitionExpressionFilterEnabled {
			where = gl.Where
		}
		opt := &GenerateLayerOption{LayerID: id, UseGeometry: !isTable, IncludeRelated: related}
		switch {
		case editable && p.ReturnSchemaOnlyForEditableLayers:
			opt.QueryOption, opt.IncludeRelated = QueryNone, false
		case isTable && !p.IncludeTableRows:
			opt.QueryOption = QueryNone
		case isTable && destination && where == "" && p.DestinationTableRowFilter == RowFilterRelatedOnly:
			opt.QueryOption = QueryNone
		case isTable && where == "":
			opt.QueryOption = QueryAll
		default:
			opt.QueryOption, opt.WhereClause = QueryUseFilter, where
		}
		gp.LayerOptions = append(gp.LayerOptions, opt)

		if l.HasAttachments && !(editable && p.ReturnSchemaOnlyForEditableLayers) {
			switch p.ReturnLayerAttachmentOption {
			case AttachmentsAllLayers:
				gp.ReturnAttachments = true
			case AttachmentsReadOnlyLayers:
				gp.ReturnAttachments = gp.ReturnAttachments || !editable
			case AttachmentsEditableLayers:
				gp.ReturnAttachments = gp.ReturnAttachments || editable
			}
		}
	}
	if !gp.Snapshot && sc != nil && sc.SupportsAttachmentsSyncDirection {
		gp.AttachmentSyncDirection = CoerceAttachmentSync(p.AttachmentSyncDirection, gp.ReturnAttachments, anyEditable)
	}
	return gp
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
func LevelRanges(ids []int) string {
	s := append([]int(nil), ids...)
	sort.Ints(s)
	var parts []string
	for i := 0; i < len(s); {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", s[i], s[j]))
		} else {
			parts = append(parts, strconv.Itoa(s[i]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// ReplicaRequestOptions are createReplica values that are the job's
// choice rather than the map's.
type ReplicaRequestOptions struct {
	ReplicaName string
	// DataFormat defaults to "json" (offlined streams JSON into GeoPackage).
	DataFormat string
	// Sync forces async=false even when the service supports async.
	Sync bool
}

// CreateReplicaRequest returns the form values of the createReplica call
// for a service's parameters. Snapshots have no replica: use QueryRequest.
func CreateReplicaRequest(g *GenerateGeodatabaseParameters, o ReplicaRequestOptions) (url.Values, error) {
	if g.Snapshot {
		return nil, fmt.Errorf("create replica %s: service is taken as a snapshot (no Sync)", g.ServiceURL)
	}
	if len(g.LayerOptions) == 0 {
		return nil, fmt.Errorf("create replica %s: no layers", g.ServiceURL)
	}
	if g.Extent == nil {
		return nil, fmt.Errorf("create replica %s: no extent", g.ServiceURL)
	}
	for _, opt := range g.LayerOptions {
		if opt == nil {
			return nil, fmt.Errorf("create replica %s: empty layer option", g.ServiceURL)
		}
	}
	v := url.Values{}
	v.Set("f", "json")
	if o.ReplicaName != "" {
		v.Set("replicaName", o.ReplicaName)
	}
	ids := g.LayerIDs()
	strs := make([]string, len(ids))
	for i, id := range ids {
		strs[i] = strconv.Itoa(id)
	}
	v.Set("layers", strings.Join(strs, ","))
	type lq struct {
		QueryOption    QueryOption `json:"queryOption"`
		Where          string      `json:"where,omitempty"`
		UseGeometry    bool        `json:"useGeometry"`
		IncludeRelated bool        `json:"includeRelated"`
	}
	queries := map[string]lq{}
	for _, opt := range g.LayerOptions {
		q := lq{QueryOption: opt.QueryOption, UseGeometry: opt.UseGeometry, IncludeRelated: opt.IncludeRelated}
		if opt.QueryOption == QueryUseFilter {
			q.Where = opt.WhereClause
		}
		queries[strconv.Itoa(opt.LayerID)] = q
	}
	if err := setJSON(v, "layerQueries", queries); err != nil {
		return nil, err
	}
	if err := setGeometry(v, g.Extent); err != nil {
		return nil, fmt.Errorf("create replica %s: %w", g.ServiceURL, err)
	}
	if g.OutSpatialReference != nil {
		if err := setJSON(v, "replicaSR", srJSON(g.OutSpatialReference)); err != nil {
			return nil, err
		}
	}
	v.Set("transportType", "esriTransportTypeUrl")
	v.Set("returnAttachments", strconv.FormatBool(g.ReturnAttachments))
	v.Set("returnAttachmentsDataByUrl", "true")
	v.Set("async", strconv.FormatBool(g.Async && !o.Sync))
	v.Set("syncModel", string(g.SyncModel))
	df := o.DataFormat
	if df == "" {
		df = "json"
	}
	v.Set("dataFormat", df)
	v.Set("targetType", "client")
	if g.SyncModel != SyncModelNone {
		v.Set("syncDirection", "bidirectional")
	}
	if g.AttachmentSyncDirection != "" {
		v.Set("attachmentsSyncDirection", string(g.AttachmentSyncDirection))
	}
	if g.SyncDataOptions != 0 {
		if err := setJSON(v, "replicaOptions", map[string]int{"syncDataOptions": g.SyncDataOptions}); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// ReplicaParams returns the same createReplica call as CreateReplicaRequest
// in the REST client's typed form, for (*arcgis.Client).CreateReplica.
func ReplicaParams(g *GenerateGeodatabaseParameters, o ReplicaRequestOptions) (*arcgis.CreateReplicaParams, error) {
	v, err := CreateReplicaRequest(g, o) // same checks, same choices
	if err != nil {
		return nil, err
	}
	bp := func(b bool) *bool { return &b }
	p := &arcgis.CreateReplicaParams{
		ReplicaName:                o.ReplicaName,
		Layers:                     g.LayerIDs(),
		LayerQueries:               map[int]arcgis.ReplicaLayerQuery{},
		Geometry:                   g.Extent,
		GeometryType:               v.Get("geometryType"),
		InSRJSON:                   srJSON(g.Extent.SpatialReference),
		ReplicaSRJSON:              srJSON(g.OutSpatialReference),
		TransportType:              v.Get("transportType"),
		ReturnAttachments:          bp(g.ReturnAttachments),
		ReturnAttachmentsDataByURL: bp(true),
		Async:                      v.Get("async") == "true",
		SyncModel:                  string(g.SyncModel),
		DataFormat:                 v.Get("dataFormat"),
		TargetType:                 v.Get("targetType"),
		SyncDirection:              v.Get("syncDirection"),
		AttachmentsSyncDirection:   string(g.AttachmentSyncDirection),
	}
	for _, opt := range g.LayerOptions {
		q := arcgis.ReplicaLayerQuery{QueryOption: string(opt.QueryOption), UseGeometry: bp(opt.UseGeometry), IncludeRelated: bp(opt.IncludeRelated)}
		if opt.QueryOption == QueryUseFilter {
			q.Where = opt.WhereClause
		}
		p.LayerQueries[opt.LayerID] = q
	}
	if g.SyncDataOptions != 0 {
		p.ReplicaOptions = map[string]any{"syncDataOptions": g.SyncDataOptions}
	}
	return p, nil
}

// QueryRequest returns the base query values for one layer of a snapshot
// (or any paged read of a layer option): where, the area, output SR, all
// fields. The caller adds paging (resultOffset/resultRecordCount,
// orderByFields). ok is false for queryOption none (schema only).
func QueryRequest(g *GenerateGeodatabaseParameters, layerID int) (v url.Values, ok bool, err error) {
	opt := g.LayerOption(layerID)
	if opt == nil {
		return nil, false, fmt.Errorf("query %s/%d: layer not in the parameters", g.ServiceURL, layerID)
	}
	if opt.QueryOption == QueryNone {
		return nil, false, nil
	}
	v = url.Values{}
	v.Set("f", "json")
	where := "1=1"
	if opt.QueryOption == QueryUseFilter && opt.WhereClause != "" {
		where = opt.WhereClause
	}
	v.Set("where", where)
	if opt.UseGeometry && opt.QueryOption == QueryUseFilter && g.Extent != nil {
		if err := setGeometry(v, g.Extent); err != nil {
			return nil, false, fmt.Errorf("query %s/%d: %w", g.ServiceURL, layerID, err)
		}
		v.Set("spatialRel", "esriSpatialRelIntersects")
	}
	if g.OutSpatialReference != nil {
		if err := setJSON(v, "outSR", srJSON(g.OutSpatialReference)); err != nil {
			return nil, false, err
		}
	}
	v.Set("outFields", "*")
	v.Set("returnGeometry", "true")
	return v, true, nil
}

// SnapshotQueryParams returns QueryRequest's query in the REST client's
// typed form, for (*arcgis.Client).QueryAll, which adds the paging. ok is
// false for queryOption none (schema only).
func SnapshotQueryParams(g *GenerateGeodatabaseParameters, layerID int) (p arcgis.QueryParams, ok bool, err error) {
	v, ok, err := QueryRequest(g, layerID)
	if err != nil || !ok {
		return p, ok, err
	}
	t := true
	p = arcgis.QueryParams{Where: v.Get("where"), OutFields: []string{"*"}, ReturnGeometry: &t, SpatialRel: v.Get("spatialRel")}
	if v.Has("geometry") {
		p.Geometry, p.GeometryType = g.Extent, v.Get("geometryType")
		p.InSR = setSRParam(&p.Extra, "inSR", g.Extent.SpatialReference)
	}
	if g.OutSpatialReference != nil {
		p.OutSR = setSRParam(&p.Extra, "outSR", g.OutSpatialReference)
	}
	return p, true, nil
}

// setSRParam returns the wkid to send, or puts a WKT reference into extra.
func setSRParam(extra *url.Values, name string, sr *arcgis.SpatialReference) int {
	switch {
	case sr == nil:
		return 0
	case sr.WKID != 0:
		return sr.WKID
	case sr.LatestWKID != 0:
		return sr.LatestWKID
	case sr.WKT != "":
		if *extra == nil {
			*extra = url.Values{}
		}
		_ = setJSON(*extra, name, srJSON(sr))
	}
	return 0
}

// ExportTilesRequest returns the exportTiles form values of a raster tiled
// layer (tilePackage, by level id, the area as polygon and as extent).
func ExportTilesRequest(p *ExportTileCacheParameters) (url.Values, error) {
	if len(p.LevelIDs) == 0 {
		return nil, fmt.Errorf("export tiles %s: no levels", p.ServiceURL)
	}
	v := url.Values{}
	v.Set("f", "json")
	v.Set("exportBy", "LevelID")
	v.Set("levels", LevelRanges(p.LevelIDs))
	v.Set("tilePackage", "true")
	if err := setArea(v, p.AreaOfInterest); err != nil {
		return nil, fmt.Errorf("export tiles %s: %w", p.ServiceURL, err)
	}
	if p.CompressionQuality >= 0 {
		v.Set("optimizeTilesForSize", "true")
		v.Set("compressionQuality", strconv.FormatFloat(p.CompressionQuality, 'f', -1, 64))
	}
	return v, nil
}

// ExportVectorTilesRequest returns the VectorTileServer exportTiles values.
func ExportVectorTilesRequest(p *ExportVectorTilesParameters) (url.Values, error) {
	v := url.Values{}
	v.Set("f", "json")
	v.Set("exportBy", "levelId")
	v.Set("levels", LevelRanges(rangeInts(0, p.MaxLevel)))
	if err := setArea(v, p.AreaOfInterest); err != nil {
		return nil, fmt.Errorf("export vector tiles %s: %w", p.ServiceURL, err)
	}
	return v, nil
}

// ExportTilesParams returns ExportTilesRequest's call in the REST client's
// typed form, for (*arcgis.Client).ExportTiles.
func ExportTilesParams(p *ExportTileCacheParameters) (*arcgis.ExportTilesParams, error) {
	v, err := ExportTilesRequest(p)
	if err != nil {
		return nil, err
	}
	return exportParams(v, p.AreaOfInterest), nil
}

// ExportVectorTilesParams returns ExportVectorTilesRequest's call in the
// REST client's typed form, for (*arcgis.Client).ExportVectorTiles.
func ExportVectorTilesParams(p *ExportVectorTilesParameters) (*arcgis.ExportTilesParams, error) {
	v, err := ExportVectorTilesRequest(p)
	if err != nil {
		return nil, err
	}
	return exportParams(v, p.AreaOfInterest), nil
}

func exportParams(v url.Values, area *arcgis.Geometry) *arcgis.ExportTilesParams {
	out := &arcgis.ExportTilesParams{ExportBy: v.Get("exportBy"), Levels: v.Get("levels"), Polygon: area}
	if v.Get("tilePackage") == "true" {
		t := true
		out.TilePackage = &t
	}
	var ext arcgis.Envelope
	if json.Unmarshal([]byte(v.Get("exportExtent")), &ext) == nil {
		out.ExportExtent = &ext
	}
	if q := v.Get("compressionQuality"); q != "" {
		if f, err := strconv.ParseFloat(q, 64); err == nil {
			n, t := int(math.Round(f)), true
			out.CompressionQuality, out.OptimizeTilesForSize = &n, &t
		}
	}
	return out
}

func rangeInts(a, b int) []int {
	var out []int
	for i := a; i <= b; i++ {
		out = append(out, i)
	}
	return out
}

func setArea(v url.Values, g *arcgis.Geometry) error {
	if g == nil {
		return fmt.Errorf("no area")
	}
	if err := setJSON(v, "polygon", g); err != nil {
		return err
	}
	b := ringsBound(g.Rings)
	if g.Type() == arcgis.GeometryEnvelope {
		b.Min[0], b.Min[1], b.Max[0], b.Max[1] = *g.XMin, *g.YMin, *g.XMax, *g.YMax
	}
	return setJSON(v, "exportExtent", arcgis.Envelope{XMin: b.Min[0], YMin: b.Min[1], XMax: b.Max[0], YMax: b.Max[1], SpatialReference: srJSON(g.SpatialReference)})
}

func setGeometry(v url.Values, g *arcgis.Geometry) error {
	gt := g.Type()
	if gt != arcgis.GeometryPolygon && gt != arcgis.GeometryEnvelope {
		return fmt.Errorf("geometry is %q, want a polygon or envelope", gt)
	}
	if err := setJSON(v, "geometry", g); err != nil {
		return err
	}
	v.Set("geometryType", gt)
	if g.SpatialReference != nil {
		return setJSON(v, "inSR", srJSON(g.SpatialReference))
	}
	return nil
}

// srJSON keeps wkid/latestWkid or wkt only.
func srJSON(sr *arcgis.SpatialReference) *arcgis.SpatialReference {
	if sr == nil {
		return nil
	}
	return &arcgis.SpatialReference{WKID: sr.WKID, LatestWKID: sr.LatestWKID, WKT: sr.WKT}
}

// setJSON sets a JSON-valued form parameter (without HTML escaping, so
// where clauses stay readable in logs).
func setJSON(v url.Values, name string, x any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	v.Set(name, strings.TrimSuffix(buf.String(), "\n"))
	return nil
}

// checkOverrides reports keys that name nothing of the right kind in the
// map, and values ArcGIS would reject.
func (t *Task) checkOverrides(o *Overrides) []error {
	var errs []error
	unknown := func(k Key, what string) {
		errs = append(errs, &ValidationError{Code: ErrUnknownOverrideKey, Key: k, Message: fmt.Sprintf("overrides: %s key %s names no such layer in the web map", what, k)})
	}
	invalid := func(k Key, format string, args ...any) {
		errs = append(errs, &ValidationError{Code: ErrOverride, Key: k, Message: fmt.Sprintf("overrides: %s: ", k) + fmt.Sprintf(format, args...)})
	}
	groups := map[Key]*ServiceGroup{}
	for _, g := range GroupFeatureEntries(t.entries) {
		groups[g.Key] = g
	}
	byKey := map[Key][]*Entry{}
	for _, e := range t.entries {
		byKey[e.Key] = append(byKey[e.Key], e)
	}
	hasType := func(k Key, types ...string) bool {
		for _, e := range byKey[k] {
			for _, ty := range types {
				if e.LayerType == ty {
					return true
				}
			}
		}
		return false
	}
	for _, k := range sortedKeys(o.GenerateGeodatabase) {
		gp := o.GenerateGeodatabase[k]
		g := groups[k]
		if g == nil {
			unknown(k, "generateGeodatabase")
			continue
		}
		if gp == nil {
			invalid(k, "nil parameters")
			continue
		}
		if ServiceKey(gp.ServiceURL) != k {
			invalid(k, "serviceUrl %s does not match the key", gp.ServiceURL)
		}
		seen := map[int]bool{}
		for _, opt := range gp.LayerOptions {
			if opt == nil {
				invalid(k, "nil layer option")
				continue
			}
			if g.Layer(opt.LayerID) == nil {
				unknown(LayerKey(g.URL, opt.LayerID), "generateGeodatabase layer option")
				continue
			}
			if seen[opt.LayerID] {
				invalid(k, "layer %d listed twice", opt.LayerID)
			}
			seen[opt.LayerID] = true
			switch opt.QueryOption {
			case QueryAll, QueryNone, QueryUseFilter:
			default:
				invalid(k, "layer %d queryOption %q is not all, none or useFilter", opt.LayerID, opt.QueryOption)
			}
		}
		switch gp.SyncModel {
		case SyncModelPerLayer, SyncModelPerReplica, SyncModelNone:
		default:
			invalid(k, "syncModel %q is not perLayer, perReplica or none", gp.SyncModel)
		}
		if gp.Snapshot && gp.SyncModel != SyncModelNone {
			invalid(k, "a snapshot (service without Sync) cannot have syncModel %s", gp.SyncModel)
		}
		if d := gp.AttachmentSyncDirection; d != "" {
			if !validAttachmentSync(d) {
				invalid(k, "attachmentSyncDirection %q is not none, upload or bidirectional", d)
			} else if gp.ReturnAttachments && d == AttachmentSyncNone || !gp.ReturnAttachments && d == AttachmentSyncBidirectional {
				invalid(k, "returnAttachments %v with attachmentSyncDirection %s: ArcGIS accepts true with bidirectional/upload, false with upload/none", gp.ReturnAttachments, d)
			}
		}
		if gp.Extent != nil {
			if _, err := PrepareAOI(gp.Extent, t.Map.SpatialReference); err != nil {
				invalid(k, "extent: %v", err)
			}
		}
	}
	for _, k := range sortedKeys(o.ExportTileCache) {
		p := o.ExportTileCache[k]
		if !hasType(k, LayerTypeTiledMapService, LayerTypeTiledImage) {
			unknown(k, "exportTileCache")
			continue
		}
		if p == nil || len(p.LevelIDs) == 0 {
			invalid(k, "no level ids")
			continue
		}
		if p.CompressionQuality > 100 || (p.CompressionQuality < 0 && p.CompressionQuality != -1) {
			invalid(k, "compressionQuality %g is not -1 or 0-100", p.CompressionQuality)
		}
		if p.AreaOfInterest != nil {
			if _, err := PrepareAOI(p.AreaOfInterest, t.Map.SpatialReference); err != nil {
				invalid(k, "area: %v", err)
			}
		}
	}
	for _, k := range sortedKeys(o.ExportVectorTiles) {
		p := o.ExportVectorTiles[k]
		if !hasType(k, LayerTypeVectorTile) {
			unknown(k, "exportVectorTiles")
			continue
		}
		if p == nil || p.MaxLevel < 0 {
			invalid(k, "maxLevel must be 0 or more")
			continue
		}
		if p.AreaOfInterest != nil {
			if _, err := PrepareAOI(p.AreaOfInterest, t.Map.SpatialReference); err != nil {
				invalid(k, "area: %v", err)
			}
		}
	}
	for _, k := range o.OnlineLayers {
		ok := false
		for _, e := range byKey[k] {
			ok = ok || !e.IsTable()
		}
		if !ok {
			unknown(k, "onlineLayers")
		}
	}
	for _, k := range o.OnlineTables {
		ok := false
		for _, e := range byKey[k] {
			ok = ok || e.IsTable()
		}
		if !ok {
			unknown(k, "onlineTables")
		}
	}
	if rb := o.ReferenceBasemap; rb != nil {
		if st, err := os.Stat(rb.Path); err != nil || !st.Mode().IsRegular() {
			errs = append(errs, &ValidationError{Code: ErrReferenceBasemapMissing, Message: fmt.Sprintf("overrides: reference basemap %s not found on the device", rb.Path)})
		}
		for _, k := range rb.Replaces {
			ok := false
			for _, e := range byKey[k] {
				ok = ok || e.Role.IsBasemap()
			}
			if !ok {
				unknown(k, "referenceBasemap.replaces")
			}
		}
	}
	return errs
}
