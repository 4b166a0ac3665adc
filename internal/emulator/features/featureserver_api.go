package features

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// ErrNotFound is returned (wrapped) by the Go API for unknown services,
// layers, features or attachments.
var ErrNotFound = errors.New("not found")

// EditError reports the edits a Go API call rejected; nothing of the call
// was applied.
type EditError struct {
	Failures []string
}

func (e *EditError) Error() string {
	return "edits rejected: " + strings.Join(e.Failures, "; ")
}

// DemoEditor is the user name recorded by edits made through the Go API.
const DemoEditor = "other_user"

func (s *FeatureServer) storeOf(svc string, layer int) (*fsService, *layerStore, error) {
	fs, ok := s.service(svc)
	if !ok {
		return nil, nil, fmt.Errorf("feature service %s: %w", svc, ErrNotFound)
	}
	ls := fs.byID[layer]
	if ls == nil {
		return nil, nil, fmt.Errorf("feature service %s layer %d: %w", svc, layer, ErrNotFound)
	}
	return fs, ls, nil
}

// withStore runs fn on a layer's store with its service locked.
func (s *FeatureServer) withStore(svc string, layer int, fn func(fs *fsService, ls *layerStore) error) error {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fn(fs, ls)
}

// EditFeatures edits a layer as another user (DemoEditor) would, the way a
// colleague's edits reach the server between two syncs. Adds keep the
// GlobalID they carry (one is generated when absent); updates are matched
// by GlobalID (or OBJECTID when no GlobalID is given) and merge their
// attributes; deletes are GlobalIDs. Geometries are Web Mercator unless
// they carry a spatialReference. The call is all-or-nothing: an
// *EditError lists the failures. Every change gets a new server generation.
func (s *FeatureServer) EditFeatures(svc string, layer int, adds, updates []arcgis.Feature, deletes []string) error {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return err
	}
	// Adds without a GlobalID get a fresh one (useGlobalIds requires it).
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var prepared []arcgis.Feature
	for _, f := range adds {
		attrs := map[string]any{}
		hasGID := false
		for k, v := range f.Attributes {
			attrs[k] = v
			if strings.EqualFold(k, ls.def.gidField) && v != nil {
				hasGID = true
			}
		}
		if !hasGID {
			attrs[ls.def.gidField] = "{" + fs.newIDLocked() + "}"
		}
		prepared = append(prepared, arcgis.Feature{Attributes: attrs, Geometry: f.Geometry})
	}
	// Updates without a GlobalID are matched by OBJECTID.
	byOID := false
	for _, f := range updates {
		if _, ok := f.Attributes[ls.def.gidField]; !ok {
			byOID = true
		}
	}
	res := fs.applyLayerEditsLocked(ls, layerEdits{Adds: prepared, Updates: updates, DeleteGIDs: deletes},
		editOptions{useGlobalIDs: !byOID, rollback: true, user: DemoEditor, inSR: 3857, canAdd: true, canUpdate: true, canDelete: true})
	if res.failed {
		return collectFailures(res)
	}
	return nil
}

func collectFailures(res *layerResults) error {
	e := &EditError{}
	for kind, list := range map[string][]editResult{"add": res.AddResults, "update": res.UpdateResults, "delete": res.DeleteResults,
		"attachment add": res.AttAdd, "attachment update": res.AttUpdate, "attachment delete": res.AttDelete} {
		for _, r := range list {
			if r.Error != nil && r.Error.Code != editErrRolledBack {
				e.Failures = append(e.Failures, fmt.Sprintf("%s %s: %s", kind, r.GlobalID, r.Error.Description))
			}
		}
	}
	return e
}

// Feature returns the current feature with the GlobalID (Web Mercator).
func (s *FeatureServer) Feature(svc string, layer int, globalID string) (arcgis.Feature, bool) {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return arcgis.Feature{}, false
	}
	v := fs.viewOf(ls)
	oid, ok := v.oidOf(globalID)
	if !ok {
		return arcgis.Feature{}, false
	}
	f, _, ok := v.get(oid)
	return f, ok
}

// FeatureByOID returns the current feature with the OBJECTID.
func (s *FeatureServer) FeatureByOID(svc string, layer int, oid int64) (arcgis.Feature, bool) {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return arcgis.Feature{}, false
	}
	f, _, ok := fs.viewOf(ls).get(oid)
	return f, ok
}

// FeatureCount returns the number of features a layer has now.
func (s *FeatureServer) FeatureCount(svc string, layer int) int {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return 0
	}
	return int(fs.viewOf(ls).count())
}

// Features returns the features matching a where clause (empty: all), in
// OBJECTID order. Meant for small layers in tests.
func (s *FeatureServer) Features(svc string, layer int, where string) ([]arcgis.Feature, error) {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return nil, err
	}
	v := fs.viewOf(ls)
	w, err := v.bindWhere(where)
	if err != nil {
		return nil, fmt.Errorf("features of %s/%d: %w", svc, layer, err)
	}
	var out []arcgis.Feature
	v.each(func(_ int64, f arcgis.Feature) bool {
		if w.match(f.Attributes) {
			out = append(out, f)
		}
		return true
	})
	return out, nil
}

// Replicas returns the service's registered replicas (oldest first).
func (s *FeatureServer) Replicas(svc string) []arcgis.Replica {
	fs, ok := s.service(svc)
	if !ok {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []arcgis.Replica
	for _, rp := range fs.sortedReplicasLocked() {
		out = append(out, rp.toArcGIS())
	}
	return out
}

// ServerGen returns the service's current server generation.
func (s *FeatureServer) ServerGen(svc string) int64 {
	fs, ok := s.service(svc)
	if !ok {
		return 0
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.gen
}

// AddField adds a field to a layer's schema (a schema change made on the
// server). Existing features get the field's DefaultValue.
func (s *FeatureServer) AddField(svc string, layer int, f arcgis.Field) error {
	return s.withStore(svc, layer, func(fs *fsService, ls *layerStore) error {
		if _, exists := ls.def.field(f.Name); exists {
			return fmt.Errorf("add field %s to %s/%d: field exists", f.Name, svc, layer)
		}
		fields := append(append([]arcgis.Field(nil), ls.def.fields...), f)
		ls.def.fields = fields
		ls.def.reindex()
		for oid, r := range ls.recs { // stored records get the default too
			if r.Deleted {
				continue
			}
			attrs := make(map[string]any, len(r.Feature.Attributes)+1)
			for k, v := range r.Feature.Attributes {
				attrs[k] = v
			}
			attrs[f.Name] = f.DefaultValue
			nr := *r
			nr.Feature = arcgis.Feature{Attributes: attrs, Geometry: r.Feature.Geometry}
			ls.recs[oid] = &nr
		}
		return nil
	})
}

// Attachments lists the attachments of the feature with the GlobalID.
func (s *FeatureServer) Attachments(svc string, layer int, parentGlobalID string) []arcgis.AttachmentInfo {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return nil
	}
	v := fs.viewOf(ls)
	oid, ok := v.oidOf(parentGlobalID)
	if !ok {
		return nil
	}
	var out []arcgis.AttachmentInfo
	for _, a := range v.attachmentsOf(oid) {
		out = append(out, a.info(""))
	}
	return out
}

// AttachmentData returns the bytes of the attachment with the GlobalID.
func (s *FeatureServer) AttachmentData(svc string, layer int, attachmentGlobalID string) ([]byte, bool) {
	fs, ls, err := s.storeOf(svc, layer)
	if err != nil {
		return nil, false
	}
	v := fs.viewOf(ls)
	id, ok := v.attIDOf(attachmentGlobalID)
	if !ok {
		return nil, false
	}
	_, data, ok := v.attachment(id)
	return data, ok
}

// AddAttachment attaches data to the feature with parentGlobalID as
// another user would and returns the new attachment's GlobalID.
func (s *FeatureServer) AddAttachment(svc string, layer int, parentGlobalID, name, contentType string, data []byte) (string, error) {
	var gid string
	err := s.withStore(svc, layer, func(fs *fsService, ls *layerStore) error {
		gid = "{" + fs.newIDLocked() + "}"
		res := fs.applyLayerEditsLocked(ls, layerEdits{AttAdds: []attEdit{{GlobalID: gid, ParentGlobalID: parentGlobalID, Name: name,
			ContentType: contentType, Data: b64(data)}}}, editOptions{useGlobalIDs: true, rollback: true, user: DemoEditor})
		if res.failed {
			return collectFailures(res)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return gid, nil
}

// DeleteAttachment deletes an attachment by GlobalID as another user would.
func (s *FeatureServer) DeleteAttachment(svc string, layer int, attachmentGlobalID string) error {
	return s.withStore(svc, layer, func(fs *fsService, ls *layerStore) error {
		res := fs.applyLayerEditsLocked(ls, layerEdits{AttDeletes: []string{attachmentGlobalID}},
			editOptions{useGlobalIDs: true, rollback: true, user: DemoEditor, canDelete: true})
		if res.failed {
			return collectFailures(res)
		}
		return nil
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
