package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// Evolve brings a table in line with a newer definition of its layer:
// fields the server added are added as columns (existing rows keep their
// data and get NULL or the field's default), the change triggers are
// rebuilt to cover them, and the stored layer JSON is replaced. Fields the
// server dropped are kept locally (dropping would lose data).
func (db *DB) Evolve(ctx context.Context, l *arcgis.Layer, raw json.RawMessage) error {
	old, err := db.mustTable(l.ID)
	if err != nil {
		return err
	}
	var added []arcgis.Field
	for _, f := range l.Fields {
		if f.Type == arcgis.FieldGeometry || old.Col(f.Name) != nil {
			continue
		}
		if strings.EqualFold(f.Name, old.GeomCol) {
			return fmt.Errorf("evolve layer %d: field %s collides with the geometry column", l.ID, f.Name)
		}
		added = append(added, f)
	}
	// The new definition keeps every local column, in the server's order
	// followed by locally-kept ones.
	merged := *l
	merged.Fields = nil
	for _, f := range l.Fields {
		if f.Type != arcgis.FieldGeometry {
			merged.Fields = append(merged.Fields, f)
		}
	}
	for _, c := range old.Cols {
		if merged.Field(c.Name) == nil {
			merged.Fields = append(merged.Fields, c.Field)
		}
	}
	nt, err := newTable(&merged)
	if err != nil {
		return fmt.Errorf("evolve layer %d: %w", l.ID, err)
	}
	nt.Name, nt.GeomCol, nt.SRSID, nt.AttachTable = old.Name, old.GeomCol, old.SRSID, old.AttachTable
	nt.GeomType, nt.HasZ, nt.HasM = old.GeomType, old.HasZ, old.HasM
	if raw == nil {
		b, err := json.Marshal(&nt.Layer)
		if err != nil {
			return err
		}
		raw = b
	}
	// keep the stored JSON complete: locally-kept fields must stay in it
	if len(merged.Fields) != len(l.Fields) {
		b, err := json.Marshal(&nt.Layer)
		if err != nil {
			return err
		}
		raw = b
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		for _, f := range added {
			c := nt.Col(f.Name)
			ddl := columnDDL(c)
			if !c.Field.IsNullable() && defaultSQL(c) == "" {
				ddl = qid(c.Name) + " " + sqlType(c) // NOT NULL needs a default on ALTER
			}
			if _, err := tx.ExecContext(ctx, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s", qid(nt.Name), ddl)); err != nil {
				return fmt.Errorf("add column %s: %w", f.Name, err)
			}
			if err := dataColumnTx(ctx, tx, nt, c); err != nil {
				return err
			}
		}
		if err := readDeclTypes(ctx, tx, nt); err != nil {
			return err
		}
		if err := dropChangeTriggers(ctx, tx, nt); err != nil {
			return err
		}
		if err := createChangeTriggers(ctx, tx, nt); err != nil {
			return err
		}
		return saveLayerTx(ctx, tx, nt, raw)
	})
	if err != nil {
		return fmt.Errorf("evolve layer %d: %w", l.ID, err)
	}
	db.mu.Lock()
	db.tables[nt.Name] = nt
	db.byID[nt.LayerID] = nt
	db.mu.Unlock()
	return nil
}
