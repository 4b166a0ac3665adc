package offline

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// ReplicaRequestOptions are createReplica values that are the job's
// choice rather than the map's.
type ReplicaRequestOptions struct {
	ReplicaName string
	// DataFormat defaults to "json" (offlined streams JSON into GeoPackage).
	DataFormat string
	// Sync forces async=false even when the service supports async.
	Sync bool
}

// ReplicaParams returns the createReplica call for a service's parameters
// in the REST client's typed form, for (*arcgis.Client).CreateReplica. It
// is the one place where the call's values are chosen; CreateReplicaRequest
// writes the same call as form values. Snapshots have no replica: use
// SnapshotQueryParams.
func ReplicaParams(g *GenerateGeodatabaseParameters, o ReplicaRequestOptions) (*arcgis.CreateReplicaParams, error) {
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
	gt := g.Extent.Type()
	if gt != arcgis.GeometryPolygon && gt != arcgis.GeometryEnvelope {
		return nil, fmt.Errorf("create replica %s: geometry is %q, want a polygon or envelope", g.ServiceURL, gt)
	}
	df := o.DataFormat
	if df == "" {
		df = "json"
	}
	bp := func(b bool) *bool { return &b }
	p := &arcgis.CreateReplicaParams{
		ReplicaName:                o.ReplicaName,
		Layers:                     g.LayerIDs(),
		LayerQueries:               map[int]arcgis.ReplicaLayerQuery{},
		Geometry:                   g.Extent,
		GeometryType:               gt,
		InSRJSON:                   srJSON(g.Extent.SpatialReference),
		ReplicaSRJSON:              srJSON(g.OutSpatialReference),
		TransportType:              "esriTransportTypeUrl",
		ReturnAttachments:          bp(g.ReturnAttachments),
		ReturnAttachmentsDataByURL: bp(true),
		Async:                      g.Async && !o.Sync,
		SyncModel:                  string(g.SyncModel),
		DataFormat:                 df,
		TargetType:                 "client",
		AttachmentsSyncDirection:   string(g.AttachmentSyncDirection),
	}
	if g.SyncModel != SyncModelNone {
		p.SyncDirection = "bidirectional"
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

// CreateReplicaRequest returns the form values of the createReplica call
// ReplicaParams chooses (for documentation, golden files and the estimate
// of what the job will send).
func CreateReplicaRequest(g *GenerateGeodatabaseParameters, o ReplicaRequestOptions) (url.Values, error) {
	p, err := ReplicaParams(g, o)
	if err != nil {
		return nil, err
	}
	v := url.Values{}
	v.Set("f", "json")
	if p.ReplicaName != "" {
		v.Set("replicaName", p.ReplicaName)
	}
	strs := make([]string, len(p.Layers))
	for i, id := range p.Layers {
		strs[i] = strconv.Itoa(id)
	}
	v.Set("layers", strings.Join(strs, ","))
	type lq struct {
		QueryOption    string `json:"queryOption"`
		Where          string `json:"where,omitempty"`
		UseGeometry    bool   `json:"useGeometry"`
		IncludeRelated bool   `json:"includeRelated"`
	}
	queries := map[string]lq{}
	for id, q := range p.LayerQueries {
		queries[strconv.Itoa(id)] = lq{QueryOption: q.QueryOption, Where: q.Where, UseGeometry: *q.UseGeometry, IncludeRelated: *q.IncludeRelated}
	}
	if err := setJSON(v, "layerQueries", queries); err != nil {
		return nil, err
	}
	if err := setJSON(v, "geometry", p.Geometry); err != nil {
		return nil, err
	}
	v.Set("geometryType", p.GeometryType)
	if p.InSRJSON != nil {
		if err := setJSON(v, "inSR", p.InSRJSON); err != nil {
			return nil, err
		}
	}
	if p.ReplicaSRJSON != nil {
		if err := setJSON(v, "replicaSR", p.ReplicaSRJSON); err != nil {
			return nil, err
		}
	}
	v.Set("transportType", p.TransportType)
	v.Set("returnAttachments", strconv.FormatBool(*p.ReturnAttachments))
	v.Set("returnAttachmentsDataByUrl", strconv.FormatBool(*p.ReturnAttachmentsDataByURL))
	v.Set("async", strconv.FormatBool(p.Async))
	v.Set("syncModel", p.SyncModel)
	v.Set("dataFormat", p.DataFormat)
	v.Set("targetType", p.TargetType)
	if p.SyncDirection != "" {
		v.Set("syncDirection", p.SyncDirection)
	}
	if p.AttachmentsSyncDirection != "" {
		v.Set("attachmentsSyncDirection", p.AttachmentsSyncDirection)
	}
	if p.ReplicaOptions != nil {
		if err := setJSON(v, "replicaOptions", p.ReplicaOptions); err != nil {
			return nil, err
		}
	}
	return v, nil
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
	v.Set("levels", LevelRanges(levelsUpTo(p.MaxLevel)))
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
