package offline

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// OnlineOnlyOption says what happens to layers and tables that cannot go
// offline (ArcGIS's OnlineOnlyServicesOption).
type OnlineOnlyOption string

// Online-only options.
const (
	// OnlineOnlyExclude leaves them out of the offline map.
	OnlineOnlyExclude OnlineOnlyOption = "exclude"
	// OnlineOnlyInclude keeps them in the offline map, referenced by URL.
	OnlineOnlyInclude OnlineOnlyOption = "include"
	// OnlineOnlyUseAuthoredSettings keeps online exactly the layers the author
	// listed in connectedOnlineLayers (even ones that could go offline) and
	// excludes other non-offlineable ones. Without offline settings in the
	// web map it behaves as OnlineOnlyExclude.
	OnlineOnlyUseAuthoredSettings OnlineOnlyOption = "useAuthoredSettings"
)

// UpdateMode says whether the offline data keeps syncing.
type UpdateMode string

// Update modes.
const (
	// UpdateSyncWithFeatureServices registers a replica per feature service.
	UpdateSyncWithFeatureServices UpdateMode = "syncWithFeatureServices"
	// UpdateNoUpdates registers nothing: createReplica with syncModel=none
	// (or a snapshot through queries when the service cannot do that).
	UpdateNoUpdates UpdateMode = "noUpdates"
)

// RowFilter is the destination table row filter.
type RowFilter string

// Destination table row filters.
const (
	// RowFilterRelatedOnly takes only the destination table rows related to
	// the features taken (tables that are the destination of a relationship
	// with an offline layer, without a definition expression of their own).
	RowFilterRelatedOnly RowFilter = "relatedOnly"
	// RowFilterAll takes every row of destination tables.
	RowFilterAll RowFilter = "all"
)

// AttachmentOption says which layers bring their attachments.
type AttachmentOption string

// Attachment options (ArcGIS's ReturnLayerAttachmentOption).
const (
	AttachmentsNone           AttachmentOption = "none"
	AttachmentsAllLayers      AttachmentOption = "allLayers"
	AttachmentsReadOnlyLayers AttachmentOption = "readOnlyLayers"
	AttachmentsEditableLayers AttachmentOption = "editableLayers"
)

// AttachmentSyncDirection is createReplica's attachmentsSyncDirection.
type AttachmentSyncDirection string

// Attachment sync directions.
const (
	AttachmentSyncNone          AttachmentSyncDirection = "none"
	AttachmentSyncUpload        AttachmentSyncDirection = "upload"
	AttachmentSyncBidirectional AttachmentSyncDirection = "bidirectional"
)

// ItemInfo is the offline map's metadata (iteminfo.json), from the portal
// item unless overridden.
type ItemInfo struct {
	Title             string   `json:"title"`
	Snippet           string   `json:"snippet,omitempty"`
	Description       string   `json:"description,omitempty"`
	Tags              []string `json:"tags,omitempty"`
	AccessInformation string   `json:"accessInformation,omitempty"`
	LicenseInfo       string   `json:"licenseInfo,omitempty"`
	// Thumbnail is the portal item's thumbnail name (e.g.
	// "thumbnail/ago_downloaded.png"), fetched by the job.
	Thumbnail string `json:"thumbnail,omitempty"`
	// ThumbnailFile, when set, is a local image used instead.
	ThumbnailFile string `json:"thumbnailFile,omitempty"`
}

// Parameters are the options of one offline map job (ArcGIS's
// GenerateOfflineMapParameters). Get defaults with
// Task.CreateDefaultParameters, change what you need, then build overrides.
type Parameters struct {
	// AreaOfInterest is a polygon or envelope in WGS84, Web Mercator or the
	// map's spatial reference (the map's when it has none). It may cross the
	// antimeridian.
	AreaOfInterest *arcgis.Geometry `json:"areaOfInterest"`
	// MinScale and MaxScale bound the tile levels (0 = unbounded).
	MinScale float64 `json:"minScale"`
	MaxScale float64 `json:"maxScale"`

	// IncludeBasemap false leaves every basemap layer out.
	IncludeBasemap bool `json:"includeBasemap"`
	// ReferenceBasemapDirectory and ReferenceBasemapFilename, both set, name
	// a basemap file already on the device (.mbtiles, .tpkx, .vtpk) used
	// instead of downloading the basemap.
	ReferenceBasemapDirectory string `json:"referenceBasemapDirectory,omitempty"`
	ReferenceBasemapFilename  string `json:"referenceBasemapFilename,omitempty"`

	OnlineOnlyServicesOption OnlineOnlyOption `json:"onlineOnlyServicesOption"`
	UpdateMode               UpdateMode       `json:"updateMode"`
	// DefinitionExpressionFilterEnabled applies layers' definition
	// expressions as replica where clauses.
	DefinitionExpressionFilterEnabled bool      `json:"definitionExpressionFilterEnabled"`
	DestinationTableRowFilter         RowFilter `json:"destinationTableRowFilter"`
	// ContinueOnErrors lets the job finish when a layer or table fails.
	ContinueOnErrors bool `json:"continueOnErrors"`

	ReturnLayerAttachmentOption AttachmentOption        `json:"returnLayerAttachmentOption"`
	AttachmentSyncDirection     AttachmentSyncDirection `json:"attachmentSyncDirection"`
	// ReturnSchemaOnlyForEditableLayers takes editable layers empty.
	ReturnSchemaOnlyForEditableLayers bool `json:"returnSchemaOnlyForEditableLayers"`
	// IncludeTableRows false takes web map tables without rows (except rows
	// related to features taken); from offline.tables.includeRows.
	IncludeTableRows bool `json:"includeTableRows"`
	// SyncDataOptions is the web map's offline.syncDataOptions (ANDed with
	// each service's supportedSyncDataOptions in overrides).
	SyncDataOptions int `json:"syncDataOptions,omitempty"`

	ItemInfo *ItemInfo `json:"itemInfo,omitempty"`

	// MaxBytes, when > 0, is the package's storage budget: a job whose
	// estimate (Task.Estimate) is over it refuses to start, with a
	// proposal that fits, unless AllowOverBudget.
	MaxBytes        int64 `json:"maxBytes,omitempty"`
	AllowOverBudget bool  `json:"allowOverBudget,omitempty"`
}

// ReferenceBasemapPath returns the reference basemap file path, or "" when
// none is set.
func (p *Parameters) ReferenceBasemapPath() string {
	if p.ReferenceBasemapDirectory == "" || p.ReferenceBasemapFilename == "" {
		return ""
	}
	if filepath.IsAbs(p.ReferenceBasemapFilename) {
		return p.ReferenceBasemapFilename
	}
	return filepath.Join(p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename)
}

// CreateDefaultParameters returns parameters for an area of interest and
// scale range, with every other option taken from the web map author's
// offline settings (applicationProperties.offline):
//
//   - editableLayers.download none → ReturnSchemaOnlyForEditableLayers;
//   - attachments: editable layers bring them when download is
//     featuresAndAttachments (the default), read-only layers when
//     readonlyLayers.downloadAttachments (default true); the pair becomes
//     allLayers / editableLayers / readOnlyLayers / none;
//   - editableLayers.sync syncFeaturesAndAttachments (default) →
//     bidirectional attachment sync, the other values → upload; with
//     option none a bidirectional direction becomes upload (ArcGIS's valid
//     pairs are none→{none, upload});
//   - offlinebasemap.referenceBasemapName → ReferenceBasemapFilename (the
//     directory is the caller's to set);
//   - connectedOnlineLayers → OnlineOnlyServicesOption useAuthoredSettings
//     (otherwise exclude);
//   - tables.includeRows → IncludeTableRows; syncDataOptions passed on.
//
// The area is validated (a *ValidationError when unusable); a nil area is
// allowed here and reported by Validate.
func (t *Task) CreateDefaultParameters(ctx context.Context, areaOfInterest *arcgis.Geometry, minScale, maxScale float64) (*Parameters, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := t.baseParameters()
	if areaOfInterest != nil {
		g := cloneGeometry(areaOfInterest)
		if g.SpatialReference == nil && t.Map.SpatialReference != nil {
			sr := *t.Map.SpatialReference
			g.SpatialReference = &sr
		}
		if _, err := PrepareAOI(g, t.Map.SpatialReference); err != nil {
			return nil, err
		}
		p.AreaOfInterest = g
	}
	p.MinScale, p.MaxScale = minScale, maxScale
	if err := checkScales(minScale, maxScale); err != nil {
		return nil, err
	}
	return p, nil
}

// baseParameters are the defaults without an area.
func (t *Task) baseParameters() *Parameters {
	o := t.Map.Offline()
	p := &Parameters{
		IncludeBasemap:                    true,
		OnlineOnlyServicesOption:          OnlineOnlyExclude,
		UpdateMode:                        UpdateSyncWithFeatureServices,
		DefinitionExpressionFilterEnabled: true,
		DestinationTableRowFilter:         RowFilterRelatedOnly,
		ContinueOnErrors:                  true,
		ReturnSchemaOnlyForEditableLayers: o.EditableDownload() == DownloadNone,
		ReferenceBasemapFilename:          o.ReferenceBasemapName(),
		IncludeTableRows:                  o.TableRows(),
	}
	if len(o.ConnectedOnlineLayers) > 0 {
		p.OnlineOnlyServicesOption = OnlineOnlyUseAuthoredSettings
	}
	if o.SyncDataOptions != nil {
		p.SyncDataOptions = *o.SyncDataOptions
	}
	editableAtt := o.EditableDownload() == DownloadFeaturesAndAttachments
	readonlyAtt := o.ReadonlyDownloadAttachments()
	switch {
	case editableAtt && readonlyAtt:
		p.ReturnLayerAttachmentOption = AttachmentsAllLayers
	case editableAtt:
		p.ReturnLayerAttachmentOption = AttachmentsEditableLayers
	case readonlyAtt:
		p.ReturnLayerAttachmentOption = AttachmentsReadOnlyLayers
	default:
		p.ReturnLayerAttachmentOption = AttachmentsNone
	}
	p.AttachmentSyncDirection = AttachmentSyncUpload
	if o.EditableSync() == SyncFeaturesAndAttachments {
		p.AttachmentSyncDirection = AttachmentSyncBidirectional
	}
	if p.ReturnLayerAttachmentOption == AttachmentsNone && p.AttachmentSyncDirection == AttachmentSyncBidirectional {
		p.AttachmentSyncDirection = AttachmentSyncUpload
	}
	p.ItemInfo = t.defaultItemInfo()
	return p
}

func (t *Task) defaultItemInfo() *ItemInfo {
	if it := t.Item; it != nil {
		return &ItemInfo{Title: it.Title, Snippet: it.Snippet, Description: it.Description,
			Tags: append([]string(nil), it.Tags...), AccessInformation: it.AccessInformation,
			LicenseInfo: it.LicenseInfo, Thumbnail: it.Thumbnail}
	}
	title := ""
	switch {
	case t.Source.File != "":
		title = strings.TrimSuffix(filepath.Base(t.Source.File), filepath.Ext(t.Source.File))
	case t.Source.WebMapURL != "":
		title = t.Source.WebMapURL
	}
	if t.Map.BaseMap != nil && title == "" {
		title = t.Map.BaseMap.Title
	}
	return &ItemInfo{Title: title}
}

func cloneGeometry(g *arcgis.Geometry) *arcgis.Geometry {
	c := *g
	f := func(p *float64) *float64 {
		if p == nil {
			return nil
		}
		v := *p
		return &v
	}
	c.X, c.Y, c.Z, c.M = f(g.X), f(g.Y), f(g.Z), f(g.M)
	c.XMin, c.YMin, c.XMax, c.YMax = f(g.XMin), f(g.YMin), f(g.XMax), f(g.YMax)
	if g.Points != nil {
		c.Points = make([][]float64, len(g.Points))
		for i, p := range g.Points {
			c.Points[i] = append([]float64(nil), p...)
		}
	}
	cp := func(in [][][]float64) [][][]float64 {
		if in == nil {
			return nil
		}
		out := make([][][]float64, len(in))
		for i, r := range in {
			out[i] = make([][]float64, len(r))
			for j, p := range r {
				out[i][j] = append([]float64(nil), p...)
			}
		}
		return out
	}
	c.Paths, c.Rings = cp(g.Paths), cp(g.Rings)
	if g.SpatialReference != nil {
		sr := *g.SpatialReference
		c.SpatialReference = &sr
	}
	return &c
}
