package sync

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/offlined/offlined/internal/arcgis"
)

// PendingLayer is what the next sync sends for one layer.
type PendingLayer struct {
	Layer   int      `json:"layer"`
	Name    string   `json:"name"`
	Count   int      `json:"count"`
	Adds    []string `json:"adds"`
	Updates []string `json:"updates"`
	Deletes []string `json:"deletes"`
}

// PendingAttachment is one attachment edit the next sync sends; Size is
// the content's size in bytes (0 for deletes).
type PendingAttachment struct {
	Layer          int    `json:"layer"`
	Op             string `json:"op"` // add, update, delete
	GlobalID       string `json:"globalId"`
	ParentGlobalID string `json:"parentGlobalId,omitempty"`
	Name           string `json:"name,omitempty"`
	Size           int64  `json:"size"`
}

// Preview is what the next sync will send, computed from the change log
// without sending anything.
type Preview struct {
	// Interrupted: an earlier sync was cut; the next one finishes its batch
	// (listed here) first, then sends later edits.
	Interrupted   bool                `json:"interrupted"`
	SyncDirection string              `json:"syncDirection"`
	Edits         int                 `json:"edits"`
	Layers        []PendingLayer      `json:"layers"`
	Attachments   []PendingAttachment `json:"attachments"`
	// AttachmentBytes is the content the attachments upload.
	AttachmentBytes int64 `json:"attachmentBytes"`
	// NotSent counts pending change-log rows the direction settings keep
	// on the device (download-only layers, attachments not uploaded).
	NotSent int64 `json:"notSent"`
}

// Preview returns what the next sync will send. It only reads, so it does
// not wait for a running sync (whose batch it may then list as
// interrupted).
func (e *Engine) Preview(ctx context.Context) (*Preview, error) {
	c, err := LoadConfig(ctx, e.db)
	if err != nil {
		return nil, err
	}
	c = e.opts.Defaults.effective(c)
	cfg := c.withDefaults()
	out := &Preview{Layers: []PendingLayer{}, Attachments: []PendingAttachment{}, SyncDirection: userDirection(cfg.replicaDirection())}
	j, err := loadJournal(ctx, e.db)
	if err != nil {
		return nil, err
	}
	var p *pending
	if j != nil {
		out.Interrupted = true
	} else {
		upTo, err := e.db.LastChangeSeq(ctx)
		if err != nil {
			return nil, err
		}
		if p, err = e.readPending(ctx, upTo); err != nil {
			return nil, err
		}
		if cfg.Mode == ModeSnapshot {
			out.NotSent = int64(len(p.Order))
			return out, nil
		}
		if j, err = e.buildJournal(ctx, &cfg, p); err != nil {
			return nil, err
		}
		for _, k := range p.Order {
			if slices.Contains(j.KeepTables, k.Table) {
				out.NotSent++
			}
		}
	}
	for _, le := range j.Edits {
		pl := PendingLayer{Layer: le.ID, Count: le.count(), Adds: nz(le.Adds), Updates: nz(le.Updates), Deletes: nz(le.Deletes)}
		if t := e.db.TableByID(le.ID); t != nil {
			pl.Name = t.Layer.Name
		}
		if pl.Count > 0 {
			out.Layers = append(out.Layers, pl)
			out.Edits += pl.Count
		}
		if a := le.Attachments; a != nil {
			for op, list := range map[string][]string{"add": gidsOf(a.Adds), "update": gidsOf(a.Updates)} {
				for _, gid := range list {
					pa := PendingAttachment{Layer: le.ID, Op: op, GlobalID: gid}
					if u := j.Uploads[gid]; u != nil {
						pa.Name, pa.Size = u.Name, u.Size
					}
					if m, err := e.db.AttachmentByGlobalID(ctx, le.ID, gid); err == nil {
						pa.ParentGlobalID = m.ParentGlobalID
					}
					out.Attachments = append(out.Attachments, pa)
					out.AttachmentBytes += pa.Size
				}
			}
			for _, gid := range a.DeleteIDs {
				out.Attachments = append(out.Attachments, PendingAttachment{Layer: le.ID, Op: "delete", GlobalID: gid})
			}
		}
	}
	slices.SortFunc(out.Attachments, func(a, b PendingAttachment) int {
		return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Op, b.Op), cmp.Compare(a.GlobalID, b.GlobalID))
	})
	return out, nil
}

func nz(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func gidsOf(eds []arcgis.AttachmentEdit) []string {
	out := make([]string, 0, len(eds))
	for _, e := range eds {
		out = append(out, e.GlobalID)
	}
	return out
}

// PreviewServices returns the preview of each service of a map.
func PreviewServices(ctx context.Context, engs []ServiceEngine) (map[string]*Preview, error) {
	out := map[string]*Preview{}
	for _, se := range engs {
		p, err := se.Engine.Preview(ctx)
		if err != nil {
			return nil, fmt.Errorf("pending edits of %s: %w", se.Service, err)
		}
		out[se.Service] = p
	}
	return out, nil
}
