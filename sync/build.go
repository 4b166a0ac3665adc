package sync

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// buildJournal turns the pending change log into the batch to send.
func (e *Engine) buildJournal(ctx context.Context, cfg *Config, p *pending) (*journal, error) {
	j := &journal{ID: geodb.NewGlobalID(), UpTo: p.UpTo, Phase: phasePrepared, Started: time.Now().UTC(), Uploads: map[string]*upload{}}
	j.KeepTables = append(j.KeepTables, p.Unknown...)
	byLayer := map[int]*layerEdits{}
	edits := func(id int) *layerEdits {
		le := byLayer[id]
		if le == nil {
			le = &layerEdits{ID: id}
			byLayer[id] = le
		}
		return le
	}
	keepTable := func(name string) {
		if !slices.Contains(j.KeepTables, name) {
			j.KeepTables = append(j.KeepTables, name)
		}
	}
	for _, k := range p.Order {
		pe := p.Edits[k]
		if e.db.TableByID(pe.Layer) == nil || !cfg.uploads(pe.Layer) {
			keepTable(pe.Table)
			continue
		}
		if pe.Attachment {
			if !cfg.attachmentsUp() {
				keepTable(pe.Table)
				continue
			}
			if err := e.addAttachmentEdit(ctx, cfg, j, edits(pe.Layer), pe); err != nil {
				return nil, err
			}
			continue
		}
		switch pe.op() {
		case "delete":
			edits(pe.Layer).Deletes = append(edits(pe.Layer).Deletes, pe.GlobalID)
		case "add":
			edits(pe.Layer).Adds = append(edits(pe.Layer).Adds, pe.GlobalID)
		case "update":
			edits(pe.Layer).Updates = append(edits(pe.Layer).Updates, pe.GlobalID)
		}
	}
	ids := make([]int, 0, len(byLayer))
	for id := range byLayer {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		j.Edits = append(j.Edits, *byLayer[id])
	}
	return j, nil
}

// eachOutgoing reads the features named by gids from the GeoPackage in
// chunks and calls fn with each one as it is sent (see outgoing). Features
// deleted since the batch was cut are skipped (their delete follows).
func (e *Engine) eachOutgoing(ctx context.Context, cfg *Config, p *pending, layer int, gids []string, fn func(gid string, f *arcgis.Feature) error) error {
	t := e.db.TableByID(layer)
	if t == nil {
		return nil
	}
	held := e.heldFields(ctx, cfg)
	server := e.serverFields(ctx)[layer]
	for i := 0; i < len(gids); i += 500 {
		chunk := gids[i:min(i+500, len(gids))]
		fs, err := e.db.Features(ctx, geodb.Query{LayerID: layer, GlobalIDs: chunk})
		if err != nil {
			return fmt.Errorf("read edited features of layer %d: %w", layer, err)
		}
		for k := range fs {
			gid := gidOfFeature(t, &fs[k])
			pe := p.Edits[geodb.ChangeKey{Table: t.Name, GlobalID: gid}]
			if pe == nil {
				pe = &pendingEdit{Layer: layer, Table: t.Name, GlobalID: gid, FirstOp: geodb.OpUpdate, LastOp: geodb.OpUpdate}
			}
			out := e.outgoing(ctx, cfg, t, &fs[k], pe, server, held[gid])
			if out == nil {
				continue
			}
			if err := fn(gid, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeEdits streams synchronizeReplica's edits array for the journal to w
// and returns how many features it wrote.
func (e *Engine) writeEdits(ctx context.Context, cfg *Config, j *journal, p *pending, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	n := 0
	bw.WriteString("[")
	for i, le := range j.Edits {
		if i > 0 {
			bw.WriteString(",")
		}
		fmt.Fprintf(bw, `{"id":%d,"features":{`, le.ID)
		for s, set := range []struct {
			name string
			gids []string
		}{{"adds", le.Adds}, {"updates", le.Updates}} {
			if s > 0 {
				bw.WriteString(",")
			}
			fmt.Fprintf(bw, `%q:[`, set.name)
			first := true
			err := e.eachOutgoing(ctx, cfg, p, le.ID, set.gids, func(_ string, f *arcgis.Feature) error {
				b, err := json.Marshal(f)
				if err != nil {
					return err
				}
				if !first {
					bw.WriteString(",")
				}
				first = false
				n++
				_, err = bw.Write(b)
				return err
			})
			if err != nil {
				return n, err
			}
			bw.WriteString("]")
		}
		dels, _ := json.Marshal(le.Deletes)
		if le.Deletes == nil {
			dels = []byte("[]")
		}
		n += len(le.Deletes)
		fmt.Fprintf(bw, `,"deleteIds":%s}`, dels)
		if le.Attachments != nil {
			b, err := json.Marshal(le.Attachments)
			if err != nil {
				return n, err
			}
			bw.WriteString(`,"attachments":`)
			bw.Write(b)
		}
		bw.WriteString("}")
	}
	bw.WriteString("]")
	return n, bw.Flush()
}

// outgoing is the feature as sent: the fields the server has (a field the
// server removed stays local and is no longer sent), editable ones only,
// OBJECTID dropped. Under FieldMerge an update carries only the fields
// changed locally and not held for review; nil means nothing to send.
func (e *Engine) outgoing(ctx context.Context, cfg *Config, t *geodb.Table, f *arcgis.Feature, pe *pendingEdit, server map[string]bool, held []string) *arcgis.Feature {
	out := &arcgis.Feature{Attributes: map[string]any{}, Geometry: f.Geometry}
	for k, v := range f.Attributes {
		c := t.Col(k)
		if c == nil {
			continue
		}
		if strings.EqualFold(k, t.GIDCol) {
			out.Attributes[t.GIDCol] = v
			continue
		}
		if strings.EqualFold(k, t.OIDCol) || !c.Field.IsEditable() {
			continue
		}
		if server != nil && !server[strings.ToLower(k)] {
			continue
		}
		out.Attributes[k] = v
	}
	if cfg.Policy != FieldMerge || pe.op() != "update" || pe.Base == nil {
		return out
	}
	cur, err := e.db.RowValues(ctx, t.LayerID, pe.GlobalID)
	if err != nil || cur == nil {
		return out
	}
	changed := false
	for k := range out.Attributes {
		if strings.EqualFold(k, t.GIDCol) {
			continue
		}
		if slices.Contains(held, k) || eqVal(t.EsriValue(k, cur[k]), t.EsriValue(k, pe.Base[k])) {
			delete(out.Attributes, k)
			continue
		}
		changed = true
	}
	if t.GeomCol != "" {
		if slices.Contains(held, t.GeomCol) || fmt.Sprint(cur[t.GeomCol]) == fmt.Sprint(pe.Base[t.GeomCol]) {
			out.Geometry = nil
		} else {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return out
}

// addAttachmentEdit adds one attachment change to le (content uploads are
// recorded in j.Uploads and done before sending).
func (e *Engine) addAttachmentEdit(ctx context.Context, cfg *Config, j *journal, le *layerEdits, pe *pendingEdit) error {
	if le.Attachments == nil {
		le.Attachments = &arcgis.SyncAttachmentChanges{}
	}
	switch pe.op() {
	case "":
		return nil
	case "delete":
		le.Attachments.DeleteIDs = append(le.Attachments.DeleteIDs, pe.GlobalID)
		return nil
	}
	m, err := e.db.AttachmentByGlobalID(ctx, pe.Layer, pe.GlobalID)
	if err != nil {
		return nil // deleted after the batch was cut: the delete follows
	}
	ed := arcgis.AttachmentEdit{GlobalID: m.GlobalID, ParentGlobalID: m.ParentGlobalID, ContentType: m.ContentType, Name: m.Name, Keywords: m.Keywords}
	j.Uploads[m.GlobalID] = &upload{Layer: pe.Layer, Name: m.Name, Size: m.Size, SHA256: m.SHA256, Chunked: m.Size > cfg.ChunkThreshold}
	if pe.op() == "add" {
		le.Attachments.Adds = append(le.Attachments.Adds, ed)
	} else {
		le.Attachments.Updates = append(le.Attachments.Updates, ed)
	}
	return nil
}

// serverFieldsKey stores, per layer, the field names the server's layer
// definition had at the last schema check.
const serverFieldsKey = "offlined_sync_server_fields"

func (e *Engine) serverFields(ctx context.Context) map[int]map[string]bool {
	out := map[int]map[string]bool{}
	v, ok, _ := e.db.Meta(ctx, serverFieldsKey)
	if !ok {
		return out
	}
	var m map[int][]string
	if json.Unmarshal([]byte(v), &m) != nil {
		return out
	}
	for id, names := range m {
		set := map[string]bool{}
		for _, n := range names {
			set[strings.ToLower(n)] = true
		}
		out[id] = set
	}
	return out
}

// checkSchema fetches each layer's definition: fields the server added are
// added locally (geodb Evolve); the server's field list is stored so that
// fields it removed are kept locally but no longer sent. A failure to reach
// the server is not an error here (the sync itself will report it).
func (e *Engine) checkSchema(ctx context.Context, cfg *Config, rep *Report) error {
	if cfg.ServiceURL == "" {
		return fmt.Errorf("sync config has no service URL")
	}
	names := map[int][]string{}
	for _, t := range e.db.Tables() {
		l, err := e.c.Layer(ctx, arcgis.LayerURL(cfg.ServiceURL, t.LayerID))
		if err != nil {
			if isAuthErr(err) {
				return err
			}
			e.log.Debug("schema check skipped", "layer", t.LayerID, "err", err)
			return nil
		}
		added := false
		for _, f := range l.Fields {
			names[t.LayerID] = append(names[t.LayerID], f.Name)
			if f.Type != arcgis.FieldGeometry && t.Col(f.Name) == nil {
				added = true
			}
		}
		if added {
			raw, _ := json.Marshal(l)
			if err := e.db.Evolve(ctx, l, raw); err != nil {
				return fmt.Errorf("evolve layer %d: %w", t.LayerID, err)
			}
			rep.SchemaChanged = append(rep.SchemaChanged, t.LayerID)
		}
	}
	b, _ := json.Marshal(names)
	if old, ok, _ := e.db.Meta(ctx, serverFieldsKey); ok && old == string(b) {
		return nil
	}
	return e.db.SetMeta(ctx, serverFieldsKey, string(b))
}

func isAuthErr(err error) bool { return arcgis.IsAuth(err) || arcgis.IsForbidden(err) }
