package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// ConflictPolicy decides what happens when a server change meets a feature
// with unsent local changes. Both versions are recorded either way.
type ConflictPolicy int

// Conflict policies.
const (
	// ServerWins applies the server version and drops the local pending
	// changes for that feature (ArcGIS' "last synchronized edit wins" for a
	// download that follows an upload).
	ServerWins ConflictPolicy = iota
	// DeviceWins keeps the local version and its pending changes.
	DeviceWins
)

// ServerAttachment is an attachment added or updated on the server.
type ServerAttachment struct {
	Meta AttachmentMeta
	Open func(ctx context.Context) (io.ReadCloser, error)
}

// LayerChanges are one layer's server changes.
type LayerChanges struct {
	LayerID           int
	Adds              []arcgis.Feature
	Updates           []arcgis.Feature
	Deletes           []string // GlobalIDs
	AttachmentAdds    []ServerAttachment
	AttachmentUpdates []ServerAttachment
	AttachmentDeletes []string // attachment GlobalIDs
}

// ServerChanges is one download applied atomically with its generations.
type ServerChanges struct {
	Layers           []LayerChanges
	ReplicaServerGen int64              // perReplica model; 0 = unchanged
	LayerServerGens  []arcgis.ServerGen // perLayer model
	// AckThrough clears change-log rows with seq <= AckThrough (the upload
	// the server acknowledged) in the same transaction; 0 clears none.
	AckThrough int64
	Policy     ConflictPolicy
}

// ApplyResult counts what ApplyServerChanges did.
type ApplyResult struct {
	Applied   int
	Conflicts int
	Skipped   int // server changes not applied (DeviceWins conflicts)
}

// Conflict is one recorded conflict.
type Conflict struct {
	ID            int64
	Table         string
	GlobalID      string
	LocalOp       Op
	ServerOp      Op
	LocalVersion  json.RawMessage // Esri JSON feature, or null when deleted locally
	ServerVersion json.RawMessage // Esri JSON feature, or null for a server delete
	Resolution    string          // "server" or "device"
	DetectedAt    string
}

// ApplyServerChanges applies server adds, updates and deletes (by GlobalID)
// and attachment changes, stores the new server generations and clears
// acknowledged change-log rows, all in one transaction with change logging
// suppressed. Features with pending local changes are conflicts: both
// versions go to offlined_conflicts and sc.Policy decides which stays.
func (db *DB) ApplyServerChanges(ctx context.Context, sc ServerChanges) (ApplyResult, error) {
	var res ApplyResult
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res = ApplyResult{}
		if err := suppress(ctx, tx, true); err != nil {
			return err
		}
		if sc.AckThrough > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM offlined_changes WHERE seq <= ?`, sc.AckThrough); err != nil {
				return err
			}
		}
		for _, lc := range sc.Layers {
			t, err := db.mustTable(lc.LayerID)
			if err != nil {
				return err
			}
			if err := applyLayer(ctx, tx, db, t, &lc, sc.Policy, &res); err != nil {
				return fmt.Errorf("layer %d: %w", lc.LayerID, err)
			}
			if err := updateExtent(ctx, tx, t); err != nil {
				return err
			}
		}
		if err := storeGensTx(ctx, tx, sc.ReplicaServerGen, sc.LayerServerGens); err != nil {
			return err
		}
		return suppress(ctx, tx, false)
	})
	if err != nil {
		return res, fmt.Errorf("apply server changes to %s: %w", db.path, err)
	}
	return res, nil
}

func applyLayer(ctx context.Context, tx *sql.Tx, db *DB, t *Table, lc *LayerChanges, pol ConflictPolicy, res *ApplyResult) error {
	// conflict checks for a feature GlobalID; returns whether to apply.
	check := func(table, gid string, serverOp Op, server any) (bool, error) {
		var localOp string
		err := tx.QueryRowContext(ctx, `SELECT op FROM offlined_changes WHERE table_name = ? AND globalid = ? ORDER BY seq DESC LIMIT 1`, table, gid).Scan(&localOp)
		if errors.Is(err, sql.ErrNoRows) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		res.Conflicts++
		var local []byte
		if table == t.Name {
			if f, err := rowFeature(ctx, tx, t, gid); err == nil && f != nil {
				local, _ = json.Marshal(f)
			}
		}
		sv, _ := json.Marshal(server)
		resolution := "server"
		if pol == DeviceWins {
			resolution = "device"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO offlined_conflicts (table_name, globalid, local_op, server_op, local_version, server_version, resolution) VALUES (?,?,?,?,?,?,?)`,
			table, gid, localOp, string(serverOp), nullStr(local), nullStr(sv), resolution); err != nil {
			return false, err
		}
		if pol == DeviceWins {
			res.Skipped++
			return false, nil
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM offlined_changes WHERE table_name = ? AND globalid = ?`, table, gid)
		return true, err
	}
	upsert := func(f *arcgis.Feature, op Op) error {
		gid, has, err := gidOf(t, f)
		if err != nil {
			return err
		}
		if !has {
			return &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrNull, Detail: "server feature without GlobalID"}
		}
		ok, err := check(t.Name, gid, op, f)
		if err != nil || !ok {
			return err
		}
		var cols []string
		var vals []any
		for k, v := range f.Attributes {
			c := t.Col(k)
			if c == nil || c.kind == kOID || c.kind == kGlobalID {
				continue // fields unknown locally are ignored until Evolve adds them
			}
			sv, err := toSQL(t, c, v, false)
			if err != nil {
				return err
			}
			cols, vals = append(cols, c.Name), append(vals, sv)
		}
		if t.GeomCol != "" && f.Geometry != nil {
			g, err := FromEsri(f.Geometry, t.HasZ, t.HasM)
			if err != nil {
				return &FieldError{Table: t.Name, Field: t.GeomCol, Reason: ErrType, Detail: err.Error()}
			}
			cols = append(cols, t.GeomCol)
			if b := EncodeBlob(g, t.SRSID); b != nil {
				vals = append(vals, b)
			} else {
				vals = append(vals, nil)
			}
		}
		var id int64
		err = tx.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?", qid(t.OIDCol), qid(t.Name), qid(t.GIDCol)), gid).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			cols, vals = append(cols, t.GIDCol), append(vals, gid)
			_, err = tx.ExecContext(ctx, insertSQL(t, cols, false), vals...)
		case err == nil && len(cols) > 0:
			sets := make([]string, len(cols))
			for i, c := range cols {
				sets[i] = qid(c) + " = ?"
			}
			_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?", qid(t.Name), strings.Join(sets, ", "), qid(t.OIDCol)), append(vals, id)...)
		}
		if err == nil {
			res.Applied++
		}
		return err
	}
	for i := range lc.Adds {
		if err := upsert(&lc.Adds[i], OpInsert); err != nil {
			return err
		}
	}
	for i := range lc.Updates {
		if err := upsert(&lc.Updates[i], OpUpdate); err != nil {
			return err
		}
	}
	for _, d := range lc.Deletes {
		gid, ok := NormalizeGlobalID(d)
		if !ok {
			return &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrType, Detail: fmt.Sprintf("%q is not a GUID", d)}
		}
		ok, err := check(t.Name, gid, OpDelete, nil)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := deleteTx(ctx, tx, t, gid); err != nil && !errors.Is(err, ErrNoFeature) {
			return err
		}
		res.Applied++
	}
	if t.AttachTable == "" {
		return nil
	}
	for _, set := range [][]ServerAttachment{lc.AttachmentAdds, lc.AttachmentUpdates} {
		for _, a := range set {
			m := a.Meta
			gid, ok1 := NormalizeGlobalID(m.GlobalID)
			pg, ok2 := NormalizeGlobalID(m.ParentGlobalID)
			if !ok1 || !ok2 {
				return fmt.Errorf("%w: attachment %q of %q", ErrBadAttachments, m.GlobalID, m.ParentGlobalID)
			}
			m.GlobalID, m.ParentGlobalID = gid, pg
			ok, err := check(t.AttachTable, gid, OpUpdate, m)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			rc, err := a.Open(ctx)
			if err != nil {
				return fmt.Errorf("attachment %s: %w", gid, err)
			}
			err = db.putAttachmentTx(ctx, tx, t, &m, rc)
			rc.Close()
			if err != nil {
				return fmt.Errorf("attachment %s: %w", gid, err)
			}
			res.Applied++
		}
	}
	for _, d := range lc.AttachmentDeletes {
		gid, _ := NormalizeGlobalID(d)
		ok, err := check(t.AttachTable, gid, OpDelete, nil)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE globalid = ?", qid(t.AttachTable)), gid); err != nil {
			return err
		}
		res.Applied++
	}
	return nil
}

func nullStr(b []byte) any {
	if b == nil || string(b) == "null" {
		return nil
	}
	return string(b)
}

// rowFeature reads one feature by GlobalID as Esri JSON (nil if absent).
func rowFeature(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, t *Table, gid string) (*arcgis.Feature, error) {
	cols := make([]string, 0, len(t.Cols)+1)
	for _, c := range t.Cols {
		cols = append(cols, qid(c.Name))
	}
	if t.GeomCol != "" {
		cols = append(cols, qid(t.GeomCol))
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?", strings.Join(cols, ", "), qid(t.Name), qid(t.GIDCol)), gid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	if !rows.Next() {
		return nil, rows.Err()
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	f := &arcgis.Feature{Attributes: map[string]any{}}
	for i := range t.Cols {
		f.Attributes[t.Cols[i].Name] = fromSQL(&t.Cols[i], vals[i])
	}
	if t.GeomCol != "" {
		if b, ok := vals[len(vals)-1].([]byte); ok {
			if g, _, err := DecodeBlob(b); err == nil {
				f.Geometry = ToEsri(g)
			}
		}
	}
	return f, nil
}

// Conflicts lists recorded conflicts, oldest first.
func (db *DB) Conflicts(ctx context.Context) ([]Conflict, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, table_name, globalid, local_op, server_op, local_version, server_version, resolution, detected_at FROM offlined_conflicts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		var c Conflict
		var lv, sv sql.NullString
		if err := rows.Scan(&c.ID, &c.Table, &c.GlobalID, &c.LocalOp, &c.ServerOp, &lv, &sv, &c.Resolution, &c.DetectedAt); err != nil {
			return nil, err
		}
		if lv.Valid {
			c.LocalVersion = json.RawMessage(lv.String)
		}
		if sv.Valid {
			c.ServerVersion = json.RawMessage(sv.String)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Feature reads one feature by GlobalID as Esri JSON; nil when absent.
func (db *DB) Feature(ctx context.Context, layerID int, globalID string) (*arcgis.Feature, error) {
	t, err := db.mustTable(layerID)
	if err != nil {
		return nil, err
	}
	gid, _ := NormalizeGlobalID(globalID)
	return rowFeature(ctx, db.r, t, gid)
}
