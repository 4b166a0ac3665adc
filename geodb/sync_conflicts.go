package geodb

// Conflict resolution for the sync engine (package sync).

import (
	"context"
	"database/sql"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// SetConflictResolution records how conflict id was resolved (for example
// "device" or "server" for a conflict held as "pending").
func (db *DB) SetConflictResolution(ctx context.Context, id int64, resolution string) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE gpkgext_offlined_conflicts SET resolution = ? WHERE id = ?`, resolution, id)
		if err != nil {
			return fmt.Errorf("resolve conflict %d: %w", id, err)
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return fmt.Errorf("resolve conflict %d: no such conflict", id)
		}
		return nil
	})
}

// WriteUnlogged writes a feature's attributes (and geometry when given)
// without recording a change: the values came from the server, which has
// them already. The feature is located by its GlobalID and inserted when
// absent.
func (db *DB) WriteUnlogged(ctx context.Context, layerID int, f arcgis.Feature) error {
	t, err := db.mustTable(layerID)
	if err != nil {
		return err
	}
	gid, has, err := gidOf(t, &f)
	if err != nil {
		return err
	}
	if !has {
		return &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrNull, Detail: "feature without GlobalID"}
	}
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		if err := suppress(ctx, tx, true); err != nil {
			return err
		}
		var res ApplyResult
		if err := upsertTx(ctx, &stmts{tx: tx, m: map[string]*sql.Stmt{}}, t, gid, &f, &res); err != nil {
			return fmt.Errorf("write %s in layer %d: %w", gid, layerID, err)
		}
		return suppress(ctx, tx, false)
	})
}

// EsriValue converts a value of the change log's old_values (or RowValues)
// for field name into its Esri JSON form, so it compares with server values.
// Geometry and unknown fields are returned unchanged.
func (t *Table) EsriValue(name string, stored any) any {
	c := t.Col(name)
	if c == nil {
		return stored
	}
	if f, ok := stored.(float64); ok && (c.kind == kInt16 || c.kind == kInt32 || c.kind == kInt64 || c.kind == kOID) {
		return fromSQL(c, f)
	}
	return fromSQL(c, stored)
}

// GeometryHex encodes an Esri geometry the way the change log stores
// geometry (hex of the GeoPackage blob), "" for none.
func (t *Table) GeometryHex(g *arcgis.Geometry) string {
	if t.GeomCol == "" || g == nil {
		return ""
	}
	gg, err := FromEsri(g, t.HasZ, t.HasM)
	if err != nil {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(EncodeBlob(gg, t.SRSID)))
}

// PendingChanges returns the number of change-log rows (edits not yet
// acknowledged by the server).
func (db *DB) PendingChanges(ctx context.Context) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM gpkgext_offlined_changes`).Scan(&n)
	return n, err
}
