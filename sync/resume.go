package sync

import (
	"context"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// Resumed batches (issue 20, found by the fleet harness). A batch whose
// send was cut, or whose answer was lost, is sent again from its journal.
// Two things must hold before it goes: the edits reconcile found landed
// are acknowledged at once (else, if the server then refuses the rest of
// the batch as a whole, they come back in a fresh batch — an add fails as
// a duplicate — and a colleague's later change to them is taken for a
// conflict with an edit the server already has), and the server changes
// made since the batch was cut are downloaded first, as for a fresh batch,
// so that an update going up again over a colleague's newer one is seen
// and recorded as a conflict instead of overwriting it silently.

// journalKeys lists the change-log keys a journal sends.
func (e *Engine) journalKeys(j *journal) map[geodb.ChangeKey]bool {
	out := map[geodb.ChangeKey]bool{}
	add := func(table, gid string) {
		if g, ok := geodb.NormalizeGlobalID(gid); ok {
			out[geodb.ChangeKey{Table: table, GlobalID: g}] = true
		}
	}
	for _, le := range j.Edits {
		t := e.db.TableByID(le.ID)
		if t == nil {
			continue
		}
		for _, set := range [][]string{le.Adds, le.Updates, le.Deletes} {
			for _, g := range set {
				add(t.Name, g)
			}
		}
		if ac := le.Attachments; ac != nil && t.AttachTable != "" {
			for _, a := range append(append([]arcgis.AttachmentEdit(nil), ac.Adds...), ac.Updates...) {
				add(t.AttachTable, a.GlobalID)
			}
			for _, d := range ac.DeleteIDs {
				add(t.AttachTable, d)
			}
		}
	}
	return out
}

// ackLanded acknowledges the change-log rows (up to the batch's bound) of
// the edits in before that reconcile dropped from j because they landed.
func (e *Engine) ackLanded(ctx context.Context, j *journal, before map[geodb.ChangeKey]bool, p *pending) error {
	after := e.journalKeys(j)
	landed := 0
	for k := range before {
		if !after[k] {
			landed++
		}
	}
	if landed == 0 {
		return nil
	}
	var keep []geodb.ChangeKey
	for k := range p.Edits {
		if !before[k] || after[k] {
			keep = append(keep, k)
		}
	}
	_, err := e.db.ApplySync(ctx, geodb.SyncApply{AckThrough: j.UpTo, Keep: keep, KeepTables: j.KeepTables})
	return err
}

// downloadBeforeResend downloads the server changes a resumed batch has
// not seen (conflicts recorded, the policy decides) and drops from the
// batch the edits the download settled (a server delete that won, the
// server's version taken).
func (e *Engine) downloadBeforeResend(ctx context.Context, cfg *Config, j *journal, rep *Report) error {
	p, err := e.readPending(ctx, j.UpTo)
	if err != nil || !p.needsDownloadFirst(cfg, false) {
		return err
	}
	rep.DownloadFirstCall = true
	if err := e.downloadFirst(ctx, cfg, p, rep); err != nil {
		return classify(err)
	}
	if p, err = e.readPending(ctx, j.UpTo); err != nil {
		return err
	}
	still := func(table string, in []string) []string {
		var out []string
		for _, g := range in {
			n, _ := geodb.NormalizeGlobalID(g)
			if p.Edits[geodb.ChangeKey{Table: table, GlobalID: n}] != nil {
				out = append(out, g)
			}
		}
		return out
	}
	for i := range j.Edits {
		le := &j.Edits[i]
		t := e.db.TableByID(le.ID)
		if t == nil {
			continue
		}
		le.Adds, le.Updates, le.Deletes = still(t.Name, le.Adds), still(t.Name, le.Updates), still(t.Name, le.Deletes)
	}
	return saveJournal(ctx, e.db, j)
}
