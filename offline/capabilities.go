package offline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// Method says how a layer or table goes offline.
type Method string

// Methods.
const (
	// MethodReplica: createReplica on the feature service (one replica per
	// service for all its layers and tables in the map).
	MethodReplica Method = "replica"
	// MethodSnapshot: the service has no Sync but has Query; its layers are
	// copied read-only through paged queries and cannot be synced.
	MethodSnapshot Method = "snapshot"
	// MethodRasterTiles: tiles of a cached MapServer/ImageServer into MBTiles.
	MethodRasterTiles Method = "rasterTiles"
	// MethodVectorTiles: tiles and resources of a VectorTileServer.
	MethodVectorTiles Method = "vectorTiles"
	// MethodReferenceBasemap: a basemap file already on the device replaces
	// the basemap layers.
	MethodReferenceBasemap Method = "referenceBasemap"
	// MethodEmbedded: the layer's features are inline in the web map
	// (featureCollection) and travel in map.json.
	MethodEmbedded Method = "embedded"
	// MethodOnlineOnly: the layer stays online, referenced by URL.
	MethodOnlineOnly Method = "onlineOnly"
	// MethodNone: the layer is left out of the offline map.
	MethodNone Method = "none"
)

// Reason is a typed code saying why a layer cannot go offline as a replica
// or tiles (or a note on how it goes).
type Reason string

// Reasons. IsError says which ones are errors.
const (
	// ReasonSyncNotEnabled: the feature service lacks Sync; with Query the
	// layer still goes offline as a read-only snapshot (not an error).
	ReasonSyncNotEnabled Reason = "syncNotEnabled"
	// ReasonSyncModelNoneUnsupported: updateMode noUpdates on a service
	// without supportsSyncModelNone: snapshot through queries (not an error).
	ReasonSyncModelNoneUnsupported Reason = "syncModelNoneUnsupported"
	// ReasonQueryNotSupported: the service has neither Sync nor Query.
	ReasonQueryNotSupported Reason = "queryNotSupported"
	// ReasonExportNotAllowed: a tile service with exportTilesAllowed false.
	ReasonExportNotAllowed Reason = "exportTilesNotAllowed"
	// ReasonNotCached: a tiled layer whose service has no tile cache.
	ReasonNotCached Reason = "notCached"
	// ReasonUnsupportedLayerType: the layer type cannot go offline (dynamic
	// map service, WMS, WFS, web tiled, image service, CSV, KML…).
	ReasonUnsupportedLayerType Reason = "unsupportedLayerType"
	// ReasonAccessDenied: ArcGIS answered 401/403/498/499.
	ReasonAccessDenied Reason = "accessDenied"
	// ReasonServiceUnreachable: the network failed or the server answered 5xx.
	ReasonServiceUnreachable Reason = "serviceUnreachable"
	// ReasonServiceNotFound: ArcGIS answered 404 (or 400 for a missing service).
	ReasonServiceNotFound Reason = "serviceNotFound"
	// ReasonServiceError: any other error answer.
	ReasonServiceError Reason = "serviceError"
	// ReasonLayerNotFound: the service has no layer or table with that id.
	ReasonLayerNotFound Reason = "layerNotFound"
	// ReasonInvalidURL: the layer's URL does not name what its type needs.
	ReasonInvalidURL Reason = "invalidUrl"
	// ReasonUnresolvedStyle: a vector tile layer whose style did not lead to
	// a VectorTileServer.
	ReasonUnresolvedStyle Reason = "unresolvedStyle"
	// ReasonAuthoredOnline: the author listed the layer in
	// connectedOnlineLayers and the parameters use authored settings.
	ReasonAuthoredOnline Reason = "authoredOnline"
	// ReasonBasemapExcluded: includeBasemap is false.
	ReasonBasemapExcluded Reason = "basemapExcluded"
)

// hard reasons are errors even when online-only services are included.
func (r Reason) hard() bool {
	switch r {
	case ReasonAccessDenied, ReasonServiceUnreachable, ReasonServiceNotFound, ReasonServiceError,
		ReasonLayerNotFound, ReasonInvalidURL, ReasonUnresolvedStyle:
		return true
	}
	return false
}

// Capability is what offlined can do with one web map layer or table.
type Capability struct {
	Key        Key      `json:"key"`
	ID         string   `json:"id"`
	Title      string   `json:"title,omitempty"`
	Role       Role     `json:"role"`
	LayerType  string   `json:"layerType"`
	Path       []string `json:"path,omitempty"`
	ServiceURL string   `json:"serviceUrl,omitempty"`
	LayerID    *int     `json:"layerId,omitempty"`

	// SupportsOffline is true when the layer's data can be taken offline.
	SupportsOffline bool `json:"supportsOffline"`
	// Method is how it goes offline, onlineOnly, or none.
	Method Method `json:"method"`
	// RemainsOnline is true when the offline map keeps the layer online.
	RemainsOnline bool `json:"remainsOnline"`
	// Editable: see IsEditable.
	Editable bool `json:"editable"`
	// HasAttachments is the service layer's hasAttachments.
	HasAttachments bool `json:"hasAttachments,omitempty"`
	// Error is true when the layer will be neither offline nor online.
	Error bool `json:"error"`
	// Reason and Message explain a failure, or note how the layer goes
	// (a read-only snapshot, an author's online-only choice).
	Reason  Reason `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Capabilities lists, for every layer and table of the web map, whether and
// how it goes offline.
type Capabilities struct {
	// HasErrors is true when at least one layer or table can neither go
	// offline nor stay online. Online-only layers are not errors.
	HasErrors bool          `json:"hasErrors"`
	Layers    []*Capability `json:"layers"`
	Tables    []*Capability `json:"tables"`
}

// Get returns the capability of the first entry with key k, or nil.
func (c *Capabilities) Get(k Key) *Capability {
	for _, l := range append(append([]*Capability(nil), c.Layers...), c.Tables...) {
		if l.Key == k {
			return l
		}
	}
	return nil
}

// IsEditable is offlined's definition of an editable layer, used by the
// attachment and schema-only options: the layer goes offline as a replica,
// the feature service's capabilities include Create, Update or Delete, and
// the layer's own capabilities (when the layer resource lists any) include
// Create, Update, Delete or Editing. Everything else, snapshots included, is
// read-only.
func IsEditable(svc *arcgis.FeatureService, layer *arcgis.Layer) bool {
	if svc == nil || !hasAnyCap(svc.Capabilities, "Create", "Update", "Delete") {
		return false
	}
	if layer != nil && strings.TrimSpace(layer.Capabilities) != "" {
		return hasAnyCap(layer.Capabilities, "Create", "Update", "Delete", "Editing")
	}
	return true
}

func hasAnyCap(caps string, names ...string) bool {
	for _, n := range names {
		if arcgis.HasCapability(caps, n) {
			return true
		}
	}
	return false
}

// ErrorCode returns the ArcGIS error code (*arcgis.Error) or HTTP status
// (*arcgis.HTTPError) carried by err, or 0.
func ErrorCode(err error) int {
	var ae *arcgis.Error
	if errors.As(err, &ae) {
		if ae.Code != 0 {
			return ae.Code
		}
		return ae.HTTPStatus
	}
	var he *arcgis.HTTPError
	if errors.As(err, &he) {
		return he.StatusCode
	}
	return 0
}

// ClassifyError maps a service error to a reason: access denied
// (401/403/498/499), not found (404, 400), unreachable (network errors,
// timeouts, 5xx, 429), or a generic service error.
func ClassifyError(err error) Reason {
	switch code := ErrorCode(err); {
	case code == 401 || code == 403 || code == 498 || code == 499:
		return ReasonAccessDenied
	case code == 404 || code == 400:
		return ReasonServiceNotFound
	case code >= 500 || code == 429:
		return ReasonServiceUnreachable
	case code != 0:
		return ReasonServiceError
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errNoServices) {
		return ReasonServiceUnreachable
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return ReasonServiceUnreachable
	}
	return ReasonServiceError
}

// analysis is the per-entry outcome plus the feature service groups with what
// was fetched for them; capabilities, parameters and overrides share it.
type analysis struct {
	params  *Parameters
	caps    map[*Entry]*Capability
	order   []*Entry
	groups  []*featureGroup
	tileSvc map[Key]*tileService
}

type featureGroup struct {
	*ServiceGroup
	svc      *arcgis.FeatureService
	method   Method // replica or snapshot; "" when the service failed
	reason   Reason // note (syncNotEnabled…) or failure
	err      error  // the service fetch failure
	layers   map[int]*arcgis.Layer
	editable map[int]bool
	ok       map[int]bool // layers that go offline
}

// Capabilities examines every layer and table of the web map. params may be
// nil (defaults); it matters through IncludeBasemap, the reference basemap,
// OnlineOnlyServicesOption and UpdateMode. A failure to reach one service
// becomes that layer's reason; the error return is only for ctx.
func (t *Task) Capabilities(ctx context.Context, params *Parameters) (*Capabilities, error) {
	a, err := t.analyze(ctx, params)
	if err != nil {
		return nil, err
	}
	return a.capabilities(), nil
}

func (a *analysis) capabilities() *Capabilities {
	out := &Capabilities{Layers: []*Capability{}, Tables: []*Capability{}}
	for _, e := range a.order {
		c := a.caps[e]
		if c.Error {
			out.HasErrors = true
		}
		if e.IsTable() {
			out.Tables = append(out.Tables, c)
		} else {
			out.Layers = append(out.Layers, c)
		}
	}
	return out
}

func (t *Task) analyze(ctx context.Context, params *Parameters) (*analysis, error) {
	if params == nil {
		params = t.baseParameters()
	}
	a := &analysis{params: params, caps: map[*Entry]*Capability{}, order: t.entries, tileSvc: map[Key]*tileService{}}
	t.prefetch(ctx)
	authored := t.authoredOnline()
	useAuthored := params.OnlineOnlyServicesOption == OnlineOnlyUseAuthoredSettings && t.Map.HasOfflineSettings()
	refBasemap := params.IncludeBasemap && params.ReferenceBasemapDirectory != "" && params.ReferenceBasemapFilename != ""

	for _, e := range t.entries {
		c := &Capability{Key: e.Key, ID: e.ID, Title: e.Title, Role: e.Role, LayerType: e.LayerType, Path: e.Path}
		if e.HasService {
			c.ServiceURL = e.Service.URL
			if e.Service.HasLayer && isFeatureType(e.LayerType) {
				id := e.Service.LayerID
				c.LayerID = &id
			}
		}
		a.caps[e] = c
	}

	// Feature services: one fetch per service, then each layer.
	for _, g := range GroupFeatureEntries(t.entries) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fg := t.analyzeGroup(ctx, g, params)
		a.groups = append(a.groups, fg)
		for _, gl := range g.Layers {
			for _, e := range gl.Entries {
				c := a.caps[e]
				switch {
				case e.Role.IsBasemap() && !params.IncludeBasemap:
					c.Method, c.Reason = MethodNone, ReasonBasemapExcluded
					c.Message = fmt.Sprintf("basemap layer %s: left out (includeBasemap is false)", describe(e))
				case fg.method == "":
					c.Reason, c.Message = fg.reason, fg.message(e, "")
				case !fg.ok[gl.ID]:
					c.Reason, c.Message = fg.layerFailure(ctx, t, e, gl.ID)
				default:
					c.SupportsOffline, c.Method = true, fg.method
					c.Editable = fg.editable[gl.ID]
					if l := fg.layers[gl.ID]; l != nil {
						c.HasAttachments = l.HasAttachments
					}
					if fg.reason != "" {
						c.Reason, c.Message = fg.reason, fg.message(e, "")
					}
				}
			}
		}
	}

	for _, e := range t.entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c := a.caps[e]
		if e.IsFeature() {
			continue // done above
		}
		switch {
		case e.Role.IsBasemap() && !params.IncludeBasemap:
			c.Method, c.Reason = MethodNone, ReasonBasemapExcluded
			c.Message = fmt.Sprintf("basemap layer %s: left out (includeBasemap is false)", describe(e))
			continue
		case e.Role.IsBasemap() && refBasemap:
			c.SupportsOffline, c.Method = true, MethodReferenceBasemap
			c.Message = fmt.Sprintf("basemap layer %s: replaced by the reference basemap %s on the device", describe(e), params.ReferenceBasemapFilename)
			continue
		case isFeatureType(e.LayerType) && len(e.Layer.FeatureCollection) > 0:
			c.SupportsOffline, c.Method = true, MethodEmbedded
			continue
		}
		t.analyzeOther(ctx, e, c, a)
	}

	// Online-only decisions and errors.
	for _, e := range t.entries {
		c := a.caps[e]
		if useAuthored && authored(e) && c.Reason != ReasonBasemapExcluded {
			c.Method, c.RemainsOnline = MethodOnlineOnly, true
			c.Reason = ReasonAuthoredOnline
			c.Message = fmt.Sprintf("%s: kept online (connectedOnlineLayers)", describe(e))
			c.Error = false
			continue
		}
		if c.SupportsOffline || c.Reason == ReasonBasemapExcluded {
			continue
		}
		include := params.OnlineOnlyServicesOption == OnlineOnlyInclude
		if include && !c.Reason.hard() && e.HasService || include && c.Reason == ReasonUnsupportedLayerType {
			c.Method, c.RemainsOnline = MethodOnlineOnly, true
			continue
		}
		c.Method = MethodNone
		c.Error = true
	}
	return a, nil
}

// authoredOnline returns a predicate telling whether the author listed an
// entry in connectedOnlineLayers (by web map id, or by URL).
func (t *Task) authoredOnline() func(*Entry) bool {
	ids := map[string]bool{}
	urls := map[string]bool{}
	for _, c := range t.Map.Offline().ConnectedOnlineLayers {
		if c.ID != "" {
			ids[c.ID] = true
		}
		if c.URL != "" {
			urls[NormalizeURL(c.URL)] = true
		}
	}
	return func(e *Entry) bool {
		return ids[e.ID] || (e.Layer.URL != "" && urls[NormalizeURL(e.Layer.URL)])
	}
}

func describe(e *Entry) string {
	if e.Title != "" {
		return fmt.Sprintf("%q (%s)", e.Title, e.ID)
	}
	return e.ID
}

func (t *Task) analyzeGroup(ctx context.Context, g *ServiceGroup, params *Parameters) *featureGroup {
	fg := &featureGroup{ServiceGroup: g, layers: map[int]*arcgis.Layer{}, editable: map[int]bool{}, ok: map[int]bool{}}
	si, err := t.featureService(ctx, g.URL)
	if err != nil {
		fg.reason = ClassifyError(err)
		fg.err = err
		return fg
	}
	fg.svc = si.svc
	caps := si.svc.Capabilities
	sync := g.Type == FeatureServer && arcgis.HasCapability(caps, "Sync") && (si.svc.SyncEnabled || si.svc.SyncCapabilities != nil)
	switch {
	case sync && params.UpdateMode == UpdateNoUpdates && (si.svc.SyncCapabilities == nil || !si.svc.SyncCapabilities.SupportsSyncModelNone):
		fg.method, fg.reason = MethodSnapshot, ReasonSyncModelNoneUnsupported
	case sync:
		fg.method = MethodReplica
	case arcgis.HasCapability(caps, "Query") || (g.Type == MapServer && arcgis.HasCapability(caps, "Data")):
		fg.method, fg.reason = MethodSnapshot, ReasonSyncNotEnabled
	default:
		fg.reason = ReasonQueryNotSupported
		return fg
	}
	inService := map[int]bool{}
	for _, r := range si.svc.Layers {
		inService[r.ID] = true
	}
	for _, r := range si.svc.Tables {
		inService[r.ID] = true
	}
	for _, gl := range g.Layers {
		if !inService[gl.ID] {
			continue
		}
		l, err := t.layer(ctx, g.URL, gl.ID)
		if err != nil {
			continue
		}
		fg.layers[gl.ID] = l
		fg.ok[gl.ID] = true
		fg.editable[gl.ID] = fg.method == MethodReplica && IsEditable(si.svc, l)
	}
	return fg
}

// err is kept for messages (set when the service fetch failed).
func (fg *featureGroup) message(e *Entry, extra string) string {
	svc := fg.URL
	switch fg.reason {
	case ReasonSyncNotEnabled:
		return fmt.Sprintf("layer %s: service %s lacks Sync; taken offline as a read-only snapshot through paged queries (cannot be synced)", describe(e), svc)
	case ReasonSyncModelNoneUnsupported:
		return fmt.Sprintf("layer %s: service %s does not support syncModel none; taken as a read-only snapshot through paged queries", describe(e), svc)
	case ReasonQueryNotSupported:
		return fmt.Sprintf("layer %s: service %s has neither Sync nor Query capability (capabilities %q)", describe(e), svc, fg.svc.Capabilities)
	}
	if fg.err != nil {
		return fmt.Sprintf("layer %s: service %s: %s: %v", describe(e), svc, reasonText(fg.reason), fg.err)
	}
	return fmt.Sprintf("layer %s: service %s: %s%s", describe(e), svc, reasonText(fg.reason), extra)
}

func (fg *featureGroup) layerFailure(ctx context.Context, t *Task, e *Entry, id int) (Reason, string) {
	found := false
	for _, r := range append(append([]arcgis.LayerRef(nil), fg.svc.Layers...), fg.svc.Tables...) {
		if r.ID == id {
			found = true
		}
	}
	if !found {
		return ReasonLayerNotFound, fmt.Sprintf("layer %s: service %s has no layer or table %d", describe(e), fg.URL, id)
	}
	_, err := t.layer(ctx, fg.URL, id)
	r := ClassifyError(err)
	return r, fmt.Sprintf("layer %s: service %s layer %d: %s: %v", describe(e), fg.URL, id, reasonText(r), err)
}

func reasonText(r Reason) string {
	switch r {
	case ReasonAccessDenied:
		return "access denied"
	case ReasonServiceUnreachable:
		return "service unreachable"
	case ReasonServiceNotFound:
		return "service not found"
	case ReasonLayerNotFound:
		return "layer not found"
	}
	return "service error"
}

// analyzeOther handles tile, vector tile and unsupported layers.
func (t *Task) analyzeOther(ctx context.Context, e *Entry, c *Capability, a *analysis) {
	lt := e.LayerType
	switch lt {
	case LayerTypeTiledMapService, LayerTypeTiledImage:
		if !e.HasService || e.Service.HasLayer || (e.Service.Type != MapServer && e.Service.Type != ImageServer) {
			c.Reason = ReasonInvalidURL
			c.Message = fmt.Sprintf("tiled layer %s: URL %q does not name a MapServer or ImageServer root", describe(e), e.Layer.URL)
			return
		}
		ts, err := t.tileService(ctx, e.Service)
		if err != nil {
			c.Reason = ClassifyError(err)
			c.Message = fmt.Sprintf("tiled layer %s: service %s: %s: %v", describe(e), e.Service.URL, reasonText(c.Reason), err)
			return
		}
		a.tileSvc[e.Key] = ts
		switch {
		case !ts.cached:
			c.Reason = ReasonNotCached
			c.Message = fmt.Sprintf("tiled layer %s: service %s has no tile cache (dynamic map service)", describe(e), e.Service.URL)
		case !ts.exportAllowed:
			c.Reason = ReasonExportNotAllowed
			c.Message = fmt.Sprintf("tiled layer %s: service %s does not allow exporting tiles (exportTilesAllowed false)", describe(e), e.Service.URL)
		default:
			c.SupportsOffline, c.Method = true, MethodRasterTiles
		}
	case LayerTypeVectorTile:
		if !e.HasService || e.Service.Type != VectorTileServer {
			c.Reason = ReasonUnresolvedStyle
			c.Message = fmt.Sprintf("vector tile layer %s: no VectorTileServer found from url %q / style %q", describe(e), e.Layer.URL, e.Layer.StyleURL)
			return
		}
		ts, err := t.tileService(ctx, e.Service)
		if err != nil {
			c.Reason = ClassifyError(err)
			c.Message = fmt.Sprintf("vector tile layer %s: service %s: %s: %v", describe(e), e.Service.URL, reasonText(c.Reason), err)
			return
		}
		a.tileSvc[e.Key] = ts
		switch {
		case !ts.cached:
			c.Reason = ReasonNotCached
			c.Message = fmt.Sprintf("vector tile layer %s: service %s has no tileInfo", describe(e), e.Service.URL)
		case !ts.exportAllowed:
			c.Reason = ReasonExportNotAllowed
			c.Message = fmt.Sprintf("vector tile layer %s: service %s does not allow exporting tiles (exportTilesAllowed false)", describe(e), e.Service.URL)
		default:
			c.SupportsOffline, c.Method = true, MethodVectorTiles
		}
	case LayerTypeFeature, LayerTypeSubtypeGroup, LayerTypeTable:
		c.Reason = ReasonInvalidURL
		c.Message = fmt.Sprintf("layer %s: URL %q does not name a feature service layer or table", describe(e), e.Layer.URL)
	default:
		c.Reason = ReasonUnsupportedLayerType
		what := lt
		switch lt {
		case LayerTypeMapService:
			what = "dynamic map service layer (ArcGISMapServiceLayer)"
		case "":
			what = "layer without layerType"
		}
		svc := e.Layer.URL
		if svc == "" {
			svc = "no URL"
		}
		c.Message = fmt.Sprintf("layer %s: %s cannot be taken offline (%s)", describe(e), what, svc)
	}
}

// sortedKeys returns map keys in order.
func sortedKeys[V any](m map[Key]V) []Key {
	out := make([]Key, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
