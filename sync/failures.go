package sync

import (
	"strings"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// missing reports an edit error that says the target no longer exists: a
// delete that finds nothing has the effect it wanted.
func missing(er *arcgis.EditError) bool {
	if er == nil {
		return false
	}
	d := strings.ToLower(er.Description)
	return er.Code == 1019 || strings.Contains(d, "missing") || strings.Contains(d, "not exist") || strings.Contains(d, "not found")
}

// editFailures collects the per-edit failures of a sync answer and the
// change-log keys to keep for them.
func (e *Engine) editFailures(res *arcgis.SyncResult, j *journal) ([]EditFailure, []geodb.ChangeKey) {
	var fails []EditFailure
	var keep []geodb.ChangeKey
	now := time.Now().UTC()
	for _, l := range res.Edits {
		t := e.db.TableByID(l.ID)
		if t == nil {
			continue
		}
		add := func(list []arcgis.EditResult, op string, att bool) {
			for _, r := range list {
				if r.Success {
					continue
				}
				if op == "delete" && missing(r.Error) {
					continue
				}
				gid, _ := geodb.NormalizeGlobalID(r.GlobalID)
				f := EditFailure{Layer: l.ID, GlobalID: gid, Op: op, Attachment: att, At: now}
				if r.Error != nil {
					f.Code, f.Description = r.Error.Code, r.Error.Description
				}
				fails = append(fails, f)
				table := t.Name
				if att {
					table = t.AttachTable
				}
				keep = append(keep, geodb.ChangeKey{Table: table, GlobalID: gid})
			}
		}
		add(l.AddResults, "add", false)
		add(l.UpdateResults, "update", false)
		add(l.DeleteResults, "delete", false)
		if l.Attachments != nil {
			add(l.Attachments.AddResults, "add", true)
			add(l.Attachments.UpdateResults, "update", true)
			add(l.Attachments.DeleteResults, "delete", true)
		}
	}
	return fails, keep
}

// failuresFromError records a whole-request rejection (the server applied
// nothing) against the edits it names, or against the batch as a whole.
func failuresFromError(j *journal, ae *arcgis.Error) []EditFailure {
	now := time.Now().UTC()
	var out []EditFailure
	for _, d := range ae.Details {
		f := EditFailure{Layer: -1, Op: "batch", Code: ae.Code, Description: d, At: now}
		for _, le := range j.Edits {
			for op, set := range map[string][]string{"add": le.Adds, "update": le.Updates, "delete": le.Deletes} {
				for _, g := range set {
					if strings.Contains(d, g) {
						f.Layer, f.GlobalID, f.Op = le.ID, g, op
					}
				}
			}
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		out = append(out, EditFailure{Layer: -1, Op: "batch", Code: ae.Code, Description: ae.Message, At: now})
	}
	return out
}
