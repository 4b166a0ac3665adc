package features

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// Edit error codes as ArcGIS reports them in per-edit results.
const (
	editErrGeneric    = 1000
	editErrMissing    = 1019
	editErrRolledBack = 1003
)

// editResult is one per-edit result of applyEdits / synchronizeReplica.
type editResult struct {
	ObjectID int64      `json:"objectId"`
	GlobalID string     `json:"globalId,omitempty"`
	Success  bool       `json:"success"`
	Error    *editError `json:"error,omitempty"`
}

type editError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// attEdit is one attachment add/update in applyEdits or sync edits.
type attEdit struct {
	GlobalID       string `json:"globalId"`
	GlobalIDAlt    string `json:"globalid"`
	ParentGlobalID string `json:"parentGlobalId"`
	ParentAlt      string `json:"parentGlobalid"`
	ContentType    string `json:"contentType"`
	Name           string `json:"name"`
	UploadID       string `json:"uploadId"`
	Data           string `json:"data"`
	URL            string `json:"url"`
	Keywords       string `json:"keywords"`
}

func (a attEdit) gid() string {
	if a.GlobalID != "" {
		return normGUID(a.GlobalID)
	}
	return normGUID(a.GlobalIDAlt)
}

func (a attEdit) parent() string {
	if a.ParentGlobalID != "" {
		return normGUID(a.ParentGlobalID)
	}
	return normGUID(a.ParentAlt)
}

// layerEdits is the edits for one layer.
type layerEdits struct {
	Adds       []arcgis.Feature
	Updates    []arcgis.Feature
	DeleteOIDs []int64
	DeleteGIDs []string
	AttAdds    []attEdit
	AttUpdates []attEdit
	AttDeletes []string
}

// editOptions says how to apply a batch.
type editOptions struct {
	useGlobalIDs bool
	rollback     bool
	user         string
	replicaID    string // uploading replica (sync), excluded from its downloads
	inSR         int    // SR of incoming geometries without their own
	canAdd       bool
	canUpdate    bool
	canDelete    bool
}

// layerResults is the per-layer outcome.
type layerResults struct {
	AddResults    []editResult `json:"addResults"`
	UpdateResults []editResult `json:"updateResults"`
	DeleteResults []editResult `json:"deleteResults"`
	AttAdd        []editResult `json:"-"`
	AttUpdate     []editResult `json:"-"`
	AttDelete     []editResult `json:"-"`
	failed        bool
}

func (lr *layerResults) attachmentsJSON() map[string]any {
	return map[string]any{"addResults": nz(lr.AttAdd), "updateResults": nz(lr.AttUpdate), "deleteResults": nz(lr.AttDelete)}
}

func nz(r []editResult) []editResult {
	if r == nil {
		return []editResult{}
	}
	return r
}

func failRes(oid int64, gid string, code int, format string, args ...any) editResult {
	return editResult{ObjectID: oid, GlobalID: gid, Error: &editError{Code: code, Description: fmt.Sprintf(format, args...)}}
}

// refusal is the failed result of an update or delete (what: "Updates" or
// "Deletes") that the service does not allow or whose object was not
// found; refused is false when neither holds.
func refusal(allowed, found bool, what string, oid int64, gid string) (fail editResult, refused bool) {
	switch {
	case !allowed:
		return failRes(oid, gid, editErrGeneric, "%s are not allowed on this service", what), true
	case !found:
		return failRes(oid, gid, editErrMissing, "Object is missing."), true
	}
	return editResult{}, false
}

// stagedOp is a validated change waiting for commit.
type stagedOp struct {
	rec *record
	att *attRecord
}

// applyLayerEditsLocked validates and applies one layer's edits; fs.mu
// must be held. With opts.rollback, nothing is applied when any edit fails
// and every result reports failure. It returns whether something failed.
func (fs *fsService) applyLayerEditsLocked(ls *layerStore, e layerEdits, opts editOptions) *layerResults {
	v := ls.view()
	d := ls.def
	res := &layerResults{AddResults: []editResult{}, UpdateResults: []editResult{}, DeleteResults: []editResult{}}
	var ops []stagedOp
	staged := map[string]*record{} // gid → staged record (adds and updates in this batch)
	stagedAtt := map[string]*attRecord{}
	savedOID, savedAtt := ls.nextOID, ls.nextAttID
	now := nowMillis()
	editor := opts.user
	if editor == "" {
		editor = "anonymous"
	}
	lookup := func(gid string) (*record, bool) {
		if r, ok := staged[gid]; ok {
			return r, !r.Deleted
		}
		oid, ok := v.oidOf(gid)
		if !ok {
			return nil, false
		}
		f, old, _ := v.get(oid)
		created := int64(0)
		if old != nil {
			created = old.CreatedGen
		}
		return &record{OID: oid, GID: gid, Feature: f, CreatedGen: created}, true
	}
	byOID := func(oid int64) (*record, bool) {
		for _, r := range staged {
			if r.OID == oid {
				return r, !r.Deleted
			}
		}
		f, old, ok := v.get(oid)
		if !ok {
			return nil, false
		}
		created := int64(0)
		if old != nil {
			created = old.CreatedGen
		}
		return &record{OID: oid, GID: normGUID(fmt.Sprint(f.Attributes[d.gidField])), Feature: f, CreatedGen: created}, true
	}

	for _, f := range e.Adds {
		attrs, gidIn, err := normalizeAttrs(v.fields, f.Attributes)
		if !opts.canAdd {
			res.AddResults = append(res.AddResults, failRes(-1, gidIn, editErrGeneric, "Adds are not allowed on this service"))
			continue
		}
		if err != nil {
			res.AddResults = append(res.AddResults, failRes(-1, gidIn, editErrGeneric, "%v", err))
			continue
		}
		var gid string
		if opts.useGlobalIDs {
			if gidIn == "" {
				res.AddResults = append(res.AddResults, failRes(-1, "", editErrGeneric, "GlobalID is required when useGlobalIds is true"))
				continue
			}
			gid = gidIn
		} else {
			gid = "{" + fs.newIDLocked() + "}"
		}
		if oid, _ := v.oidOf(gid); oid != 0 || staged[gid] != nil {
			res.AddResults = append(res.AddResults, failRes(-1, gid, editErrGeneric, "A feature with GlobalID %s already exists", gid))
			continue
		}
		geom, err := fs.checkGeometry(d, f.Geometry, opts.inSR)
		if err != nil {
			res.AddResults = append(res.AddResults, failRes(-1, gid, editErrGeneric, "%v", err))
			continue
		}
		full := make(map[string]any, len(v.fields))
		for _, fl := range v.fields {
			full[fl.Name] = fl.DefaultValue
		}
		for k, val := range attrs {
			full[k] = val
		}
		oid := ls.nextOID
		ls.nextOID++
		full[d.oidField], full[d.gidField] = oid, gid
		if d.editorTracking {
			full["CreationDate"], full["Creator"], full["EditDate"], full["Editor"] = now, editor, now, editor
		}
		r := &record{OID: oid, GID: gid, Feature: arcgis.Feature{Attributes: full, Geometry: geom}}
		staged[gid] = r
		res.AddResults = append(res.AddResults, editResult{ObjectID: oid, GlobalID: gid, Success: true})
		ops = append(ops, stagedOp{rec: r})
	}

	for _, f := range e.Updates {
		attrs, gidIn, err := normalizeAttrs(v.fields, f.Attributes)
		var cur *record
		var ok bool
		oidIn := attrInt(f.Attributes[d.oidField])
		if oidIn == 0 {
			for k, val := range f.Attributes {
				if strings.EqualFold(k, d.oidField) {
					oidIn = attrInt(val)
				}
			}
		}
		switch {
		case opts.useGlobalIDs || oidIn == 0:
			if gidIn != "" {
				cur, ok = lookup(gidIn)
			}
		default:
			cur, ok = byOID(oidIn)
		}
		if fail, refused := refusal(opts.canUpdate, ok, "Updates", oidIn, gidIn); refused {
			res.UpdateResults = append(res.UpdateResults, fail)
			continue
		}
		if err != nil {
			res.UpdateResults = append(res.UpdateResults, failRes(cur.OID, cur.GID, editErrGeneric, "%v", err))
			continue
		}
		geom := cur.Feature.Geometry
		if f.Geometry != nil {
			geom, err = fs.checkGeometry(d, f.Geometry, opts.inSR)
			if err != nil {
				res.UpdateResults = append(res.UpdateResults, failRes(cur.OID, cur.GID, editErrGeneric, "%v", err))
				continue
			}
		}
		full := make(map[string]any, len(cur.Feature.Attributes))
		for k, val := range cur.Feature.Attributes {
			full[k] = val
		}
		for k, val := range attrs {
			full[k] = val
		}
		full[d.oidField], full[d.gidField] = cur.OID, cur.GID
		if d.editorTracking {
			full["EditDate"], full["Editor"] = now, editor
		}
		r := &record{OID: cur.OID, GID: cur.GID, Feature: arcgis.Feature{Attributes: full, Geometry: geom}, CreatedGen: cur.CreatedGen}
		staged[cur.GID] = r
		res.UpdateResults = append(res.UpdateResults, editResult{ObjectID: cur.OID, GlobalID: cur.GID, Success: true})
		ops = append(ops, stagedOp{rec: r})
	}

	deletes := func(cur *record, ok bool, oid int64, gid string) {
		if fail, refused := refusal(opts.canDelete, ok, "Deletes", oid, gid); refused {
			res.DeleteResults = append(res.DeleteResults, fail)
			return
		}
		r := &record{OID: cur.OID, GID: cur.GID, Deleted: true, CreatedGen: cur.CreatedGen}
		staged[cur.GID] = r
		res.DeleteResults = append(res.DeleteResults, editResult{ObjectID: cur.OID, GlobalID: cur.GID, Success: true})
		ops = append(ops, stagedOp{rec: r})
	}
	for _, oid := range e.DeleteOIDs {
		cur, ok := byOID(oid)
		deletes(cur, ok, oid, "")
	}
	for _, gid := range e.DeleteGIDs {
		gid = normGUID(gid)
		cur, ok := lookup(gid)
		deletes(cur, ok, 0, gid)
	}

	// Attachments.
	for _, a := range e.AttAdds {
		gid := a.gid()
		if gid == "" {
			gid = "{" + fs.newIDLocked() + "}"
		}
		r := editResult{GlobalID: gid}
		if !d.attachments {
			res.AttAdd = append(res.AttAdd, failRes(-1, gid, editErrGeneric, "Layer does not support attachments"))
			continue
		}
		parent, ok := lookup(a.parent())
		if !ok {
			res.AttAdd = append(res.AttAdd, failRes(-1, gid, editErrMissing, "Parent feature %s is missing.", a.parent()))
			continue
		}
		if _, exists := v.attIDOf(gid); exists || stagedAtt[gid] != nil {
			res.AttAdd = append(res.AttAdd, failRes(-1, gid, editErrGeneric, "An attachment with GlobalID %s already exists", gid))
			continue
		}
		data, err := fs.attachmentBytesLocked(a)
		if err != nil {
			res.AttAdd = append(res.AttAdd, failRes(-1, gid, editErrGeneric, "%v", err))
			continue
		}
		id := ls.nextAttID
		ls.nextAttID++
		ar := &attRecord{ID: id, ParentOID: parent.OID, ParentGID: parent.GID, GID: gid, Name: a.Name, ContentType: a.ContentType,
			Size: int64(len(data)), Keywords: a.Keywords, Data: data}
		if ar.Name == "" {
			ar.Name = fmt.Sprintf("attachment_%d", id)
		}
		if ar.ContentType == "" {
			ar.ContentType = http.DetectContentType(data)
		}
		stagedAtt[gid] = ar
		r.ObjectID, r.Success = id, true
		res.AttAdd = append(res.AttAdd, r)
		ops = append(ops, stagedOp{att: ar})
	}
	for _, a := range e.AttUpdates {
		gid := a.gid()
		id, ok := v.attIDOf(gid)
		if !ok {
			res.AttUpdate = append(res.AttUpdate, failRes(-1, gid, editErrMissing, "Attachment is missing."))
			continue
		}
		cur, curData, _ := v.attachment(id)
		nr := cur
		if a.Name != "" {
			nr.Name = a.Name
		}
		if a.ContentType != "" {
			nr.ContentType = a.ContentType
		}
		if a.Data != "" || a.UploadID != "" || a.URL != "" {
			data, err := fs.attachmentBytesLocked(a)
			if err != nil {
				res.AttUpdate = append(res.AttUpdate, failRes(id, gid, editErrGeneric, "%v", err))
				continue
			}
			nr.Data, nr.Size = data, int64(len(data))
		} else if nr.Data == nil {
			nr.Data = curData
		}
		stagedAtt[gid] = &nr
		res.AttUpdate = append(res.AttUpdate, editResult{ObjectID: id, GlobalID: gid, Success: true})
		ops = append(ops, stagedOp{att: &nr})
	}
	for _, g := range e.AttDeletes {
		gid := normGUID(g)
		id, ok := v.attIDOf(gid)
		if !ok {
			res.AttDelete = append(res.AttDelete, failRes(-1, gid, editErrMissing, "Attachment is missing."))
			continue
		}
		cur, _, _ := v.attachment(id)
		cur.Deleted, cur.Data = true, nil
		res.AttDelete = append(res.AttDelete, editResult{ObjectID: id, GlobalID: gid, Success: true})
		ops = append(ops, stagedOp{att: &cur})
	}

	for _, list := range [][]editResult{res.AddResults, res.UpdateResults, res.DeleteResults, res.AttAdd, res.AttUpdate, res.AttDelete} {
		for _, r := range list {
			if !r.Success {
				res.failed = true
			}
		}
	}
	if res.failed && opts.rollback {
		ls.nextOID, ls.nextAttID = savedOID, savedAtt
		for _, list := range []*[]editResult{&res.AddResults, &res.UpdateResults, &res.DeleteResults, &res.AttAdd, &res.AttUpdate, &res.AttDelete} {
			for i := range *list {
				if (*list)[i].Success {
					(*list)[i].Success = false
					(*list)[i].Error = &editError{Code: editErrRolledBack, Description: "Operation rolled back."}
				}
			}
		}
		return res
	}
	if len(ops) == 0 {
		return res
	}
	gen := fs.nextGenLocked()
	for _, op := range ops {
		if op.rec != nil {
			r := *op.rec
			r.Gen = gen
			switch old := ls.recs[r.OID]; {
			case r.OID <= ls.base:
				r.CreatedGen = 0
			case old != nil:
				r.CreatedGen, r.CreatedBy = old.CreatedGen, old.CreatedBy
			default:
				r.CreatedGen, r.CreatedBy = gen, opts.replicaID
			}
			fs.putRecordLocked(ls, &r, opts.replicaID)
		} else {
			a := *op.att
			a.Gen = gen
			if old := ls.atts[a.ID]; old != nil {
				a.CreatedGen, a.CreatedBy = old.CreatedGen, old.CreatedBy
			} else if a.ID > ls.base {
				a.CreatedGen, a.CreatedBy = gen, opts.replicaID
			}
			fs.putAttLocked(ls, &a, opts.replicaID)
		}
	}
	return res
}
