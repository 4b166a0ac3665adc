package sync

import (
	"context"
	"encoding/json"

	"github.com/offlined/offlined/geodb"
)

// pendingEdit is the net local change of one feature or attachment in the
// change log up to a sequence number.
type pendingEdit struct {
	Layer      int
	Table      string
	GlobalID   string
	Attachment bool
	FirstOp    geodb.Op
	LastOp     geodb.Op
	Base       map[string]any // values before the first update/delete
}

// op returns the net operation: "add", "update", "delete" or "" (added
// then deleted: nothing to send).
func (p *pendingEdit) op() string {
	switch {
	case p.FirstOp == geodb.OpInsert && p.LastOp == geodb.OpDelete:
		return ""
	case p.LastOp == geodb.OpDelete:
		return "delete"
	case p.FirstOp == geodb.OpInsert:
		return "add"
	}
	return "update"
}

// pending is the change log up to UpTo grouped by feature, in first-change
// order.
type pending struct {
	UpTo  int64
	Order []geodb.ChangeKey
	Edits map[geodb.ChangeKey]*pendingEdit
	// Unknown lists tables of rows that belong to no layer (kept).
	Unknown []string
}

// attachLayers maps media table names to layer ids.
func (e *Engine) attachLayers() map[string]int {
	m := map[string]int{}
	for _, t := range e.db.Tables() {
		if t.AttachTable != "" {
			m[t.AttachTable] = t.LayerID
		}
	}
	return m
}

func (e *Engine) readPending(ctx context.Context, upTo int64) (*pending, error) {
	p := &pending{UpTo: upTo, Edits: map[geodb.ChangeKey]*pendingEdit{}}
	att := e.attachLayers()
	unknown := map[string]bool{}
	names := map[string]string{} // one copy of each table name
	after := int64(0)
	for {
		cs, err := e.db.Changes(ctx, after, 5000)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c.Seq > upTo {
				return p, nil
			}
			after = c.Seq
			if n, ok := names[c.Table]; ok {
				c.Table = n
			} else {
				names[c.Table] = c.Table
			}
			k := geodb.ChangeKey{Table: c.Table, GlobalID: c.GlobalID}
			pe := p.Edits[k]
			if pe == nil {
				layer, isAtt := c.LayerID, false
				if l, ok := att[c.Table]; ok {
					layer, isAtt = l, true
				}
				if layer < 0 {
					if !unknown[c.Table] {
						unknown[c.Table] = true
						p.Unknown = append(p.Unknown, c.Table)
					}
					continue
				}
				pe = &pendingEdit{Layer: layer, Table: c.Table, GlobalID: c.GlobalID, Attachment: isAtt, FirstOp: c.Op}
				if len(c.OldValues) > 0 {
					_ = json.Unmarshal(c.OldValues, &pe.Base)
				}
				p.Edits[k] = pe
				p.Order = append(p.Order, k)
			}
			pe.LastOp = c.Op
		}
		if len(cs) < 5000 {
			return p, nil
		}
	}
}

// needsDownloadFirst reports whether some pending update or delete could
// meet a server change (its layer both uploads and downloads). After the
// server refused the previous batch (afterRefusal) any pending edit of
// such a layer asks for it: the refused call downloaded nothing, and what
// made it fail is a server change the device has not seen (a photo or an
// add whose parent feature a colleague deleted), so sending the same
// batch again without downloading first would be refused for ever.
func (p *pending) needsDownloadFirst(cfg *Config, afterRefusal bool) bool {
	for _, pe := range p.Edits {
		op := pe.op()
		if (afterRefusal && op != "" || op == "update" || op == "delete") && cfg.uploads(pe.Layer) && cfg.downloads(pe.Layer) {
			return true
		}
	}
	return false
}
