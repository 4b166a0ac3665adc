package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// uploadAttachments uploads the content of every attachment add/update in
// the journal that is not uploaded yet: small files in one request, large
// ones with register + uploadPart + commit, resuming after the parts the
// journal records. The content streams from the GeoPackage; memory holds
// one part at most. Each step is journaled.
func (e *Engine) uploadAttachments(ctx context.Context, cfg *Config, j *journal, rep *Report) error {
	for i := range j.Edits {
		le := &j.Edits[i]
		if le.Attachments == nil {
			continue
		}
		for _, set := range []*[]arcgis.AttachmentEdit{&le.Attachments.Adds, &le.Attachments.Updates} {
			kept := (*set)[:0]
			for k := range *set {
				a := (*set)[k]
				u := j.Uploads[a.GlobalID]
				if u == nil {
					kept = append(kept, a)
					continue
				}
				if !u.Done {
					err := e.uploadOne(ctx, cfg, j, a.GlobalID, u)
					if errors.Is(err, geodb.ErrNoAttachment) {
						// deleted locally since the batch was cut: its
						// delete goes up with the next batch
						delete(j.Uploads, a.GlobalID)
						if t := e.db.TableByID(u.Layer); t != nil {
							j.Skipped = append(j.Skipped, geodb.ChangeKey{Table: t.AttachTable, GlobalID: a.GlobalID})
						}
						continue
					}
					if err != nil {
						return fmt.Errorf("upload attachment %s (%s, %d bytes): %w", a.GlobalID, u.Name, u.Size, err)
					}
					rep.AttachmentsSent++
					if u.Chunked {
						rep.ChunkedUploads++
					}
				}
				a.UploadID = u.ItemID
				kept = append(kept, a)
			}
			*set = kept
		}
	}
	return saveJournal(ctx, e.db, j)
}

func (e *Engine) uploadOne(ctx context.Context, cfg *Config, j *journal, gid string, u *upload) error {
	if !u.Chunked {
		var buf bytes.Buffer
		if _, err := e.db.ReadAttachment(ctx, u.Layer, gid, &buf); err != nil {
			return err
		}
		it, err := e.c.Upload(ctx, cfg.ServiceURL, u.Name, bytes.NewReader(buf.Bytes()), "offlined attachment "+gid)
		if err != nil {
			return err
		}
		u.ItemID, u.Done = it.ItemID, true
		return saveJournal(ctx, e.db, j)
	}
	if u.ItemID == "" {
		it, err := e.c.RegisterUpload(ctx, cfg.ServiceURL, u.Name, "offlined attachment "+gid)
		if err != nil {
			return err
		}
		u.ItemID, u.Parts = it.ItemID, nil
		if err := saveJournal(ctx, e.db, j); err != nil {
			return err
		}
	}
	pw := &partWriter{ctx: ctx, e: e, cfg: cfg, j: j, u: u, buf: make([]byte, 0, cfg.PartSize), h: sha256.New()}
	if _, err := e.db.ReadAttachment(ctx, u.Layer, gid, pw); err != nil {
		if pw.err != nil {
			return pw.err
		}
		return err
	}
	if err := pw.flush(); err != nil {
		return err
	}
	if got := hex.EncodeToString(pw.h.Sum(nil)); u.SHA256 != "" && got != u.SHA256 {
		return fmt.Errorf("local content hash %s, recorded %s: %w", got, u.SHA256, geodb.ErrChecksum)
	}
	if _, err := e.c.CommitUpload(ctx, cfg.ServiceURL, u.ItemID, pw.all); err != nil {
		return err
	}
	u.Done = true
	return saveJournal(ctx, e.db, j)
}

// partWriter cuts the attachment stream into parts and uploads each part
// the journal does not record yet.
type partWriter struct {
	ctx  context.Context
	e    *Engine
	cfg  *Config
	j    *journal
	u    *upload
	buf  []byte
	part int
	all  []int
	h    interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	}
	err error
}

func (p *partWriter) Write(b []byte) (int, error) {
	n := len(b)
	p.h.Write(b)
	for len(b) > 0 {
		room := p.cfg.PartSize - len(p.buf)
		take := min(room, len(b))
		p.buf = append(p.buf, b[:take]...)
		b = b[take:]
		if len(p.buf) == p.cfg.PartSize {
			if err := p.flush(); err != nil {
				p.err = err
				return 0, err
			}
		}
	}
	return n, nil
}

func (p *partWriter) flush() error {
	if len(p.buf) == 0 {
		return nil
	}
	p.part++
	p.all = append(p.all, p.part)
	defer func() { p.buf = p.buf[:0] }()
	if slices.Contains(p.u.Parts, p.part) {
		return nil // uploaded before an interruption
	}
	if err := p.e.c.UploadPart(p.ctx, p.cfg.ServiceURL, p.u.ItemID, p.part, bytes.NewReader(p.buf)); err != nil {
		return fmt.Errorf("part %d: %w", p.part, err)
	}
	p.u.Parts = append(p.u.Parts, p.part)
	return saveJournal(p.ctx, p.e.db, p.j)
}

// verifyAttachments checks every attachment this sync uploaded against the
// server: present with the same size and, unless disabled, the same
// SHA-256. Failures keep the attachment's change-log rows (it is sent
// again) and are reported.
func (e *Engine) verifyAttachments(ctx context.Context, cfg *Config, j *journal, res *arcgis.SyncResult) ([]EditFailure, []geodb.ChangeKey, error) {
	var fails []EditFailure
	var keep []geodb.ChangeKey
	for _, le := range j.Edits {
		ac := le.Attachments
		if ac == nil || len(ac.Adds)+len(ac.Updates) == 0 {
			continue
		}
		t := e.db.TableByID(le.ID)
		lurl := arcgis.LayerURL(cfg.ServiceURL, le.ID)
		present, err := e.serverAttachments(ctx, lurl, &arcgis.SyncAttachmentChanges{Adds: ac.Adds, Updates: ac.Updates})
		if err != nil {
			return nil, nil, err
		}
		for _, set := range [][]arcgis.AttachmentEdit{ac.Adds, ac.Updates} {
			for _, a := range set {
				g, _ := geodb.NormalizeGlobalID(a.GlobalID)
				u := j.Uploads[g]
				if u == nil {
					continue
				}
				info, ok := present[g]
				why := ""
				switch {
				case !ok:
					why = "attachment not on the server after sync"
				case info.Size != u.Size:
					why = fmt.Sprintf("server size %d, local size %d", info.Size, u.Size)
				case cfg.verifyHash() && u.SHA256 != "":
					sum, err := e.serverHash(ctx, lurl, info)
					if err != nil {
						return nil, nil, err
					}
					if sum != u.SHA256 {
						why = fmt.Sprintf("server SHA-256 %s, local %s", sum, u.SHA256)
					}
				}
				if why != "" {
					fails = append(fails, EditFailure{Layer: le.ID, GlobalID: g, Op: "verify", Attachment: true, Description: why, At: time.Now().UTC()})
					keep = append(keep, geodb.ChangeKey{Table: t.AttachTable, GlobalID: g})
				}
			}
		}
	}
	return fails, keep, nil
}

func (e *Engine) serverHash(ctx context.Context, layerURL string, info arcgis.AttachmentInfo) (string, error) {
	rc, _, err := e.c.AttachmentData(ctx, layerURL, info.ParentObjectID, info.ID)
	if err != nil {
		return "", fmt.Errorf("download attachment %s to verify: %w", info.GlobalID, err)
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("download attachment %s to verify: %w", info.GlobalID, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
