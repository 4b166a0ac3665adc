package offline

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	editsync "github.com/offlined/offlined/sync"
)

// featureSource takes feature layers and tables offline, one GeoPackage per
// feature service: a replica (createReplica, MethodReplica) when the
// service has Sync, else a read-only snapshot through paged queries
// (MethodSnapshot). The job step is runFeatureService (job_features.go);
// overrides are Overrides.GenerateGeodatabase; the package layers are
// served by the local API's FeatureServer routes.
type featureSource struct{}

func (featureSource) name() string { return "gdb" }

// analyze examines each feature service once, then each of its layers.
func (featureSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	params := a.params
	for _, g := range GroupFeatureEntries(t.entries) {
		if err := ctx.Err(); err != nil {
			return err
		}
		fg := t.analyzeGroup(ctx, g, params)
		a.groups = append(a.groups, fg)
		for _, gl := range g.Layers {
			for _, e := range gl.Entries {
				if a.claimed(e) {
					continue
				}
				c := a.caps[e]
				switch {
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
	return nil
}

func (featureSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	for _, fg := range a.groups {
		if gp := a.geodatabaseParameters(fg, aoi, a.mapSR); gp != nil {
			ov.GenerateGeodatabase[fg.Key] = gp
		}
	}
}

func (featureSource) check(oc *overrideCheck, o *Overrides) {
	for _, k := range sortedKeys(o.GenerateGeodatabase) {
		gp := o.GenerateGeodatabase[k]
		g := oc.groups[k]
		if g == nil {
			oc.unknown(k, "generateGeodatabase")
			continue
		}
		if gp == nil {
			oc.invalid(k, "nil parameters")
			continue
		}
		if ServiceKey(gp.ServiceURL) != k {
			oc.invalid(k, "serviceUrl %s does not match the key", gp.ServiceURL)
		}
		seen := map[int]bool{}
		for _, opt := range gp.LayerOptions {
			if opt == nil {
				oc.invalid(k, "nil layer option")
				continue
			}
			if g.Layer(opt.LayerID) == nil {
				oc.unknown(LayerKey(g.URL, opt.LayerID), "generateGeodatabase layer option")
				continue
			}
			if seen[opt.LayerID] {
				oc.invalid(k, "layer %d listed twice", opt.LayerID)
			}
			seen[opt.LayerID] = true
			switch opt.QueryOption {
			case QueryAll, QueryNone, QueryUseFilter:
			default:
				oc.invalid(k, "layer %d queryOption %q is not all, none or useFilter", opt.LayerID, opt.QueryOption)
			}
		}
		switch gp.SyncModel {
		case SyncModelPerLayer, SyncModelPerReplica, SyncModelNone:
		default:
			oc.invalid(k, "syncModel %q is not perLayer, perReplica or none", gp.SyncModel)
		}
		if gp.Snapshot && gp.SyncModel != SyncModelNone {
			oc.invalid(k, "a snapshot (service without Sync) cannot have syncModel %s", gp.SyncModel)
		}
		if d := gp.AttachmentSyncDirection; d != "" {
			if !validAttachmentSync(d) {
				oc.invalid(k, "attachmentSyncDirection %q is not none, upload or bidirectional", d)
			} else if gp.ReturnAttachments && d == AttachmentSyncNone || !gp.ReturnAttachments && d == AttachmentSyncBidirectional {
				oc.invalid(k, "returnAttachments %v with attachmentSyncDirection %s: ArcGIS accepts true with bidirectional/upload, false with upload/none", gp.ReturnAttachments, d)
			}
		}
		if gp.Extent != nil {
			if _, err := PrepareAOI(gp.Extent, oc.t.Map.SpatialReference); err != nil {
				oc.invalid(k, "extent: %v", err)
			}
		}
	}
}

func (featureSource) limits(context.Context, Services, *Task, *Overrides) []error { return nil }

func (s featureSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	var out []stepPlan
	for _, k := range sortedKeys(o.GenerateGeodatabase) {
		g := o.GenerateGeodatabase[k]
		kind := KindReplica
		if g.Snapshot {
			kind = KindSnapshot
		}
		out = append(out, stepPlan{id: stepID(s, k), kind: kind, key: k, url: g.ServiceURL,
			store: uniqueStore(used, DataDir, serviceName(g.ServiceURL), ".gpkg")})
	}
	return out
}

func (featureSource) run(ctx context.Context, j *Job, id string) error {
	return j.runFeatureService(ctx, id)
}

func (featureSource) partial(path string) []string {
	return []string{path + ".replica.json", path + ".replica.json.part"}
}

// errorKeys spreads a service's failure over its layers and tables.
func (featureSource) errorKeys(j *Job, s stepInfo) []Key {
	g := j.o.GenerateGeodatabase[s.Key]
	if g == nil {
		return nil
	}
	var out []Key
	for _, lid := range g.LayerIDs() {
		out = append(out, LayerKey(g.ServiceURL, lid))
	}
	return out
}

// write lists every layer of each service and writes each finished store's
// sync configuration, so a package that never synced already says which
// layers take edits.
func (s featureSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	for _, st := range j.stepsOf(s) {
		g := j.o.GenerateGeodatabase[st.Key]
		if g == nil {
			continue
		}
		for _, lid := range g.LayerIDs() {
			k := LayerKey(g.ServiceURL, lid)
			ml := &ManifestLayer{Key: k, Kind: st.Kind, ServiceURL: g.ServiceURL, LayerID: arcgis.Int(lid)}
			if st.Status == stepDone {
				ml.Store, ml.Features = st.Store, st.LayerFeatures[lid]
				if g.SyncModel != SyncModelNone && !g.Snapshot {
					ml.Replica = &ManifestReplica{ID: st.ReplicaID, Name: st.ReplicaName, SyncModel: g.SyncModel,
						ReplicaServerGen: st.ReplicaServerGen, ServerGens: st.ServerGens}
				}
			}
			local[k] = ml
		}
		if st.Status == stepDone {
			if err := writeSyncConfig(ctx, j.storePath(st.Store), g); err != nil {
				return fmt.Errorf("sync configuration of %s: %w", st.Store, err)
			}
		}
	}
	return nil
}

// writeSyncConfig stores the sync configuration of a finished feature
// store: read-only when it is a snapshot or a replica without sync, and per
// layer when the service does not let the user edit it.
func writeSyncConfig(ctx context.Context, path string, g *GenerateGeodatabaseParameters) error {
	db, err := geodb.Open(ctx, path, geodb.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	readOnly := g.Snapshot || g.SyncModel == SyncModelNone
	info := editsync.StoreInfo{ServiceURL: g.ServiceURL, ReadOnly: readOnly, Layers: []editsync.StoreLayer{}}
	for _, t := range db.Tables() {
		ro := readOnly
		if caps := t.Layer.Capabilities; caps != "" && !hasAnyCap(caps, "Create", "Update", "Delete", "Editing") {
			ro = true
		}
		info.Layers = append(info.Layers, editsync.StoreLayer{ID: t.LayerID, ReadOnly: ro})
	}
	sort.Slice(info.Layers, func(a, b int) bool { return info.Layers[a].ID < info.Layers[b].ID })
	if _, err := editsync.WriteStoreConfig(ctx, db, info); err != nil {
		return err
	}
	return db.Close()
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
