package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// Decider decides, for a GlobalID with unsent local changes, what a server
// change does (sync.Policy is the user-facing choice behind it). Both
// versions are recorded in gpkgext_offlined_conflicts either way.
type Decider func(table, gid string, localOp, serverOp Op, server *arcgis.Feature) SyncDecision

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
	// Decide decides conflicts; nil: the server's version replaces the
	// local one, whose pending changes are dropped.
	Decide Decider
}

// ApplyResult counts what ApplyServerChanges did.
type ApplyResult struct {
	Applied   int
	Conflicts int
	Skipped   int // server changes not applied (the device kept its version)
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
// versions go to gpkgext_offlined_conflicts and sc.Decide decides which stays.
func (db *DB) ApplyServerChanges(ctx context.Context, sc ServerChanges) (ApplyResult, error) {
	var res ApplyResult
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		res = ApplyResult{}
		if err := suppress(ctx, tx, true); err != nil {
			return err
		}
		if sc.AckThrough > 0 {
			if _, err := tx.ExecContext(ctx, `DELETE FROM gpkgext_offlined_changes WHERE seq <= ?`, sc.AckThrough); err != nil {
				return err
			}
		}
		for _, lc := range sc.Layers {
			t, err := db.mustTable(lc.LayerID)
			if err != nil {
				return err
			}
			if err := applyLayer(ctx, tx, db, t, &lc, sc.Decide, &res); err != nil {
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

func applyLayer(ctx context.Context, tx *sql.Tx, db *DB, t *Table, lc *LayerChanges, decide Decider, res *ApplyResult) error {
	if decide == nil {
		server := SyncDecision{Apply: true, DropLocal: true, Resolution: "server"}
		decide = func(string, string, Op, Op, *arcgis.Feature) SyncDecision { return server }
	}
	return syncApplyLayer(ctx, tx, &stmts{tx: tx, m: map[string]*sql.Stmt{}}, db, t, lc, decide, res)
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
	rows, err := db.r.QueryContext(ctx, `SELECT id, table_name, globalid, local_op, server_op, local_version, server_version, resolution, detected_at FROM gpkgext_offlined_conflicts ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	return scanRows(rows, func(rows *sql.Rows) (Conflict, error) {
		var c Conflict
		var lv, sv sql.NullString
		if err := rows.Scan(&c.ID, &c.Table, &c.GlobalID, &c.LocalOp, &c.ServerOp, &lv, &sv, &c.Resolution, &c.DetectedAt); err != nil {
			return c, err
		}
		if lv.Valid {
			c.LocalVersion = json.RawMessage(lv.String)
		}
		if sv.Valid {
			c.ServerVersion = json.RawMessage(sv.String)
		}
		return c, nil
	})
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
