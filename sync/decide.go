package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/whereclause"
)

// Conflict resolutions recorded in offlined_conflicts.
const (
	ResolutionServer  = "server"  // the server's version stayed
	ResolutionDevice  = "device"  // the device's version stayed (and is sent)
	ResolutionMerged  = "merged"  // fields merged without overlap
	ResolutionPending = "pending" // overlapping fields held for review
)

// decider returns the per-conflict decision of the policy.
func (e *Engine) decider(ctx context.Context, cfg *Config, p *pending) func(table, gid string, localOp, serverOp geodb.Op, server *arcgis.Feature) geodb.SyncDecision {
	keep := geodb.SyncDecision{Apply: false, Resolution: ResolutionDevice}
	take := geodb.SyncDecision{Apply: true, DropLocal: true, Resolution: ResolutionServer}
	return func(table, gid string, localOp, serverOp geodb.Op, server *arcgis.Feature) geodb.SyncDecision {
		if serverOp == geodb.OpDelete && localOp == geodb.OpDelete {
			return take // deleted on both sides: nothing left to send
		}
		switch cfg.Policy {
		case ServerWins:
			return take
		case DeviceWins:
			if serverOp == geodb.OpDelete && localOp != geodb.OpDelete {
				// A deleted GlobalID cannot be added again (the server keeps
				// it), so the delete stands; the device's version is kept in
				// the conflict record for the user to restore as a new feature.
				return take
			}
			return keep
		case FieldMerge:
			if serverOp != geodb.OpDelete && localOp != geodb.OpDelete && server != nil {
				if pe := p.Edits[geodb.ChangeKey{Table: table, GlobalID: gid}]; pe != nil && pe.Base != nil && !pe.Attachment {
					return e.merge(ctx, pe, server)
				}
			}
		}
		// LastSyncWins: the device syncs after the server's edit, so its
		// row wins, except that a server delete cannot be updated.
		if serverOp == geodb.OpDelete && localOp != geodb.OpDelete {
			return take
		}
		return keep
	}
}

// merge is FieldMerge's three-way compare against the values before the
// first local edit.
func (e *Engine) merge(ctx context.Context, pe *pendingEdit, server *arcgis.Feature) geodb.SyncDecision {
	t := e.db.TableByID(pe.Layer)
	cur, err := e.db.RowValues(ctx, pe.Layer, pe.GlobalID)
	if err != nil || cur == nil || t == nil {
		return geodb.SyncDecision{Apply: false, Resolution: ResolutionDevice}
	}
	apply := &arcgis.Feature{Attributes: map[string]any{t.GIDCol: pe.GlobalID}}
	var held []string
	for k, sv := range server.Attributes {
		c := t.Col(k)
		if c == nil || strings.EqualFold(k, t.OIDCol) || strings.EqualFold(k, t.GIDCol) {
			continue
		}
		base, local := t.EsriValue(c.Name, pe.Base[c.Name]), t.EsriValue(c.Name, cur[c.Name])
		serverChanged, localChanged := !eqVal(sv, base), !eqVal(local, base)
		switch {
		case serverChanged && !localChanged:
			apply.Attributes[c.Name] = sv
		case serverChanged && localChanged && !eqVal(sv, local):
			if c.Field.IsEditable() {
				held = append(held, c.Name)
			} else {
				apply.Attributes[c.Name] = sv // server-maintained (editor tracking)
			}
		}
	}
	if t.GeomCol != "" && server.Geometry != nil {
		bh, lh, sh := fmt.Sprint(pe.Base[t.GeomCol]), fmt.Sprint(cur[t.GeomCol]), t.GeometryHex(server.Geometry)
		switch {
		case sh != bh && lh == bh:
			apply.Geometry = server.Geometry
		case sh != bh && lh != bh && sh != lh:
			held = append(held, t.GeomCol)
		}
	}
	d := geodb.SyncDecision{Apply: true, Feature: apply, Resolution: ResolutionMerged}
	if len(held) > 0 {
		d.Resolution, d.Fields = ResolutionPending, held
	}
	return d
}

// heldFields returns, per GlobalID, the fields held for review by pending
// conflicts (not sent until resolved).
func (e *Engine) heldFields(ctx context.Context, cfg *Config) map[string][]string {
	out := map[string][]string{}
	for _, c := range e.pendingConflicts(ctx) {
		var sv struct {
			HeldFields []string `json:"heldFields"`
		}
		_ = json.Unmarshal(c.ServerVersion, &sv)
		out[c.GlobalID] = append(out[c.GlobalID], sv.HeldFields...)
	}
	return out
}

// heldKeys keeps the change-log rows of features with fields held for
// review, so their base values survive until the conflict is resolved.
func (e *Engine) heldKeys(ctx context.Context, cfg *Config) []geodb.ChangeKey {
	var out []geodb.ChangeKey
	for _, c := range e.pendingConflicts(ctx) {
		out = append(out, geodb.ChangeKey{Table: c.Table, GlobalID: c.GlobalID})
	}
	return out
}

// pendingConflicts returns the conflicts held for review; none when they
// cannot be read (nothing is then held back).
func (e *Engine) pendingConflicts(ctx context.Context) []geodb.Conflict {
	cs, err := e.db.Conflicts(ctx)
	if err != nil {
		return nil
	}
	var out []geodb.Conflict
	for _, c := range cs {
		if c.Resolution == ResolutionPending {
			out = append(out, c)
		}
	}
	return out
}

// eqVal compares two Esri JSON attribute values as the where-clause dialect
// does (numbers by value).
func eqVal(a, b any) bool { return whereclause.Compare(a, b) == 0 }

// ResolveConflict settles a conflict held for review: choice
// ResolutionDevice sends the device's values of the held fields at the next
// sync; ResolutionServer writes the server's values locally.
func (e *Engine) ResolveConflict(ctx context.Context, id int64, choice string) error {
	cs, err := e.db.Conflicts(ctx)
	if err != nil {
		return err
	}
	for _, c := range cs {
		if c.ID != id {
			continue
		}
		switch choice {
		case ResolutionDevice:
		case ResolutionServer:
			t := e.db.Table(c.Table)
			if t == nil {
				return fmt.Errorf("resolve conflict %d: table %s: %w", id, c.Table, geodb.ErrNoLayer)
			}
			var sv struct {
				Attributes map[string]any   `json:"attributes"`
				Geometry   *arcgis.Geometry `json:"geometry"`
				HeldFields []string         `json:"heldFields"`
			}
			if err := json.Unmarshal(c.ServerVersion, &sv); err != nil || sv.Attributes == nil {
				return fmt.Errorf("resolve conflict %d: no server version to apply", id)
			}
			f := arcgis.Feature{Attributes: map[string]any{t.GIDCol: c.GlobalID}}
			for _, h := range sv.HeldFields {
				if strings.EqualFold(h, t.GeomCol) {
					f.Geometry = sv.Geometry
				} else {
					f.Attributes[h] = sv.Attributes[h]
				}
			}
			if err := e.db.WriteUnlogged(ctx, t.LayerID, f); err != nil {
				return fmt.Errorf("resolve conflict %d: %w", id, err)
			}
		default:
			return fmt.Errorf("resolve conflict %d: choice %q is not %q or %q", id, choice, ResolutionDevice, ResolutionServer)
		}
		return e.db.SetConflictResolution(ctx, id, choice)
	}
	return fmt.Errorf("resolve conflict %d: no such conflict", id)
}
