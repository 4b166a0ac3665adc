package geodb

// Additions for the sync engine (package sync): one-transaction application
// of a synchronizeReplica answer with per-feature conflict decisions,
// selective acknowledgement of change-log rows and journal bookkeeping in
// gpkgext_offlined_meta.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// ChangeKey names the change-log rows of one feature or attachment.
type ChangeKey struct {
	Table    string
	GlobalID string
}

// SyncDecision is what ApplySync does with a server change that meets a
// feature (or attachment) with pending local changes.
type SyncDecision struct {
	// Apply applies the server change (or Feature, when set).
	Apply bool
	// Feature replaces the server's version when applying (a partial update
	// for field merges). Ignored for deletes.
	Feature *arcgis.Feature
	// DropLocal deletes the feature's pending change-log rows.
	DropLocal bool
	// Resolution is recorded in gpkgext_offlined_conflicts ("server", "device",
	// "merged", "pending", …).
	Resolution string
	// Fields lists the fields the conflict is about (recorded in the
	// conflict row's server_version under "heldFields" when set).
	Fields []string
}

// SyncApply is one download applied with ApplySync.
type SyncApply struct {
	Layers           []LayerChanges
	ReplicaServerGen int64
	LayerServerGens  []arcgis.ServerGen
	// AckThrough clears change-log rows with seq <= AckThrough except the
	// rows of the features in Keep.
	AckThrough int64
	Keep       []ChangeKey
	// KeepTables keeps every acknowledged row of these tables (layers whose
	// edits were not uploaded).
	KeepTables []string
	// Decide is called for every server change touching a feature with
	// pending local changes (after the acknowledgement). nil means
	// ServerWins.
	Decide func(table, globalID string, localOp, serverOp Op, server *arcgis.Feature) SyncDecision
	// Stream, when set, is called inside the transaction after Layers with
	// a function that applies one more chunk of changes; large downloads
	// are applied chunk by chunk without being held in memory.
	Stream func(ctx context.Context, apply func(LayerChanges) error) error
	// SetMeta and DeleteMeta change gpkgext_offlined_meta in the same transaction.
	SetMeta    map[string]string
	DeleteMeta []string
}

// stmts caches prepared statements for one transaction (the SQL of a
// table's upserts repeats for every feature).
type stmts struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func (c *stmts) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (c *stmts) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := c.get(ctx, q)
	if err != nil {
		return c.tx.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (c *stmts) get(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.m[q]; ok {
		return st, nil
	}
	st, err := c.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(c.m) > 256 {
		for k, old := range c.m {
			old.Close()
			delete(c.m, k)
		}
	}
	c.m[q] = st
	return st, nil
}

// ApplySync applies server changes, acknowledges uploaded change-log rows,
// stores the new generations and updates gpkgext_offlined_meta, all in one
// transaction with change logging suppressed.
func (db *DB) ApplySync(ctx context.Context, a SyncApply) (ApplyResult, error) {
	var res ApplyResult
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res = ApplyResult{}
		sc := &stmts{tx: tx, m: map[string]*sql.Stmt{}}
		if err := suppress(ctx, tx, true); err != nil {
			return err
		}
		if a.AckThrough > 0 {
			if err := ackKeeping(ctx, tx, a.AckThrough, a.Keep, a.KeepTables); err != nil {
				return fmt.Errorf("acknowledge changes: %w", err)
			}
		}
		for i := range a.Layers {
			lc := &a.Layers[i]
			t, err := db.mustTable(lc.LayerID)
			if err != nil {
				return err
			}
			if err := syncApplyLayer(ctx, tx, sc, db, t, lc, a.Decide, &res); err != nil {
				return fmt.Errorf("layer %d: %w", lc.LayerID, err)
			}
			if err := updateExtent(ctx, tx, t); err != nil {
				return err
			}
		}
		if a.Stream != nil {
			touched := map[int]*Table{}
			err := a.Stream(ctx, func(lc LayerChanges) error {
				t, err := db.mustTable(lc.LayerID)
				if err != nil {
					return err
				}
				touched[t.LayerID] = t
				if err := syncApplyLayer(ctx, tx, sc, db, t, &lc, a.Decide, &res); err != nil {
					return fmt.Errorf("layer %d: %w", lc.LayerID, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			for _, t := range touched {
				if err := updateExtent(ctx, tx, t); err != nil {
					return err
				}
			}
		}
		if err := storeGensTx(ctx, tx, a.ReplicaServerGen, a.LayerServerGens); err != nil {
			return err
		}
		for k, v := range a.SetMeta {
			if err := setMetaTx(ctx, tx, k, v); err != nil {
				return err
			}
		}
		for _, k := range a.DeleteMeta {
			if _, err := tx.ExecContext(ctx, `DELETE FROM gpkgext_offlined_meta WHERE key = ?`, k); err != nil {
				return err
			}
		}
		return suppress(ctx, tx, false)
	})
	if err != nil {
		return res, fmt.Errorf("apply sync to %s: %w", db.path, err)
	}
	return res, nil
}

func ackKeeping(ctx context.Context, tx *sql.Tx, upTo int64, keep []ChangeKey, keepTables []string) error {
	if len(keep) == 0 && len(keepTables) == 0 {
		_, err := tx.ExecContext(ctx, `DELETE FROM gpkgext_offlined_changes WHERE seq <= ?`, upTo)
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TEMP TABLE IF NOT EXISTS offlined_ack_keep (table_name TEXT NOT NULL, globalid TEXT NOT NULL)`); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM offlined_ack_keep`); err != nil {
		return err
	}
	for _, k := range keep {
		if _, err := tx.ExecContext(ctx, `INSERT INTO offlined_ack_keep VALUES (?, ?)`, k.Table, k.GlobalID); err != nil {
			return err
		}
	}
	q := `DELETE FROM gpkgext_offlined_changes WHERE seq <= ? AND NOT EXISTS (SELECT 1 FROM offlined_ack_keep k WHERE k.table_name = gpkgext_offlined_changes.table_name AND k.globalid = gpkgext_offlined_changes.globalid)`
	args := []any{upTo}
	if len(keepTables) > 0 {
		q += ` AND table_name NOT IN (` + strings.TrimSuffix(strings.Repeat("?,", len(keepTables)), ",") + `)`
		for _, t := range keepTables {
			args = append(args, t)
		}
	}
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM offlined_ack_keep`)
	return err
}

func syncApplyLayer(ctx context.Context, tx *sql.Tx, sc *stmts, db *DB, t *Table, lc *LayerChanges,
	decide func(table, gid string, localOp, serverOp Op, server *arcgis.Feature) SyncDecision, res *ApplyResult) error {
	// check decides for a GlobalID with pending local changes; it returns
	// whether to apply and the feature to apply (nil: the server's).
	check := func(table, gid string, serverOp Op, server any, sf *arcgis.Feature) (bool, *arcgis.Feature, error) {
		var localOp string
		err := sc.queryRow(ctx, `SELECT op FROM gpkgext_offlined_changes WHERE table_name = ? AND globalid = ? ORDER BY seq DESC LIMIT 1`, table, gid).Scan(&localOp)
		if errors.Is(err, sql.ErrNoRows) {
			return true, nil, nil
		}
		if err != nil {
			return false, nil, err
		}
		res.Conflicts++
		d := SyncDecision{Apply: true, DropLocal: true, Resolution: "server"}
		if decide != nil {
			d = decide(table, gid, Op(localOp), serverOp, sf)
		}
		var local []byte
		switch table {
		case t.Name:
			if f, err := rowFeature(ctx, tx, t, gid); err == nil && f != nil {
				local, _ = json.Marshal(f)
			}
		case t.AttachTable:
			if m, err := attachmentMetaTx(ctx, tx, t, gid); err == nil {
				local, _ = json.Marshal(m)
			}
		}
		sv, _ := json.Marshal(server)
		if len(d.Fields) > 0 && sf != nil {
			sv, _ = json.Marshal(map[string]any{"attributes": sf.Attributes, "geometry": sf.Geometry, "heldFields": d.Fields})
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO gpkgext_offlined_conflicts (table_name, globalid, local_op, server_op, local_version, server_version, resolution) VALUES (?,?,?,?,?,?,?)`,
			table, gid, localOp, string(serverOp), nullStr(local), nullStr(sv), d.Resolution); err != nil {
			return false, nil, err
		}
		if d.DropLocal {
			if _, err := tx.ExecContext(ctx, `DELETE FROM gpkgext_offlined_changes WHERE table_name = ? AND globalid = ?`, table, gid); err != nil {
				return false, nil, err
			}
		}
		if !d.Apply {
			res.Skipped++
		}
		return d.Apply, d.Feature, nil
	}
	upsert := func(f *arcgis.Feature, op Op) error {
		gid, has, err := gidOf(t, f)
		if err != nil {
			return err
		}
		if !has {
			return &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrNull, Detail: "server feature without GlobalID"}
		}
		ok, repl, err := check(t.Name, gid, op, f, f)
		if err != nil || !ok {
			return err
		}
		if repl != nil {
			f = repl
		}
		return upsertTx(ctx, sc, t, gid, f, res)
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
		ok, _, err := check(t.Name, gid, OpDelete, nil, nil)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		// The delete takes the feature's attachments with it, photos added
		// or changed here and not sent yet too: each is a conflict (the
		// delete wins; the photo's metadata stays on record) instead of
		// vanishing with no trace.
		pend, err := pendingAttachmentsOf(ctx, tx, t, gid)
		if err != nil {
			return err
		}
		for _, a := range pend {
			if _, _, err := check(t.AttachTable, a, OpDelete, nil, nil); err != nil {
				return err
			}
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
			ok, _, err := check(t.AttachTable, gid, OpUpdate, m, nil)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if has, err := parentExists(ctx, tx, t, pg); err != nil {
				return err
			} else if !has {
				// The parent is gone here (a local delete, which wins and
				// takes the server's copy with it when it goes up): skip the
				// attachment instead of failing every sync, and keep the
				// losing version on record.
				sv, _ := json.Marshal(m)
				if _, err := tx.ExecContext(ctx, `INSERT INTO gpkgext_offlined_conflicts (table_name, globalid, local_op, server_op, local_version, server_version, resolution) VALUES (?,?,?,?,?,?,?)`,
					t.AttachTable, gid, string(OpDelete), string(OpInsert), nil, string(sv), "device"); err != nil {
					return err
				}
				res.Conflicts++
				res.Skipped++
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
		ok, _, err := check(t.AttachTable, gid, OpDelete, nil, nil)
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

// upsertTx writes a server feature (insert when its GlobalID is new, else
// update of the attributes present).
func upsertTx(ctx context.Context, sc *stmts, t *Table, gid string, f *arcgis.Feature, res *ApplyResult) error {
	var cols []string
	var vals []any
	// table column order, so the statement text repeats and is prepared once
	for i := range t.Cols {
		c := &t.Cols[i]
		if c.kind == kOID || c.kind == kGlobalID {
			continue
		}
		v, ok := f.Attributes[c.Name]
		if !ok {
			found := false
			for k, x := range f.Attributes {
				if strings.EqualFold(k, c.Name) {
					v, found = x, true
					break
				}
			}
			if !found {
				continue
			}
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
	err := sc.queryRow(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?", qid(t.OIDCol), qid(t.Name), qid(t.GIDCol)), gid).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		cols, vals = append(cols, t.GIDCol), append(vals, gid)
		_, err = sc.exec(ctx, insertSQL(t, cols, false), vals...)
	case err == nil && len(cols) > 0:
		sets := make([]string, len(cols))
		for i, c := range cols {
			sets[i] = qid(c) + " = ?"
		}
		_, err = sc.exec(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?", qid(t.Name), strings.Join(sets, ", "), qid(t.OIDCol)), append(vals, id)...)
	}
	if err == nil {
		res.Applied++
	}
	return err
}

// RowValues returns a feature's current values encoded exactly as the change
// log's old_values (geometry and BLOBs hex-encoded), so the two compare
// field by field; nil when the feature does not exist.
func (db *DB) RowValues(ctx context.Context, layerID int, globalID string) (map[string]any, error) {
	t, err := db.mustTable(layerID)
	if err != nil {
		return nil, err
	}
	gid, _ := NormalizeGlobalID(globalID)
	expr := strings.ReplaceAll(oldValuesExpr(t), "OLD.", "r.")
	var s string
	err = db.r.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s AS r WHERE r.%s = ?", expr, qid(t.Name), qid(t.GIDCol)), gid).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("row values of %s in layer %d: %w", gid, layerID, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, err
	}
	return m, nil
}

// AttachmentByGlobalID returns the metadata of one attachment of a layer.
func (db *DB) AttachmentByGlobalID(ctx context.Context, layerID int, globalID string) (AttachmentMeta, error) {
	t, err := db.attachTable(layerID)
	if err != nil {
		return AttachmentMeta{}, err
	}
	gid, _ := NormalizeGlobalID(globalID)
	var m AttachmentMeta
	err = db.r.QueryRowContext(ctx, fmt.Sprintf(`SELECT id, globalid, rel_globalid, att_name, content_type, coalesce(keywords,''), size, sha256 FROM %s WHERE globalid = ?`, qid(t.AttachTable)), gid).
		Scan(&m.ID, &m.GlobalID, &m.ParentGlobalID, &m.Name, &m.ContentType, &m.Keywords, &m.Size, &m.SHA256)
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("attachment %s: %w", gid, ErrNoAttachment)
	}
	return m, err
}

// parentExists reports whether the feature with the GlobalID is in t.
func parentExists(ctx context.Context, tx *sql.Tx, t *Table, gid string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT 1 FROM %s WHERE %s = ?`, qid(t.Name), qid(t.GIDCol)), gid).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// pendingAttachmentsOf returns the GlobalIDs of the attachments of the
// feature parent that have unsent local changes.
func pendingAttachmentsOf(ctx context.Context, tx *sql.Tx, t *Table, parent string) ([]string, error) {
	if t.AttachTable == "" {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT a.globalid FROM %s a WHERE a.rel_globalid = ? AND EXISTS (SELECT 1 FROM gpkgext_offlined_changes c WHERE c.table_name = ? AND c.globalid = a.globalid)`, qid(t.AttachTable)), parent, t.AttachTable)
	if err != nil {
		return nil, fmt.Errorf("pending attachments of %s: %w", parent, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// attachmentMetaTx reads one attachment's metadata inside tx.
func attachmentMetaTx(ctx context.Context, tx *sql.Tx, t *Table, gid string) (AttachmentMeta, error) {
	var m AttachmentMeta
	err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT id, globalid, rel_globalid, att_name, content_type, coalesce(keywords,''), size, sha256 FROM %s WHERE globalid = ?`, qid(t.AttachTable)), gid).
		Scan(&m.ID, &m.GlobalID, &m.ParentGlobalID, &m.Name, &m.ContentType, &m.Keywords, &m.Size, &m.SHA256)
	return m, err
}
