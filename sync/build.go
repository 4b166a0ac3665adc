package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// buildJournal turns the pending change log into the exact edits to send.
func (e *Engine) buildJournal(ctx context.Context, cfg *Config, p *pending) (*journal, error) {
	j := &journal{ID: geodb.NewGlobalID(), UpTo: p.UpTo, Phase: phasePrepared, Started: time.Now().UTC(), Uploads: map[string]*upload{}}
	j.KeepTables = append(j.KeepTables, p.Unknown...)
	held := e.heldFields(ctx, cfg)
	serverFields := e.serverFields(ctx)
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
	// Features: read current rows in chunks per layer.
	want := map[int][]string{}
	for _, k := range p.Order {
		pe := p.Edits[k]
		t := e.db.TableByID(pe.Layer)
		if t == nil {
			keepTable(pe.Table)
			continue
		}
		if !cfg.uploads(pe.Layer) {
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
			le := edits(pe.Layer)
			if le.Features == nil {
				le.Features = &featureEdits{}
			}
			le.Features.DeleteIDs = append(le.Features.DeleteIDs, pe.GlobalID)
		case "add", "update":
			want[pe.Layer] = append(want[pe.Layer], pe.GlobalID)
		}
	}
	for layer, gids := range want {
		t := e.db.TableByID(layer)
		le := edits(layer)
		if le.Features == nil {
			le.Features = &featureEdits{}
		}
		for i := 0; i < len(gids); i += 500 {
			chunk := gids[i:min(i+500, len(gids))]
			fs, err := e.db.Features(ctx, geodb.Query{LayerID: layer, GlobalIDs: chunk})
			if err != nil {
				return nil, fmt.Errorf("read edited features of layer %d: %w", layer, err)
			}
			for k := range fs {
				f := &fs[k]
				gid, _ := geodb.NormalizeGlobalID(fmt.Sprint(f.Attributes[t.GIDCol]))
				pe := p.Edits[geodb.ChangeKey{Table: t.Name, GlobalID: gid}]
				if pe == nil {
					continue
				}
				out := e.outgoing(ctx, cfg, t, f, pe, serverFields[layer], held[gid])
				if out == nil {
					continue
				}
				raw, err := json.Marshal(out)
				if err != nil {
					return nil, fmt.Errorf("encode feature %s: %w", gid, err)
				}
				if pe.op() == "add" {
					le.Features.Adds = append(le.Features.Adds, raw)
				} else {
					le.Features.Updates = append(le.Features.Updates, raw)
				}
			}
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
