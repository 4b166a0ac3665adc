package features

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// syncLayerEdits is one element of synchronizeReplica's edits parameter.
type syncLayerEdits struct {
	ID          int             `json:"id"`
	Features    *featureChanges `json:"features"`
	Attachments *struct {
		Adds      []attEdit `json:"adds"`
		Updates   []attEdit `json:"updates"`
		DeleteIDs []string  `json:"deleteIds"`
	} `json:"attachments"`
}

// featureChanges are the feature adds, updates and deletes (by GlobalID)
// of synchronizeReplica edits and of the changes it sends back.
type featureChanges struct {
	Adds      []arcgis.Feature `json:"adds"`
	Updates   []arcgis.Feature `json:"updates"`
	DeleteIDs []string         `json:"deleteIds"`
}

// syncLayer is a client's per-layer sync request.
type syncLayer struct {
	ID            int    `json:"id"`
	ServerGen     *int64 `json:"serverGen"`
	ServerSibGen  int64  `json:"serverSibGen"`
	SyncDirection string `json:"syncDirection"`
}

// layerChanges is the download part of one layer.
type layerChanges struct {
	adds, updates       []arcgis.Feature
	deleteIDs           []string
	attAdds, attUpdates []arcgis.AttachmentInfo
	attDeleteIDs        []string
}

func (c *layerChanges) empty() bool {
	return len(c.adds)+len(c.updates)+len(c.deleteIDs)+len(c.attAdds)+len(c.attUpdates)+len(c.attDeleteIDs) == 0
}

// syncError is a synchronizeReplica failure reported as an ArcGIS error.
type syncError struct {
	msg     string
	details []string
}

func (e *syncError) Error() string { return e.msg + ": " + strings.Join(e.details, "; ") }

func syncErr(format string, args ...any) *syncError {
	return &syncError{msg: "Unable to synchronize replica.", details: []string{fmt.Sprintf(format, args...)}}
}

func (s *FeatureServer) handleSynchronizeReplica(w http.ResponseWriter, r *http.Request, fs *fsService, user string) {
	if !fs.opts.Sync {
		rest.WriteError(w, http.StatusOK, 400, "Unable to synchronize replica. Sync is not enabled for this service.", "The service does not have the Sync capability")
		return
	}
	if f := strings.ToLower(rest.FormValue(r, "dataFormat")); f != "" && f != "json" {
		rest.WriteError(w, http.StatusOK, 400, "Unable to synchronize replica.", fmt.Sprintf("dataFormat %q is not supported by the emulator (only json)", f))
		return
	}
	async := rest.BoolParam(r, "async", false)
	if async && !fs.opts.SyncAsync {
		rest.WriteError(w, http.StatusOK, 400, "Unable to synchronize replica.", "async is not supported by this service")
		return
	}
	transport := transportURL
	if rest.FormValue(r, "transportType") == transportEmbedded && !async {
		transport = transportEmbedded
	}
	fail := async && s.jobsFail()

	var body map[string]any
	var serr *syncError
	var rp *replica
	if !fail {
		body, rp, serr = s.synchronize(r, fs, user)
		if serr != nil && !async {
			rest.WriteError(w, http.StatusOK, 400, serr.msg, serr.details...)
			return
		}
	} else {
		fs.mu.Lock()
		rp, _ = fs.replicaLocked(rest.FormValue(r, "replicaID"))
		fs.mu.Unlock()
	}
	if rp == nil {
		rp = &replica{ID: rest.FormValue(r, "replicaID")}
	}
	if transport == transportEmbedded {
		body["transportType"] = transportEmbedded
		rest.WriteJSON(w, http.StatusOK, body)
		return
	}
	fs.mu.Lock()
	rf := &replicaFile{ID: fs.newIDLocked(), rp: rp}
	gens := map[string]any{}
	respType := responseNoEdits
	if body != nil {
		body["transportType"] = transportURL
		rf.body, _ = json.Marshal(body)
		fs.files[rf.ID] = rf
		respType, _ = body["responseType"].(string)
		for _, k := range []string{"replicaServerGen", "layerServerGens"} {
			if v, ok := body[k]; ok {
				gens[k] = v
			}
		}
	}
	var jb *job
	if async {
		now := nowMillis()
		jb = &job{ID: fs.newIDLocked(), Kind: "sync", rp: rp, Submitted: now, Updated: now, fileID: rf.ID, response: respType, gens: gens}
		if fail {
			jb.fail, jb.failMsg = true, "Synchronization failed (injected fault)"
		} else if serr != nil {
			jb.fail, jb.failMsg = true, serr.msg+" "+strings.Join(serr.details, "; ")
		}
		fs.jobs[jb.ID] = jb
	}
	fs.mu.Unlock()
	if async {
		rest.WriteJSON(w, http.StatusOK, map[string]any{"statusUrl": fs.baseURL(r) + "/jobs/" + jb.ID})
		return
	}
	out := map[string]any{"replicaName": rp.Name, "replicaID": rp.ID, "transportType": transportURL, "responseType": respType,
		"responseUrl": fs.baseURL(r) + "/replicafiles/" + rf.ID + ".json"}
	for k, v := range gens {
		out[k] = v
	}
	rest.WriteJSON(w, http.StatusOK, out)
}

// synchronize applies the uploaded edits and collects the download. It
// returns the full (embedded) response body.
func (s *FeatureServer) synchronize(r *http.Request, fs *fsService, user string) (map[string]any, *replica, *syncError) {
	id := rest.FormValue(r, "replicaID")
	if id == "" {
		return nil, nil, syncErr("'replicaID' is required")
	}
	defDir := rest.FormValue(r, "syncDirection")
	switch defDir {
	case "":
		defDir = "bidirectional"
	case "bidirectional", "upload", "download":
	case "snapshot":
		return nil, nil, syncErr("syncDirection snapshot is not supported by the emulator")
	default:
		return nil, nil, syncErr("syncDirection %q is invalid", defDir)
	}
	var edits []syncLayerEdits
	raw := strings.TrimSpace(rest.FormValue(r, "edits"))
	if up := rest.FormValue(r, "editsUploadID"); up != "" {
		if f := strings.ToLower(rest.FormValue(r, "editsUploadFormat")); f != "" && f != "json" {
			return nil, nil, syncErr("editsUploadFormat %q is not supported by the emulator (only json)", f)
		}
		fs.mu.Lock()
		b, err := fs.uploads.data(up)
		fs.mu.Unlock()
		if err != nil {
			return nil, nil, syncErr("editsUploadID: %v", err)
		}
		raw = string(b)
	}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &edits); err != nil {
			return nil, nil, syncErr("'edits' parameter is invalid: %v", err)
		}
	}
	var syncLayers []syncLayer
	if sl := strings.TrimSpace(rest.FormValue(r, "syncLayers")); sl != "" && sl != "all" {
		if err := json.Unmarshal([]byte(sl), &syncLayers); err != nil {
			return nil, nil, syncErr("'syncLayers' parameter is invalid: %v", err)
		}
	}
	rollback := rest.BoolParam(r, "rollbackOnFailure", true)
	closeReplica := rest.BoolParam(r, "closeReplica", false)
	attByURL := rest.BoolParam(r, "returnAttachmentsDataByUrl", true)

	fs.mu.Lock()
	defer fs.mu.Unlock()
	rp, ok := fs.replicaLocked(id)
	if !ok {
		return nil, nil, syncErr("Replica %s does not exist", id)
	}
	// Per-layer direction and client generation.
	dirs := map[int]string{}
	since := map[int]int64{}
	var clientGen *int64
	if g, err := strconv.ParseInt(rest.FormValue(r, "replicaServerGen"), 10, 64); err == nil {
		clientGen = &g
	}
	if len(syncLayers) > 0 {
		for _, sl := range syncLayers {
			if !slices.Contains(rp.Layers, sl.ID) {
				return nil, rp, syncErr("syncLayers: layer %d is not in the replica", sl.ID)
			}
			d := sl.SyncDirection
			if d == "" {
				d = defDir
			}
			if d != "bidirectional" && d != "upload" && d != "download" {
				return nil, rp, syncErr("syncLayers: syncDirection %q is invalid", d)
			}
			dirs[sl.ID] = d
			switch {
			case sl.ServerGen != nil:
				since[sl.ID] = *sl.ServerGen
			case clientGen != nil:
				since[sl.ID] = *clientGen
			case d != "upload":
				return nil, rp, syncErr("syncLayers: serverGen of layer %d is required for %s", sl.ID, d)
			}
		}
	} else {
		for _, lid := range rp.Layers {
			dirs[lid] = defDir
			switch {
			case clientGen != nil:
				since[lid] = *clientGen
			case rp.SyncModel == "perLayer":
				since[lid] = rp.LayerGens[lid]
			default:
				since[lid] = rp.ServerGen
			}
		}
	}
	// Upload.
	editsByLayer := map[int]layerEdits{}
	var order []int
	for _, e := range edits {
		dir, ok := dirs[e.ID]
		if !ok {
			return nil, rp, syncErr("edits: layer %d is not being synchronized", e.ID)
		}
		if dir == "download" || rp.SyncDirection == "download" {
			return nil, rp, syncErr("edits: layer %d is download-only", e.ID)
		}
		le := editsByLayer[e.ID]
		if e.Features != nil {
			le.Adds = append(le.Adds, e.Features.Adds...)
			le.Updates = append(le.Updates, e.Features.Updates...)
			le.DeleteGIDs = append(le.DeleteGIDs, e.Features.DeleteIDs...)
		}
		if e.Attachments != nil && (len(e.Attachments.Adds)+len(e.Attachments.Updates)+len(e.Attachments.DeleteIDs)) > 0 {
			if rp.AttachmentsSyncDirection == "none" {
				return nil, rp, syncErr("edits: attachments cannot be uploaded (attachmentsSyncDirection none)")
			}
			le.AttAdds = append(le.AttAdds, e.Attachments.Adds...)
			le.AttUpdates = append(le.AttUpdates, e.Attachments.Updates...)
			le.AttDeletes = append(le.AttDeletes, e.Attachments.DeleteIDs...)
		}
		if !slices.Contains(order, e.ID) {
			order = append(order, e.ID)
		}
		editsByLayer[e.ID] = le
	}
	opts := editOptions{useGlobalIDs: true, rollback: rollback, user: user, replicaID: rp.ID, inSR: rp.SR,
		canAdd: fs.opts.Create, canUpdate: fs.opts.Update, canDelete: fs.opts.Delete}
	results, failed := fs.applyMultiLocked(func(i int) (*layerStore, layerEdits) {
		return fs.byID[order[i]], editsByLayer[order[i]]
	}, len(order), opts)
	if failed && rollback {
		se := &syncError{msg: "Unable to synchronize replica. Edits were rolled back."}
		for i, res := range results {
			for kind, list := range map[string][]editResult{"add": res.AddResults, "update": res.UpdateResults, "delete": res.DeleteResults,
				"attachment add": res.AttAdd, "attachment update": res.AttUpdate, "attachment delete": res.AttDelete} {
				for _, er := range list {
					if er.Error != nil && er.Error.Code != editErrRolledBack {
						se.details = append(se.details, fmt.Sprintf("layer %d %s %s: %s", order[i], kind, er.GlobalID, er.Error.Description))
					}
				}
			}
		}
		slices.Sort(se.details)
		return nil, rp, se
	}
	resByLayer := map[int]*layerResults{}
	for i, res := range results {
		resByLayer[order[i]] = res
	}
	// Download.
	views := map[int]*layerView{}
	for _, lid := range rp.Layers {
		views[lid] = fs.byID[lid].view()
	}
	sels := rp.selectors(views)
	base := fs.baseURL(r)
	newGen := fs.gen
	anyChange := false
	var layerOut []map[string]any
	for _, lid := range rp.Layers {
		dir, ok := dirs[lid]
		if !ok {
			continue
		}
		entry := map[string]any{"id": lid}
		if res := resByLayer[lid]; res != nil {
			entry["addResults"], entry["updateResults"], entry["deleteResults"] = res.AddResults, res.UpdateResults, res.DeleteResults
		}
		if dir != "upload" {
			ch := fs.changesSinceLocked(fs.byID[lid], views[lid], sels[lid], since[lid], rp, base, attByURL)
			if !ch.empty() {
				anyChange = true
			}
			entry["features"] = map[string]any{"adds": nzF(ch.adds), "updates": nzF(ch.updates), "deleteIds": nzS(ch.deleteIDs)}
			att := map[string]any{"adds": nzA(ch.attAdds), "updates": nzA(ch.attUpdates), "deleteIds": nzS(ch.attDeleteIDs)}
			if res := resByLayer[lid]; res != nil {
				for k, v := range res.attachmentsJSON() {
					att[k] = v
				}
			}
			entry["attachments"] = att
			rp.LayerGens[lid] = newGen
		} else if res := resByLayer[lid]; res != nil {
			entry["attachments"] = res.attachmentsJSON()
		}
		layerOut = append(layerOut, entry)
	}
	downloaded := false
	for _, d := range dirs {
		if d != "upload" {
			downloaded = true
		}
	}
	if downloaded {
		rp.ServerGen = newGen
	}
	rp.LastSync = nowMillis()
	respType := responseNoEdits
	if anyChange {
		respType = responseEdits
	}
	body := map[string]any{"replicaName": rp.Name, "replicaID": rp.ID, "responseType": respType, "edits": layerOut}
	rp.gensJSON(body)
	if closeReplica {
		delete(fs.replicas, rp.ID)
	}
	return body, rp, nil
}

func nzF(f []arcgis.Feature) []arcgis.Feature {
	if f == nil {
		return []arcgis.Feature{}
	}
	return f
}

func nzS(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nzA(a []arcgis.AttachmentInfo) []arcgis.AttachmentInfo {
	if a == nil {
		return []arcgis.AttachmentInfo{}
	}
	return a
}

// changesSinceLocked collects the layer's changes after generation since
// that were not uploaded by rp itself, as adds/updates/deleteIds in the
// replica's SR. Adds and updates are limited to features the replica
// selects; deletes are always reported. fs.mu must be held.
func (fs *fsService) changesSinceLocked(ls *layerStore, v *layerView, sel selector, since int64, rp *replica, base string, attByURL bool) *layerChanges {
	type key struct {
		att bool
		id  int64
	}
	foreign := map[key]bool{}
	for i := len(fs.log) - 1; i >= 0; i-- {
		c := fs.log[i]
		if c.Gen <= since {
			break
		}
		if c.Layer != ls.def.ID {
			continue
		}
		k := key{c.Attachment, c.OID}
		foreign[k] = foreign[k] || c.Replica != rp.ID
	}
	out := &layerChanges{}
	var featIDs, attIDs []int64
	for k, f := range foreign {
		if !f {
			continue
		}
		if k.att {
			attIDs = append(attIDs, k.id)
		} else {
			featIDs = append(featIDs, k.id)
		}
	}
	slices.Sort(featIDs)
	slices.Sort(attIDs)
	known := func(createdGen int64, createdBy string) bool { return createdGen <= since || createdBy == rp.ID }
	for _, oid := range featIDs {
		rec := ls.recs[oid]
		if rec == nil {
			continue
		}
		if rec.Deleted {
			if known(rec.CreatedGen, rec.CreatedBy) {
				out.deleteIDs = append(out.deleteIDs, rec.GID)
			}
			continue
		}
		if !sel(oid, rec.Feature) {
			continue
		}
		f := projectFeature(rec.Feature, nil, v.def.oidField, !v.def.isTable(), rp.SR)
		if known(rec.CreatedGen, rec.CreatedBy) {
			out.updates = append(out.updates, f)
		} else {
			out.adds = append(out.adds, f)
		}
	}
	if !rp.ReturnAttachments || rp.AttachmentsSyncDirection != "bidirectional" {
		return out
	}
	for _, id := range attIDs {
		a := ls.atts[id]
		if a == nil {
			continue
		}
		if a.Deleted {
			if known(a.CreatedGen, a.CreatedBy) {
				out.attDeleteIDs = append(out.attDeleteIDs, a.GID)
			}
			continue
		}
		pf, _, ok := v.get(a.ParentOID)
		if !ok || !sel(a.ParentOID, pf) {
			continue
		}
		info := replicaAttachment(v, *a, base, attByURL)
		if known(a.CreatedGen, a.CreatedBy) {
			out.attUpdates = append(out.attUpdates, info)
		} else {
			out.attAdds = append(out.attAdds, info)
		}
	}
	return out
}
