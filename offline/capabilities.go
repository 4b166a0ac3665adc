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
	// MethodWebTiles: the tiles of a WebTiledLayer (XYZ template on any
	// server) into MBTiles (package layer kind rasterTiles).
	MethodWebTiles Method = "webTiles"
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
	// map service, WMS, WFS, image service, CSV, KML…); the message names
	// the type.
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
	// ReasonNotSelected: the job's overrides neither take the entry
	// offline nor keep it online (an edited overrides document left it
	// out; package.json only).
	ReasonNotSelected Reason = "notSelected"
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
	// TileMethod, for raster tiled layers, is how the tiles come:
	// exportTiles (a server-side tile package; direct tile requests are
	// the fallback) or tiles (direct requests, by choice).
	TileMethod string `json:"tileMethod,omitempty"`
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
	// Warnings name the layers whose extent the parameters' area of
	// interest does not reach (code areaOutsideExtent).
	Warnings []LayerWarning `json:"warnings,omitempty"`
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
	mapSR   *arcgis.SpatialReference
	wmts    map[*Entry]*wmtsLayer // resolved WMTS layers (source_wmts.go)
}

// claimed reports whether an entry's capability is decided (a method or a
// reason): a later source leaves it alone.
func (a *analysis) claimed(e *Entry) bool {
	c := a.caps[e]
	return c.Method != "" || c.Reason != ""
}

// unclaimed returns the entries no source decided yet.
func (a *analysis) unclaimed() []*Entry {
	return a.entries(func(e *Entry) bool { return !a.claimed(e) })
}

// taking returns the entries going offline by method m.
func (a *analysis) taking(m Method) []*Entry {
	return a.entries(func(e *Entry) bool { return a.caps[e].Method == m })
}

// entries returns the entries keep accepts, in order.
func (a *analysis) entries(keep func(*Entry) bool) []*Entry {
	var out []*Entry
	for _, e := range a.order {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
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
	c := a.capabilities()
	// An area that does not prepare is the parameters' error, reported
	// where they are used; capabilities stay available.
	c.Warnings, _ = t.areaWarnings(a)
	return c, nil
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
	a := &analysis{params: params, caps: map[*Entry]*Capability{}, order: t.entries, tileSvc: map[Key]*tileService{}, mapSR: t.Map.SpatialReference}
	t.prefetch(ctx)
	authored := t.authoredOnline()
	useAuthored := params.OnlineOnlyServicesOption == OnlineOnlyUseAuthoredSettings && t.Map.HasOfflineSettings()

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

	// Basemap layers the parameters leave out.
	for _, e := range t.entries {
		if e.Role.IsBasemap() && !params.IncludeBasemap {
			c := a.caps[e]
			c.Method, c.Reason = MethodNone, ReasonBasemapExcluded
			c.Message = fmt.Sprintf("basemap layer %s: left out (includeBasemap is false)", describe(e))
		}
	}
	// Each source decides the entries it takes, in registry order.
	for _, s := range sources() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.analyze(ctx, t, a); err != nil {
			return nil, err
		}
	}
	// No source took them.
	for _, e := range t.entries {
		if c := a.caps[e]; !a.claimed(e) {
			unsupported(e, c)
		}
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

// sortedKeys returns map keys in order.
func sortedKeys[V any](m map[Key]V) []Key {
	out := make([]Key, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// unsupported explains an entry no source took: a feature layer whose URL
// names no feature service layer, or a layer type nothing takes offline.
func unsupported(e *Entry, c *Capability) {
	lt := e.LayerType
	switch {
	case isFeatureType(lt):
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
