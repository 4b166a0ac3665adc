package features

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
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
		if !opts.canUpdate {
			res.UpdateResults = append(res.UpdateResults, failRes(oidIn, gidIn, editErrGeneric, "Updates are not allowed on this service"))
			continue
		}
		if !ok {
			res.UpdateResults = append(res.UpdateResults, failRes(oidIn, gidIn, editErrMissing, "Object is missing."))
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
		if !opts.canDelete {
			res.DeleteResults = append(res.DeleteResults, failRes(oid, gid, editErrGeneric, "Deletes are not allowed on this service"))
			return
		}
		if !ok {
			res.DeleteResults = append(res.DeleteResults, failRes(oid, gid, editErrMissing, "Object is missing."))
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

// checkGeometry validates an incoming geometry against the layer and
// returns it in Web Mercator without a spatialReference.
func (fs *fsService) checkGeometry(d *layerDef, g *arcgis.Geometry, inSR int) (*arcgis.Geometry, error) {
	if g == nil || g.Type() == "" && g.IsEmpty() {
		return nil, nil
	}
	if d.isTable() {
		return nil, nil
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if g.Type() != d.GeometryType {
		return nil, fmt.Errorf("geometry type %s does not match layer type %s", g.Type(), d.GeometryType)
	}
	if inSR == 0 {
		inSR = 3857
	}
	m := toEPSG(g, geomSR(g, inSR), 3857)
	if m == g {
		c := *g
		m = &c
	}
	m.SpatialReference = nil
	return m, nil
}

// normalizeAttrs maps attribute names to the layer's fields, converts
// values to the stored types and validates them. OID/GlobalID are not
// returned as editable values; the GlobalID (if present) is returned.
func normalizeAttrs(fields []arcgis.Field, in map[string]any) (map[string]any, string, error) {
	out := map[string]any{}
	gid := ""
	var firstErr error
	for k, val := range in {
		var fl *arcgis.Field
		for i := range fields {
			if strings.EqualFold(fields[i].Name, k) {
				fl = &fields[i]
				break
			}
		}
		if fl == nil {
			continue // ArcGIS ignores unknown attributes
		}
		switch fl.Type {
		case arcgis.FieldOID:
			continue
		case arcgis.FieldGlobalID:
			if s, ok := val.(string); ok {
				gid = normGUID(s)
			}
			continue
		}
		if !fl.IsEditable() {
			continue
		}
		cv, err := convertValue(fl, val)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		out[fl.Name] = cv
	}
	return out, gid, firstErr
}

// convertValue checks a value against a field type.
func convertValue(fl *arcgis.Field, val any) (any, error) {
	if val == nil {
		if !fl.IsNullable() {
			return nil, fmt.Errorf("field %s does not accept null", fl.Name)
		}
		return nil, nil
	}
	switch fl.Type {
	case arcgis.FieldString:
		s, ok := val.(string)
		if !ok {
			return nil, fmt.Errorf("field %s expects a string, got %T", fl.Name, val)
		}
		if fl.Length > 0 && len([]rune(s)) > fl.Length {
			return nil, fmt.Errorf("value for field %s exceeds its length %d", fl.Name, fl.Length)
		}
		return s, nil
	case arcgis.FieldSmallInteger, arcgis.FieldInteger, arcgis.FieldBigInteger, arcgis.FieldDate:
		f, ok := toNum(val)
		if !ok {
			if s, isStr := val.(string); isStr && fl.Type == arcgis.FieldDate {
				if ms, ok := parseDateLiteral(s); ok {
					return ms, nil
				}
			}
			return nil, fmt.Errorf("field %s expects a number, got %T", fl.Name, val)
		}
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("field %s expects an integer", fl.Name)
		}
		if fl.Type == arcgis.FieldSmallInteger && (f < -32768 || f > 32767) {
			return nil, fmt.Errorf("value for field %s is out of range", fl.Name)
		}
		return int64(f), nil
	case arcgis.FieldDouble, arcgis.FieldSingle:
		f, ok := toNum(val)
		if !ok {
			return nil, fmt.Errorf("field %s expects a number, got %T", fl.Name, val)
		}
		return f, nil
	case arcgis.FieldGUID:
		s, ok := val.(string)
		if !ok || !isGUIDish(s) {
			return nil, fmt.Errorf("field %s expects a GUID", fl.Name)
		}
		return normGUID(s), nil
	}
	return val, nil
}

// attachmentBytesLocked gets an attachment's bytes from base64 data, an
// upload id or an uploads URL; fs.mu must be held.
func (fs *fsService) attachmentBytesLocked(a attEdit) ([]byte, error) {
	switch {
	case a.Data != "":
		b, err := base64.StdEncoding.DecodeString(a.Data)
		if err != nil {
			return nil, fmt.Errorf("attachment data is not valid base64: %w", err)
		}
		return b, nil
	case a.UploadID != "":
		return fs.uploads.data(a.UploadID)
	case a.URL != "":
		if i := strings.Index(a.URL, "/uploads/"); i >= 0 {
			id := strings.SplitN(a.URL[i+len("/uploads/"):], "/", 2)[0]
			return fs.uploads.data(id)
		}
		return nil, fmt.Errorf("attachment url %q does not reference an upload", a.URL)
	}
	return nil, fmt.Errorf("attachment has no data, uploadId or url")
}

// parseFeatures reads a JSON array of features (applyEdits adds/updates).
func parseFeatures(raw string) ([]arcgis.Feature, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil
	}
	var out []arcgis.Feature
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, err
	}
	return out, nil
}

// parseDeletes reads applyEdits deletes: OIDs ("1,2" or [1,2]) or GlobalIDs.
func parseDeletes(raw string) ([]int64, []string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, nil, nil
	}
	if strings.HasPrefix(raw, "[") {
		var items []any
		if err := json.Unmarshal([]byte(raw), &items); err != nil {
			return nil, nil, err
		}
		var oids []int64
		var gids []string
		for _, it := range items {
			switch x := it.(type) {
			case float64:
				oids = append(oids, int64(x))
			case string:
				if isGUIDish(x) {
					gids = append(gids, normGUID(x))
				} else if n, err := parseIDList(x); err == nil {
					oids = append(oids, n...)
				}
			}
		}
		return oids, gids, nil
	}
	var oids []int64
	var gids []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if isGUIDish(p) {
			gids = append(gids, normGUID(p))
			continue
		}
		n, err := parseIDList(p)
		if err != nil {
			return nil, nil, err
		}
		oids = append(oids, n...)
	}
	return oids, gids, nil
}

// attEditsJSON is the applyEdits attachments parameter.
type attEditsJSON struct {
	Adds      []attEdit `json:"adds"`
	Updates   []attEdit `json:"updates"`
	Deletes   []string  `json:"deletes"`
	DeleteIDs []string  `json:"deleteIds"`
}

func (s *FeatureServer) editOpts(fs *fsService, r *http.Request, user string) editOptions {
	return editOptions{useGlobalIDs: boolParam(r, "useGlobalIds", false), rollback: boolParam(r, "rollbackOnFailure", true),
		user: user, inSR: 3857, canAdd: fs.opts.Create, canUpdate: fs.opts.Update, canDelete: fs.opts.Delete}
}

func (s *FeatureServer) handleLayerApplyEdits(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, user string) {
	if !fs.canEdit() {
		writeError(w, http.StatusOK, 400, "Requested operation is not supported by this service.", "The service does not allow editing")
		return
	}
	var e layerEdits
	var err error
	if e.Adds, err = parseFeatures(formValue(r, "adds")); err != nil {
		paramError(w, "'adds' parameter is invalid")
		return
	}
	if e.Updates, err = parseFeatures(formValue(r, "updates")); err != nil {
		paramError(w, "'updates' parameter is invalid")
		return
	}
	if e.DeleteOIDs, e.DeleteGIDs, err = parseDeletes(formValue(r, "deletes")); err != nil {
		paramError(w, "'deletes' parameter is invalid")
		return
	}
	opts := s.editOpts(fs, r, user)
	if raw := formValue(r, "attachments"); raw != "" {
		var a attEditsJSON
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			paramError(w, "'attachments' parameter is invalid")
			return
		}
		if !opts.useGlobalIDs {
			paramError(w, "'attachments' requires useGlobalIds=true")
			return
		}
		e.AttAdds, e.AttUpdates, e.AttDeletes = a.Adds, a.Updates, append(a.Deletes, a.DeleteIDs...)
	}
	fs.mu.Lock()
	res := fs.applyLayerEditsLocked(ls, e, opts)
	fs.mu.Unlock()
	body := map[string]any{"addResults": res.AddResults, "updateResults": res.UpdateResults, "deleteResults": res.DeleteResults}
	if formValue(r, "attachments") != "" {
		body["attachments"] = res.attachmentsJSON()
	}
	writeJSON(w, http.StatusOK, body)
}

// serviceEdit is one element of service-level applyEdits' edits.
type serviceEdit struct {
	ID          int              `json:"id"`
	Adds        []arcgis.Feature `json:"adds"`
	Updates     []arcgis.Feature `json:"updates"`
	Deletes     json.RawMessage  `json:"deletes"`
	Attachments *attEditsJSON    `json:"attachments"`
}

func (s *FeatureServer) handleServiceApplyEdits(w http.ResponseWriter, r *http.Request, fs *fsService, user string) {
	if !fs.canEdit() {
		writeError(w, http.StatusOK, 400, "Requested operation is not supported by this service.", "The service does not allow editing")
		return
	}
	var edits []serviceEdit
	if err := json.Unmarshal([]byte(formValue(r, "edits")), &edits); err != nil {
		paramError(w, "'edits' parameter is invalid")
		return
	}
	opts := s.editOpts(fs, r, user)
	type parsed struct {
		ls *layerStore
		e  layerEdits
	}
	var all []parsed
	for _, se := range edits {
		ls := fs.byID[se.ID]
		if ls == nil {
			paramError(w, fmt.Sprintf("layer %d does not exist", se.ID))
			return
		}
		e := layerEdits{Adds: se.Adds, Updates: se.Updates}
		if len(se.Deletes) > 0 && string(se.Deletes) != "null" {
			raw := string(se.Deletes)
			if strings.HasPrefix(raw, `"`) {
				_ = json.Unmarshal(se.Deletes, &raw)
			}
			var err error
			if e.DeleteOIDs, e.DeleteGIDs, err = parseDeletes(raw); err != nil {
				paramError(w, "'edits' deletes are invalid")
				return
			}
		}
		if se.Attachments != nil {
			e.AttAdds, e.AttUpdates, e.AttDeletes = se.Attachments.Adds, se.Attachments.Updates, append(se.Attachments.Deletes, se.Attachments.DeleteIDs...)
		}
		all = append(all, parsed{ls, e})
	}
	fs.mu.Lock()
	results, _ := fs.applyMultiLocked(func(i int) (*layerStore, layerEdits) { return all[i].ls, all[i].e }, len(all), opts)
	fs.mu.Unlock()
	out := make([]map[string]any, len(all))
	for i, res := range results {
		out[i] = map[string]any{"id": all[i].ls.def.ID, "addResults": res.AddResults, "updateResults": res.UpdateResults,
			"deleteResults": res.DeleteResults, "attachments": res.attachmentsJSON()}
	}
	writeJSON(w, http.StatusOK, out)
}

// applyMultiLocked applies edits to several layers as one unit: with
// rollback, a failure in any layer undoes every layer. It returns the
// per-layer results and whether anything failed.
func (fs *fsService) applyMultiLocked(get func(int) (*layerStore, layerEdits), n int, opts editOptions) ([]*layerResults, bool) {
	type saved struct {
		ls       *layerStore
		snapshot layerStoreState
	}
	var saves []saved
	logLen, gen := len(fs.log), fs.gen
	results := make([]*layerResults, n)
	failed := false
	for i := 0; i < n; i++ {
		ls, e := get(i)
		saves = append(saves, saved{ls, ls.saveState()})
		results[i] = fs.applyLayerEditsLocked(ls, e, opts)
		if results[i].failed {
			failed = true
		}
	}
	if failed && opts.rollback {
		for j := len(saves) - 1; j >= 0; j-- {
			saves[j].ls.restoreState(saves[j].snapshot)
		}
		fs.log, fs.gen = fs.log[:logLen], gen
		for _, res := range results {
			for _, list := range []*[]editResult{&res.AddResults, &res.UpdateResults, &res.DeleteResults, &res.AttAdd, &res.AttUpdate, &res.AttDelete} {
				for k := range *list {
					if (*list)[k].Success {
						(*list)[k].Success = false
						(*list)[k].Error = &editError{Code: editErrRolledBack, Description: "Operation rolled back."}
					}
				}
			}
		}
	}
	return results, failed
}

// layerStoreState is a restorable copy of a layer's overlay.
type layerStoreState struct {
	v                            *layerView
	nextOID, nextAttID, lastEdit int64
}

func (ls *layerStore) saveState() layerStoreState {
	return layerStoreState{v: ls.view(), nextOID: ls.nextOID, nextAttID: ls.nextAttID, lastEdit: ls.lastEdit}
}

func (ls *layerStore) restoreState(st layerStoreState) {
	ls.recs, ls.gids, ls.added = st.v.recs, st.v.gids, st.v.added
	ls.atts, ls.attGids, ls.attByPar = st.v.atts, st.v.attGids, st.v.attByPar
	ls.nextOID, ls.nextAttID, ls.lastEdit = st.nextOID, st.nextAttID, st.lastEdit
}
