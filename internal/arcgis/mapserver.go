package arcgis

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// StorageInfo is a cache's storageInfo (11.1+; older servers put these
// keys in tileInfo).
type StorageInfo struct {
	StorageFormat string `json:"storageFormat,omitempty"`
	PacketSize    int    `json:"packetSize,omitempty"`
}

// ServiceInfo holds the descriptive keys of a service root that feature,
// map and vector tile services share.
type ServiceInfo struct {
	CurrentVersion     float64           `json:"currentVersion,omitempty"`
	ServiceDescription string            `json:"serviceDescription,omitempty"`
	Description        string            `json:"description,omitempty"`
	CopyrightText      string            `json:"copyrightText,omitempty"`
	SpatialReference   *SpatialReference `json:"spatialReference,omitempty"`
	InitialExtent      *Envelope         `json:"initialExtent,omitempty"`
	FullExtent         *Envelope         `json:"fullExtent,omitempty"`
	Units              string            `json:"units,omitempty"`
}

// TileCache holds the keys of a cached map or vector tile service root
// that describe its tiles and their export.
type TileCache struct {
	TileInfo            *TileInfo `json:"tileInfo,omitempty"`
	MinScale            float64   `json:"minScale,omitempty"`
	MaxScale            float64   `json:"maxScale,omitempty"`
	MinLOD              *int      `json:"minLOD,omitempty"`
	MaxLOD              *int      `json:"maxLOD,omitempty"`
	ExportTilesAllowed  bool      `json:"exportTilesAllowed"`
	MaxExportTilesCount int64     `json:"maxExportTilesCount,omitempty"`
}

// storage completes s with the storage keys older servers put in
// tileInfo.
func (t *TileCache) storage(s StorageInfo) StorageInfo {
	if t.TileInfo != nil {
		if s.StorageFormat == "" {
			s.StorageFormat = t.TileInfo.StorageFormat
		}
		if s.PacketSize == 0 {
			s.PacketSize = t.TileInfo.PacketSize
		}
	}
	return s
}

// MapService is a MapServer or ImageServer root resource (the keys offline
// packaging reads).
type MapService struct {
	ServiceInfo
	TileCache
	Name                string       `json:"name,omitempty"`
	MapName             string       `json:"mapName,omitempty"`
	Capabilities        string       `json:"capabilities,omitempty"`
	Layers              []LayerRef   `json:"layers,omitempty"`
	Tables              []LayerRef   `json:"tables,omitempty"`
	SingleFusedMapCache bool         `json:"singleFusedMapCache"`
	StorageInfo         *StorageInfo `json:"storageInfo,omitempty"`
	TileServers         []string     `json:"tileServers,omitempty"`
	SupportedExtensions string       `json:"supportedExtensions,omitempty"`
}

// IsCached reports whether the service serves cached tiles.
func (m *MapService) IsCached() bool {
	return m.TileInfo != nil && len(m.TileInfo.LODs) > 0 && (m.SingleFusedMapCache || m.TileInfo.Rows > 0)
}

// Storage returns the cache storage format and packet size from
// storageInfo, falling back to the tileInfo keys older servers use.
func (m *MapService) Storage() StorageInfo {
	var s StorageInfo
	if m.StorageInfo != nil {
		s = *m.StorageInfo
	}
	return m.storage(s)
}

// SupportsTilemap reports the Tilemap capability.
func (m *MapService) SupportsTilemap() bool { return HasCapability(m.Capabilities, "Tilemap") }

// MapService fetches a MapServer or ImageServer root JSON.
func (c *Client) MapService(ctx context.Context, svcURL string) (*MapService, error) {
	return getResource[MapService](ctx, c, "map service", svcURL, requireKeys("map/image service JSON", "tileInfo", "singleFusedMapCache", "layers", "capabilities", "spatialReference", "pixelType", "serviceDataType"))
}

// MapTile fetches tile/{level}/{row}/{col} of a cached MapServer or
// ImageServer. A missing tile is a *TileAbsentError (errors.Is
// ErrTileAbsent).
func (c *Client) MapTile(ctx context.Context, svcURL string, level, row, col int) (*Tile, error) {
	return c.fetchTile(ctx, joinURL(svcURL, "tile", itoa(level), itoa(row), itoa(col)))
}

// Tilemap fetches tilemap/{level}/{row}/{col}/{width}/{height} of a
// MapServer, ImageServer or VectorTileServer.
func (c *Client) Tilemap(ctx context.Context, svcURL string, level, row, col, width, height int) (*Tilemap, error) {
	return c.fetchTilemap(ctx, svcURL, level, row, col, width, height)
}

// ExportTilesParams are the exportTiles / estimateExportTilesSize
// parameters (MapServer, ImageServer, VectorTileServer).
type ExportTilesParams struct {
	ExportBy string // LevelID (default for MapServer), Resolution, Scale
	// Levels is "1,2,3" or ranges "1-4,7-9"; LevelIDs is used when empty.
	Levels   string
	LevelIDs []int
	// TilePackage true asks for a .tpk/.tpkx (MapServer default false).
	TilePackage *bool
	// ExportExtent is an envelope; ExportExtentText is "DEFAULT" or
	// "xmin,ymin,xmax,ymax".
	ExportExtent     *Envelope
	ExportExtentText string
	// Polygon (10.7+) supersedes the extent.
	Polygon *Geometry
	// AreaOfInterest is sent as a FeatureSet with one feature (older API).
	AreaOfInterest       *Geometry
	OptimizeTilesForSize *bool
	CompressionQuality   *int
	StorageFormatType    string // Compact, CompactV2
	Extra                url.Values
}

func (p *ExportTilesParams) values(defaultExportBy bool) (url.Values, error) {
	q := url.Values{}
	if p.ExportBy != "" {
		q.Set("exportBy", p.ExportBy)
	} else if defaultExportBy {
		q.Set("exportBy", "LevelID")
	}
	switch {
	case p.Levels != "":
		q.Set("levels", p.Levels)
	case len(p.LevelIDs) > 0:
		q.Set("levels", joinInts(p.LevelIDs))
	default:
		return nil, fmt.Errorf("levels are required")
	}
	setBool(q, "tilePackage", p.TilePackage)
	switch {
	case p.ExportExtent != nil:
		if err := setJSON(q, "exportExtent", p.ExportExtent); err != nil {
			return nil, err
		}
	case p.ExportExtentText != "":
		q.Set("exportExtent", p.ExportExtentText)
	}
	if p.Polygon != nil {
		if err := setJSON(q, "polygon", p.Polygon); err != nil {
			return nil, err
		}
	}
	if p.AreaOfInterest != nil {
		fs := map[string]any{"features": []map[string]any{{"geometry": p.AreaOfInterest}}}
		if err := setJSON(q, "areaOfInterest", fs); err != nil {
			return nil, err
		}
	}
	setBool(q, "optimizeTilesForSize", p.OptimizeTilesForSize)
	setIntPtr(q, "compressionQuality", p.CompressionQuality)
	setNonEmpty(q, "storageFormatType", p.StorageFormatType)
	return withExtra(q, p.Extra), nil
}

// submitJob POSTs a GP-style job submission and works out its status URL:
// statusUrl/jobUrl when the server names one, else opURL/jobs/{jobId}
// (MapServer exportTiles/jobs/{id}) or svcURL/jobs/{id} (vector tiles).
func (c *Client) submitJob(ctx context.Context, op, opURL, jobsBase string, q url.Values, idempotent bool) (*JobSubmission, error) {
	var raw json.RawMessage
	req := &request{op: op, method: http.MethodPost, url: opURL, form: withF(q), idempotent: idempotent}
	if err := c.doJSON(ctx, req, &raw, nil); err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil, &UnexpectedResponseError{Op: op, URL: opURL, Want: "job submission (jobId)", Body: snippet(raw)}
	}
	sub := &JobSubmission{JobID: jsonString(m["jobId"]), JobStatus: jsonString(m["jobStatus"]), Raw: raw}
	if sub.JobID == "" {
		return nil, &UnexpectedResponseError{Op: op, URL: opURL, Want: "job submission (jobId)", Body: snippet(raw)}
	}
	for _, k := range []string{"statusUrl", "jobUrl"} {
		if s := jsonString(m[k]); s != "" {
			sub.JobURL = s
		}
	}
	if sub.JobURL == "" {
		sub.JobURL = joinURL(jobsBase, "jobs", url.PathEscape(sub.JobID))
	}
	if sub.JobStatus == "" {
		sub.JobStatus = JobSubmitted
	}
	return sub, nil
}

// ExportTiles submits exportTiles on a MapServer/ImageServer (exportBy
// defaults to LevelID). Submission is not retried after it may have
// reached the server (it would start a second export); poll the returned
// JobURL with WaitJob, then ResolveExportOutput.
func (c *Client) ExportTiles(ctx context.Context, svcURL string, p ExportTilesParams) (*JobSubmission, error) {
	return c.exportJob(ctx, "export tiles", svcURL, "exportTiles", "", p, true, false)
}

// EstimateExportTilesSize submits estimateExportTilesSize (a read-only
// job, so retried like an idempotent request). Poll with WaitJob, then
// read EstimateResult.
func (c *Client) EstimateExportTilesSize(ctx context.Context, svcURL string, p ExportTilesParams) (*JobSubmission, error) {
	return c.exportJob(ctx, "estimate export tiles", svcURL, "estimateExportTilesSize", "", p, true, true)
}

// exportJob submits svcURL/op with p's parameters (raster: a map or image
// service's) and answers its job; jobsBase is where the job lives when the
// server names no status URL ("": svcURL/op). what names the call in errors.
func (c *Client) exportJob(ctx context.Context, what, svcURL, op, jobsBase string, p ExportTilesParams, raster, idempotent bool) (*JobSubmission, error) {
	opURL := joinURL(svcURL, op)
	if jobsBase == "" {
		jobsBase = opURL
	}
	q, err := p.values(raster)
	if err == nil {
		var sub *JobSubmission
		if sub, err = c.submitJob(ctx, op, opURL, jobsBase, q, idempotent); err == nil {
			return sub, nil
		}
	}
	return nil, fmt.Errorf("%s %s: %w", what, svcURL, err)
}

// TileEstimate is the result of estimateExportTilesSize.
type TileEstimate struct {
	TotalSize          int64 `json:"totalSize"`
	TotalTilesToExport int64 `json:"totalTilesToExport"`
}

// EstimateResult reads the out_service_size result of a finished
// estimateExportTilesSize job.
func (c *Client) EstimateResult(ctx context.Context, jobURL string, st *JobStatus) (*TileEstimate, error) {
	res, err := c.JobResult(ctx, jobURL, st, "out_service_size")
	if err != nil {
		return nil, err
	}
	var est TileEstimate
	if err := json.Unmarshal(res.Value, &est); err != nil {
		return nil, &UnexpectedResponseError{Op: "estimate result", URL: jobURL, Want: "{totalSize,totalTilesToExport}", Body: snippet(res.Value)}
	}
	return &est, nil
}
