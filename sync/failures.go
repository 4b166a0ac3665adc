package sync

import (
	"context"
	"errors"
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

// refusedKey is the offlined_meta key set when the server refused a batch
// as a whole: the next batch downloads first (see needsDownloadFirst); the
// download that follows clears it.
const refusedKey = "offlined_sync_refused"

// sendFailed handles an error sending a batch. When the server answered
// with an error it applied nothing (rollbackOnFailure): the journal goes,
// every edit stays in the change log, the next attempt downloads first and
// the reasons are returned. An ambiguous error (no answer, or one lost
// after the server accepted the request) or an auth error leaves the
// journal "sent".
func (e *Engine) sendFailed(ctx context.Context, j *journal, err error) ([]EditFailure, error) {
	err = classify(err)
	var ae *arcgis.Error
	if errors.Is(err, ErrNeedsAuth) || errors.Is(err, errAfterSend) || !errors.As(err, &ae) {
		return nil, err
	}
	fails := failuresFromError(j, ae)
	refused := geodb.SyncApply{DeleteMeta: []string{JournalKey}, SetMeta: map[string]string{refusedKey: ae.Error()}}
	if _, derr := e.db.ApplySync(ctx, refused); derr != nil {
		return fails, derr
	}
	return fails, err
}

// answerFailures runs once the server has answered a batch: the
// StepAfterSend hook, then the edits and attachments the server refused
// and the change-log keys kept for them.
func (e *Engine) answerFailures(ctx context.Context, cfg *Config, j *journal, res *arcgis.SyncResult) ([]EditFailure, []geodb.ChangeKey, error) {
	if err := e.hook(ctx, StepAfterSend); err != nil {
		return nil, nil, err
	}
	failures, keep := e.editFailures(res, j)
	vf, vk, err := e.verifyAttachments(ctx, cfg, j, res)
	if err != nil {
		return nil, nil, classify(err)
	}
	return append(failures, vf...), append(keep, vk...), nil
}
