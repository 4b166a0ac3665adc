package features

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// attEditsJSON is the applyEdits attachments parameter.
type attEditsJSON struct {
	Adds      []attEdit `json:"adds"`
	Updates   []attEdit `json:"updates"`
	Deletes   []string  `json:"deletes"`
	DeleteIDs []string  `json:"deleteIds"`
}

func (s *FeatureServer) editOpts(fs *fsService, r *http.Request, user string) editOptions {
	return editOptions{useGlobalIDs: rest.BoolParam(r, "useGlobalIds", false), rollback: rest.BoolParam(r, "rollbackOnFailure", true),
		user: user, inSR: 3857, canAdd: fs.opts.Create, canUpdate: fs.opts.Update, canDelete: fs.opts.Delete}
}

func (s *FeatureServer) handleLayerApplyEdits(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, user string) {
	if !fs.canEdit() {
		rest.WriteError(w, http.StatusOK, 400, "Requested operation is not supported by this service.", "The service does not allow editing")
		return
	}
	var e layerEdits
	var err error
	if e.Adds, err = parseFeatures(rest.FormValue(r, "adds")); err != nil {
		rest.ParamError(w, "'adds' parameter is invalid")
		return
	}
	if e.Updates, err = parseFeatures(rest.FormValue(r, "updates")); err != nil {
		rest.ParamError(w, "'updates' parameter is invalid")
		return
	}
	if e.DeleteOIDs, e.DeleteGIDs, err = parseDeletes(rest.FormValue(r, "deletes")); err != nil {
		rest.ParamError(w, "'deletes' parameter is invalid")
		return
	}
	opts := s.editOpts(fs, r, user)
	if raw := rest.FormValue(r, "attachments"); raw != "" {
		var a attEditsJSON
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			rest.ParamError(w, "'attachments' parameter is invalid")
			return
		}
		if !opts.useGlobalIDs {
			rest.ParamError(w, "'attachments' requires useGlobalIds=true")
			return
		}
		e.AttAdds, e.AttUpdates, e.AttDeletes = a.Adds, a.Updates, append(a.Deletes, a.DeleteIDs...)
	}
	fs.mu.Lock()
	res := fs.applyLayerEditsLocked(ls, e, opts)
	fs.mu.Unlock()
	body := map[string]any{"addResults": res.AddResults, "updateResults": res.UpdateResults, "deleteResults": res.DeleteResults}
	if rest.FormValue(r, "attachments") != "" {
		body["attachments"] = res.attachmentsJSON()
	}
	rest.WriteJSON(w, http.StatusOK, body)
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
		rest.WriteError(w, http.StatusOK, 400, "Requested operation is not supported by this service.", "The service does not allow editing")
		return
	}
	var edits []serviceEdit
	if err := json.Unmarshal([]byte(rest.FormValue(r, "edits")), &edits); err != nil {
		rest.ParamError(w, "'edits' parameter is invalid")
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
			rest.ParamError(w, fmt.Sprintf("layer %d does not exist", se.ID))
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
				rest.ParamError(w, "'edits' deletes are invalid")
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
	rest.WriteJSON(w, http.StatusOK, out)
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
