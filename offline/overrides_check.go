package offline

import (
	"fmt"
	"os"
)

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
