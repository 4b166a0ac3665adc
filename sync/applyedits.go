package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// runApplyEdits syncs a GeoPackage whose service has no Sync: edits go up
// with applyEdits (useGlobalIds, so client GlobalIDs are kept and a retried
// add cannot duplicate), journaled and reconciled like replica syncs; the
// download is a re-query of every layer.
func (e *Engine) runApplyEdits(ctx context.Context, cfg *Config, rep *Report) ([]EditFailure, error) {
	if err := e.refreshAfterRefusal(ctx, cfg, rep); err != nil {
		return nil, err
	}
	j, pend, err := e.prepareBatch(ctx, cfg, rep, "applyEdits", false)
	if err != nil {
		return nil, err
	}
	res := &arcgis.SyncResult{}
	if !j.empty() {
		var buf bytes.Buffer
		if _, err := e.writeEdits(ctx, cfg, j, pend, &buf); err != nil {
			return nil, fmt.Errorf("write edits: %w", err)
		}
		var sl []arcgis.SyncLayerEdits
		if err := json.Unmarshal(buf.Bytes(), &sl); err != nil {
			return nil, err
		}
		var edits []arcgis.LayerEdits
		for _, le := range sl {
			x := arcgis.LayerEdits{ID: le.ID}
			if fe := le.Features; fe != nil {
				x.Adds, x.Updates, x.Deletes = fe.Adds, fe.Updates, fe.DeleteIDs
			}
			if a := le.Attachments; a != nil && len(a.Adds)+len(a.Updates)+len(a.DeleteIDs) > 0 {
				x.Attachments = &arcgis.ApplyAttachmentEdits{Adds: a.Adds, Updates: a.Updates, Deletes: a.DeleteIDs}
			}
			edits = append(edits, x)
		}
		rb := cfg.rollback()
		out, err := e.c.ApplyServiceEdits(ctx, cfg.ServiceURL, edits, true, &rb)
		if err != nil {
			return e.sendFailed(ctx, j, fmt.Errorf("applyEdits %s: %w", cfg.ServiceURL, err))
		}
		for _, l := range out {
			res.Edits = append(res.Edits, arcgis.SyncLayerResult{ID: l.ID, AddResults: l.AddResults, UpdateResults: l.UpdateResults,
				DeleteResults: l.DeleteResults, Attachments: l.Attachments})
		}
	}
	failures, keep, err := e.answerFailures(ctx, cfg, j, res)
	if err != nil {
		return nil, err
	}
	keep = append(keep, j.Skipped...)
	rep.Failed = len(failures)
	// Acknowledge the upload and drop the journal in one transaction, then
	// refresh by query.
	if _, err := e.db.ApplySync(ctx, geodb.SyncApply{AckThrough: j.UpTo, Keep: keep, KeepTables: j.KeepTables, DeleteMeta: []string{JournalKey}}); err != nil {
		return failures, err
	}
	rep.AckedThrough = j.UpTo
	if err := e.refreshSnapshot(ctx, cfg, rep); err != nil {
		return failures, classify(err)
	}
	return failures, nil
}

// refreshAfterRefusal re-queries the layers before a new batch when the
// server refused the last one as a whole: a refused applyEdits downloads
// nothing, so without it a batch refused for a server change the device
// has not seen (a photo on a feature a colleague deleted) would be sent
// again, and refused, at every sync.
func (e *Engine) refreshAfterRefusal(ctx context.Context, cfg *Config, rep *Report) error {
	_, refused, err := e.db.Meta(ctx, refusedKey)
	if err != nil || !refused {
		return err
	}
	if j, err := loadJournal(ctx, e.db); err != nil || j != nil {
		return err
	}
	if err := e.refreshSnapshot(ctx, cfg, rep); err != nil {
		return classify(err)
	}
	_, err = e.db.ApplySync(ctx, geodb.SyncApply{DeleteMeta: []string{refusedKey}})
	return err
}

// baseFeature turns change-log base values into a feature for comparison.
func baseFeature(t *geodb.Table, base map[string]any) *arcgis.Feature {
	f := &arcgis.Feature{Attributes: map[string]any{}}
	for k, v := range base {
		f.Attributes[k] = t.EsriValue(k, v)
	}
	return f
}
