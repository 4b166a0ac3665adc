package features

import (
	"maps"
	"slices"

	"github.com/offlined/offlined/internal/arcgis"
)

// record is one feature in the edit overlay: added, updated or deleted
// (tombstone). Records are immutable once stored; an edit stores a new one.
type record struct {
	OID        int64
	GID        string
	Feature    arcgis.Feature // nil Attributes when Deleted
	Deleted    bool
	CreatedGen int64  // 0 for generated features
	CreatedBy  string // replica that uploaded the add, if any
	Gen        int64  // generation of the last change
}

// attRecord is one attachment (generated or in the overlay).
type attRecord struct {
	ID          int64
	ParentOID   int64
	ParentGID   string
	GID         string
	Name        string
	ContentType string
	Size        int64
	Keywords    string
	Data        []byte // nil for generated attachments (rebuilt on demand)
	Deleted     bool
	CreatedGen  int64
	CreatedBy   string
	Gen         int64
}

// layerStore is a layer's data: Count generated features (OID 1..Count)
// computed on demand, plus an overlay of edits. Guarded by fsService.mu.
type layerStore struct {
	def     *layerDef
	seed    int64
	base    int64
	recs    map[int64]*record
	gids    map[string]int64 // GlobalID → OID of added features
	added   []int64          // OIDs of added features, ascending
	nextOID int64

	atts      map[int64]*attRecord
	attGids   map[string]int64
	attByPar  map[int64][]int64 // parent OID → added attachment ids (copy-on-write slices)
	nextAttID int64
	lastEdit  int64
}

func newLayerStore(d *layerDef, seed int64) *layerStore {
	n := int64(d.Count)
	return &layerStore{def: d, seed: seed, base: n, recs: map[int64]*record{}, gids: map[string]int64{},
		nextOID: n + 1, atts: map[int64]*attRecord{}, attGids: map[string]int64{}, attByPar: map[int64][]int64{},
		nextAttID: n + 1, lastEdit: genEpochMillis}
}

// layerView is a consistent read-only snapshot of a layer: the generated
// base plus a copy of the overlay maps (the records themselves are shared).
type layerView struct {
	def      *layerDef
	fields   []arcgis.Field
	seed     int64
	base     int64
	recs     map[int64]*record
	gids     map[string]int64
	added    []int64
	atts     map[int64]*attRecord
	attGids  map[string]int64
	attByPar map[int64][]int64
}

// view snapshots the layer; fs.mu must be held. It costs O(edits).
func (ls *layerStore) view() *layerView {
	return &layerView{def: ls.def, fields: slices.Clone(ls.def.fields), seed: ls.seed, base: ls.base,
		recs: maps.Clone(ls.recs), gids: maps.Clone(ls.gids), added: slices.Clone(ls.added),
		atts: maps.Clone(ls.atts), attGids: maps.Clone(ls.attGids), attByPar: maps.Clone(ls.attByPar)}
}

// get returns the feature with the OID and its record (nil for an
// unedited generated feature).
func (v *layerView) get(oid int64) (arcgis.Feature, *record, bool) {
	if r, ok := v.recs[oid]; ok {
		if r.Deleted {
			return arcgis.Feature{}, r, false
		}
		return r.Feature, r, true
	}
	if oid >= 1 && oid <= v.base {
		return v.def.generate(v.seed, oid, v.fields), nil, true
	}
	return arcgis.Feature{}, nil, false
}

// oidOf resolves a GlobalID to an OID (also for deleted features: ok
// reports whether the feature exists now).
func (v *layerView) oidOf(gid string) (oid int64, exists bool) {
	gid = normGUID(gid)
	if o, ok := v.gids[gid]; ok {
		r := v.recs[o]
		return o, r != nil && !r.Deleted
	}
	if kind, layer, idx, ok := parseGenGUID(v.seed, gid); ok && kind == gidFeature && layer == v.def.ID && idx >= 1 && idx <= v.base {
		r := v.recs[idx]
		return idx, r == nil || !r.Deleted
	}
	return 0, false
}

// each calls fn for every existing feature in OID order until fn returns false.
func (v *layerView) each(fn func(oid int64, f arcgis.Feature) bool) {
	for oid := int64(1); oid <= v.base; oid++ {
		f, _, ok := v.get(oid)
		if ok && !fn(oid, f) {
			return
		}
	}
	for _, oid := range v.added {
		f, _, ok := v.get(oid)
		if ok && !fn(oid, f) {
			return
		}
	}
}

// eachID calls fn for every existing OID in order without generating the
// features, until fn returns false.
func (v *layerView) eachID(fn func(oid int64) bool) {
	for oid := int64(1); oid <= v.base; oid++ {
		if r, ok := v.recs[oid]; ok && r.Deleted {
			continue
		}
		if !fn(oid) {
			return
		}
	}
	for _, oid := range v.added {
		if r := v.recs[oid]; r != nil && !r.Deleted && !fn(oid) {
			return
		}
	}
}

// count returns the number of existing features.
func (v *layerView) count() int64 {
	n := v.base
	for oid, r := range v.recs {
		switch {
		case r.Deleted && oid <= v.base:
			n--
		case !r.Deleted && oid > v.base:
			n++
		}
	}
	return n
}

// attachment returns an attachment by id with its bytes.
func (v *layerView) attachment(id int64) (attRecord, []byte, bool) {
	if a, ok := v.atts[id]; ok {
		if a.Deleted {
			return attRecord{}, nil, false
		}
		if a.Data == nil { // generated attachment whose metadata was updated
			_, data := v.def.genAttachment(v.seed, a.ParentOID)
			return *a, data, true
		}
		return *a, a.Data, true
	}
	if id >= 1 && id <= v.base && v.def.hasGenAttachment(id) {
		if _, _, ok := v.get(id); !ok {
			return attRecord{}, nil, false
		}
		a, data := v.def.genAttachment(v.seed, id)
		return a, data, true
	}
	return attRecord{}, nil, false
}

// attachmentsOf lists the attachments of a feature (metadata only).
func (v *layerView) attachmentsOf(oid int64) []attRecord {
	if !v.def.attachments {
		return nil
	}
	var out []attRecord
	if oid <= v.base && v.def.hasGenAttachment(oid) {
		if a, _, ok := v.attachment(oid); ok {
			out = append(out, a)
		}
	}
	for _, id := range v.attByPar[oid] {
		if a, ok := v.atts[id]; ok && !a.Deleted {
			out = append(out, *a)
		}
	}
	return out
}

// attIDOf resolves an attachment GlobalID to its id.
func (v *layerView) attIDOf(gid string) (int64, bool) {
	gid = normGUID(gid)
	if id, ok := v.attGids[gid]; ok {
		a := v.atts[id]
		return id, a != nil && !a.Deleted
	}
	if kind, layer, idx, ok := parseGenGUID(v.seed, gid); ok && kind == gidAttachment && layer == v.def.ID {
		_, _, ok := v.attachment(idx)
		return idx, ok
	}
	return 0, false
}

// change is one entry of a service's change log.
type change struct {
	Gen        int64
	Layer      int
	OID        int64 // feature OID, or attachment id when Attachment
	Attachment bool
	Replica    string // replica that uploaded the change ("" for others)
}

// putRecordLocked stores a feature record and logs the change.
func (fs *fsService) putRecordLocked(ls *layerStore, r *record, replicaID string) {
	if _, existed := ls.recs[r.OID]; !existed && r.OID > ls.base {
		ls.added = append(ls.added, r.OID)
	}
	ls.recs[r.OID] = r
	if r.OID > ls.base {
		ls.gids[r.GID] = r.OID
	}
	ls.lastEdit = nowMillis()
	fs.log = append(fs.log, change{Gen: r.Gen, Layer: ls.def.ID, OID: r.OID, Replica: replicaID})
}

// putAttLocked stores an attachment record and logs the change.
func (fs *fsService) putAttLocked(ls *layerStore, a *attRecord, replicaID string) {
	if _, existed := ls.atts[a.ID]; !existed && a.ID > ls.base {
		ls.attByPar[a.ParentOID] = append(slices.Clone(ls.attByPar[a.ParentOID]), a.ID)
		ls.attGids[a.GID] = a.ID
	}
	ls.atts[a.ID] = a
	ls.lastEdit = nowMillis()
	fs.log = append(fs.log, change{Gen: a.Gen, Layer: ls.def.ID, OID: a.ID, Attachment: true, Replica: replicaID})
}
