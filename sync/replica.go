package sync

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// prepareBatch brings the journal to "sent": it reconciles a batch an
// interrupted attempt may have delivered (what names it in errors), or cuts
// and journals a new batch (after a download-first call when downloadFirst
// allows it), uploads its attachments and drops deletes the server no
// longer has. The caller sends the edits next.
func (e *Engine) prepareBatch(ctx context.Context, cfg *Config, rep *Report, what string, downloadFirst bool) (*journal, *pending, error) {
	j, err := loadJournal(ctx, e.db)
	if err != nil {
		return nil, nil, err
	}
	if j != nil && j.Phase == phaseSent {
		// The previous attempt may have reached the server: ask what landed.
		rep.Recovered = true
		rp, err := e.readPending(ctx, j.UpTo)
		if err != nil {
			return nil, nil, err
		}
		before := e.journalKeys(j)
		n, err := e.reconcile(ctx, cfg, j, rp)
		if err != nil {
			return nil, nil, classify(fmt.Errorf("reconcile interrupted %s: %w", what, err))
		}
		rep.ReplayedLanded = n
		j.Phase = phasePrepared
		if err := saveJournal(ctx, e.db, j); err != nil {
			return nil, nil, err
		}
		if err := e.ackLanded(ctx, j, before, rp); err != nil {
			return nil, nil, err
		}
	}
	if j != nil && downloadFirst {
		if err := e.downloadBeforeResend(ctx, cfg, j, rep); err != nil {
			return nil, nil, err
		}
	}
	var pend *pending
	rep.resumed = j != nil
	if j == nil {
		upTo, err := e.db.LastChangeSeq(ctx)
		if err != nil {
			return nil, nil, err
		}
		if pend, err = e.readPending(ctx, upTo); err != nil {
			return nil, nil, err
		}
		_, refused, err := e.db.Meta(ctx, refusedKey)
		if err != nil {
			return nil, nil, err
		}
		if downloadFirst && pend.needsDownloadFirst(cfg, refused) {
			rep.DownloadFirstCall = true
			if err := e.downloadFirst(ctx, cfg, pend, rep); err != nil {
				return nil, nil, classify(err)
			}
			if pend, err = e.readPending(ctx, upTo); err != nil {
				return nil, nil, err
			}
		}
		if j, err = e.buildJournal(ctx, cfg, pend); err != nil {
			return nil, nil, err
		}
		if err := saveJournal(ctx, e.db, j); err != nil {
			return nil, nil, err
		}
	}
	if pend == nil {
		if pend, err = e.readPending(ctx, j.UpTo); err != nil {
			return nil, nil, err
		}
	}
	if err := e.hook(ctx, StepBeforeUpload); err != nil {
		return nil, nil, err
	}
	if err := e.uploadAttachments(ctx, cfg, j, rep); err != nil {
		return nil, nil, classify(err)
	}
	if err := e.dropGoneDeletes(ctx, cfg, j); err != nil {
		return nil, nil, classify(err)
	}
	j.Phase = phaseSent
	j.Attempts++
	if err := saveJournal(ctx, e.db, j); err != nil {
		return nil, nil, err
	}
	return j, pend, nil
}

// runReplica is one synchronizeReplica sync: recover or build the journal,
// upload attachments, send, apply.
func (e *Engine) runReplica(ctx context.Context, cfg *Config, rep *Report) ([]EditFailure, error) {
	j, pend, err := e.prepareBatch(ctx, cfg, rep, "sync", true)
	if err != nil {
		return nil, err
	}
	ans, err := e.synchronize(ctx, cfg, j, pend, false)
	if err != nil {
		return e.sendFailed(ctx, j, err)
	}
	defer ans.Close()
	res := ans.Result
	failures, keep, err := e.answerFailures(ctx, cfg, j, res)
	if err != nil {
		return nil, err
	}
	keep = append(keep, e.heldKeys(ctx, cfg)...)
	keep = append(keep, j.Skipped...)
	rep.Failed = len(failures)
	for _, le := range j.Edits {
		rep.Uploaded += le.count()
	}
	if err := e.hook(ctx, StepBeforeApply); err != nil {
		return nil, err
	}
	ar, err := e.db.ApplySync(ctx, geodb.SyncApply{
		Stream: e.applyFunc(cfg, ans, rep), ReplicaServerGen: res.ReplicaServerGen, LayerServerGens: res.LayerServerGens,
		AckThrough: j.UpTo, Keep: keep, KeepTables: j.KeepTables,
		Decide:     e.decider(ctx, cfg, pend),
		DeleteMeta: []string{JournalKey, refusedKey},
	})
	if err != nil {
		return failures, err
	}
	rep.Conflicts += ar.Conflicts
	rep.AckedThrough = j.UpTo
	return failures, e.hook(ctx, StepAfterApply)
}

// synchronize calls synchronizeReplica with the stored generations (always
// explicit, so a download lost with an answer is sent again) and waits for
// async jobs.
func (e *Engine) synchronize(ctx context.Context, cfg *Config, j *journal, pend *pending, downloadOnly bool) (*answer, error) {
	gen, gens, err := e.db.ServerGens(ctx)
	if err != nil {
		return nil, err
	}
	rb := cfg.rollback()
	p := arcgis.SyncReplicaParams{ReplicaID: cfg.ReplicaID, RollbackOnFailure: &rb, Async: cfg.Async,
		DataFormat: "json", ReturnAttachmentsDataByURL: arcgis.Bool(true)}
	if cfg.Embedded && !cfg.Async {
		p.TransportType = arcgis.TransportEmbedded
	}
	if j != nil && !j.empty() {
		// The edits are streamed from the GeoPackage into a file next to it:
		// sent inline when small, else uploaded and named by editsUploadID
		// (servers bound the size of a form body).
		f, err := os.CreateTemp(dirOf(e.db.Path()), ".offlined-edits-*.json")
		if err != nil {
			return nil, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := e.writeEdits(ctx, cfg, j, pend, f); err != nil {
			return nil, fmt.Errorf("write edits: %w", err)
		}
		size, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, err
		}
		if size <= cfg.EditsInlineMax {
			raw, err := io.ReadAll(f)
			if err != nil {
				return nil, err
			}
			p.EditsRaw = raw
		} else {
			it, err := e.c.Upload(ctx, cfg.ServiceURL, "offlined-edits.json", f, "offlined sync edits")
			if err != nil {
				return nil, fmt.Errorf("upload edits (%d bytes): %w", size, err)
			}
			p.EditsUploadID, p.EditsUploadFormat = it.ItemID, "json"
		}
	}
	if cfg.SyncModel == arcgis.SyncModelPerLayer {
		byID := map[int]int64{}
		for _, g := range gens {
			byID[g.ID] = g.ServerGen
		}
		for _, t := range e.db.Tables() {
			dir := cfg.direction(t.LayerID)
			if downloadOnly {
				if !cfg.downloads(t.LayerID) {
					continue
				}
				dir = arcgis.SyncDownload
			}
			p.SyncLayers = append(p.SyncLayers, arcgis.SyncLayer{ID: t.LayerID, ServerGen: byID[t.LayerID], SyncDirection: dir})
		}
	} else {
		p.ReplicaServerGen = &gen
		var ids []int
		for _, t := range e.db.Tables() {
			ids = append(ids, t.LayerID)
		}
		p.SyncDirection = cfg.wireDirection(ids)
		if downloadOnly {
			p.SyncDirection = arcgis.SyncDownload
		}
	}
	res, err := e.c.SynchronizeReplica(ctx, cfg.ServiceURL, p)
	if err != nil {
		return nil, fmt.Errorf("synchronizeReplica %s: %w", cfg.ServiceURL, err)
	}
	// From here on the server has the edits (or may have them): a failure
	// is ambiguous even when it carries an ArcGIS error body.
	switch {
	case res.StatusURL != "":
		st, err := e.c.WaitReplicaJob(ctx, res.StatusURL, e.opts.PollInterval, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: synchronizeReplica job %s: %w", errAfterSend, res.StatusURL, err)
		}
		a, err := e.spool(ctx, st.ResultURL, &arcgis.SyncResult{ReplicaServerGen: st.ReplicaServerGen, LayerServerGens: st.LayerServerGens})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errAfterSend, err)
		}
		return a, nil
	case res.ResultURL != "":
		a, err := e.spool(ctx, res.ResultURL, res)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errAfterSend, err)
		}
		return a, nil
	}
	return &answer{Result: res}, nil
}

// downloadFirst downloads server changes before an upload so that server
// edits to locally edited features are seen (and recorded) as conflicts.
func (e *Engine) downloadFirst(ctx context.Context, cfg *Config, pend *pending, rep *Report) error {
	ans, err := e.synchronize(ctx, cfg, nil, nil, true)
	if err != nil {
		return err
	}
	defer ans.Close()
	res := ans.Result
	ar, err := e.db.ApplySync(ctx, geodb.SyncApply{ReplicaServerGen: res.ReplicaServerGen, LayerServerGens: res.LayerServerGens,
		Stream: e.applyFunc(cfg, ans, rep), Decide: e.decider(ctx, cfg, pend), DeleteMeta: []string{refusedKey}})
	rep.Conflicts += ar.Conflicts
	return err
}

// toLayerChanges turns the downloaded part of a sync answer into geodb
// changes (attachments only when they sync both ways).
func (e *Engine) toLayerChanges(cfg *Config, res *arcgis.SyncResult) []geodb.LayerChanges {
	var out []geodb.LayerChanges
	for _, l := range res.Edits {
		t := e.db.TableByID(l.ID)
		if t == nil || !cfg.downloads(l.ID) {
			continue
		}
		lc := geodb.LayerChanges{LayerID: l.ID}
		if l.Features != nil {
			lc.Adds, lc.Updates = l.Features.Adds, l.Features.Updates
			for _, d := range l.Features.DeleteIDs {
				lc.Deletes = append(lc.Deletes, fmt.Sprint(d))
			}
		}
		if a := l.AttachmentChanges; a != nil && t.AttachTable != "" && cfg.AttachmentsSyncDirection == "bidirectional" {
			conv := func(in []arcgis.AttachmentEdit) []geodb.ServerAttachment {
				var out []geodb.ServerAttachment
				for _, x := range in {
					x := x
					out = append(out, geodb.ServerAttachment{
						Meta: geodb.AttachmentMeta{GlobalID: x.GlobalID, ParentGlobalID: x.ParentGlobalID, Name: x.Name, ContentType: x.ContentType, Keywords: x.Keywords},
						Open: func(ctx context.Context) (io.ReadCloser, error) {
							if x.Data != "" {
								return io.NopCloser(base64.NewDecoder(base64.StdEncoding, strings.NewReader(x.Data))), nil
							}
							return e.c.Download(ctx, x.URL)
						},
					})
				}
				return out
			}
			lc.AttachmentAdds, lc.AttachmentUpdates, lc.AttachmentDeletes = conv(a.Adds), conv(a.Updates), a.DeleteIDs
		}
		out = append(out, lc)
	}
	return out
}
