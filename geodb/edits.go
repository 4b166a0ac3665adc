package geodb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// NewGlobalID returns a random (version 4) GUID in registry form
// {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
func NewGlobalID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return formatGUID(b[:], 4)
}

// formatGUID sets the version and variant bits of 16 bytes and writes them
// in registry form {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
func formatGUID(b []byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("{%08X-%04X-%04X-%04X-%012X}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// EditResult identifies an added or updated feature.
type EditResult struct {
	ObjectID int64
	GlobalID string
}

// Edits is a batch of edits for one layer, applied all-or-nothing.
type Edits struct {
	Adds    []arcgis.Feature
	Updates []arcgis.Feature // located by their GlobalID attribute
	Deletes []string         // GlobalIDs
}

// ApplyEdits validates and applies a batch in one transaction: every value
// is checked against the field's type, length, nullability and domain, and
// the first failure returns a *FieldError naming the field (the database is
// then unchanged). Adds get a new GlobalID unless they carry a valid one.
// The change log records every edit.
func (db *DB) ApplyEdits(ctx context.Context, layerID int, e Edits) (adds, updates []EditResult, err error) {
	t, err := db.mustTable(layerID)
	if err != nil {
		return nil, nil, err
	}
	err = db.writeTx(ctx, func(tx *sql.Tx) error {
		for i := range e.Adds {
			r, err := addTx(ctx, tx, t, &e.Adds[i])
			if err != nil {
				return fmt.Errorf("add %d: %w", i, err)
			}
			adds = append(adds, r)
		}
		for i := range e.Updates {
			r, err := updateTx(ctx, tx, t, &e.Updates[i])
			if err != nil {
				return fmt.Errorf("update %d: %w", i, err)
			}
			updates = append(updates, r)
		}
		for _, gid := range e.Deletes {
			if err := deleteTx(ctx, tx, t, gid); err != nil {
				return fmt.Errorf("delete %s: %w", gid, err)
			}
		}
		return updateExtent(ctx, tx, t)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("edit layer %d: %w", layerID, err)
	}
	return adds, updates, nil
}

// Add adds one feature.
func (db *DB) Add(ctx context.Context, layerID int, f arcgis.Feature) (EditResult, error) {
	r, _, err := db.ApplyEdits(ctx, layerID, Edits{Adds: []arcgis.Feature{f}})
	if err != nil {
		return EditResult{}, err
	}
	return r[0], nil
}

// Update updates one feature located by its GlobalID attribute; only the
// attributes present (and the geometry when not nil) change.
func (db *DB) Update(ctx context.Context, layerID int, f arcgis.Feature) error {
	_, _, err := db.ApplyEdits(ctx, layerID, Edits{Updates: []arcgis.Feature{f}})
	return err
}

// Delete deletes one feature by GlobalID.
func (db *DB) Delete(ctx context.Context, layerID int, globalID string) error {
	_, _, err := db.ApplyEdits(ctx, layerID, Edits{Deletes: []string{globalID}})
	return err
}

// editValues validates f's attributes and geometry; it returns the columns
// and values to write.
func editValues(t *Table, f *arcgis.Feature, add bool) ([]string, []any, error) {
	var cols []string
	var vals []any
	given := map[string]bool{}
	for k, v := range f.Attributes {
		c := t.Col(k)
		if c == nil {
			return nil, nil, &FieldError{Table: t.Name, Field: k, Reason: ErrUnknownField}
		}
		given[c.Name] = true
		if c.kind == kOID || c.kind == kGlobalID {
			continue // identity, handled by the caller
		}
		if !c.Field.IsEditable() {
			continue // ArcGIS ignores values for non-editable fields
		}
		sv, err := toSQL(t, c, v, true)
		if err != nil {
			return nil, nil, err
		}
		cols = append(cols, c.Name)
		vals = append(vals, sv)
	}
	if add {
		for _, c := range t.Cols {
			if given[c.Name] || c.kind == kOID || c.kind == kGlobalID || c.Field.IsNullable() || c.Field.DefaultValue != nil || !c.Field.IsEditable() {
				continue
			}
			return nil, nil, &FieldError{Table: t.Name, Field: c.Name, Reason: ErrNull, Detail: "required field missing"}
		}
	}
	if t.GeomCol != "" && (f.Geometry != nil || add) {
		g, err := FromEsri(f.Geometry, t.HasZ, t.HasM)
		if err != nil {
			return nil, nil, &FieldError{Table: t.Name, Field: t.GeomCol, Reason: ErrType, Detail: err.Error()}
		}
		if g != nil && g.Type != t.GeomType {
			return nil, nil, &FieldError{Table: t.Name, Field: t.GeomCol, Reason: ErrType,
				Detail: fmt.Sprintf("layer holds %s, got %s", t.Layer.GeometryType, f.Geometry.Type())}
		}
		if f.Geometry != nil {
			cols = append(cols, t.GeomCol)
			if b := EncodeBlob(g, t.SRSID); b != nil {
				vals = append(vals, b)
			} else {
				vals = append(vals, nil)
			}
		}
	}
	return cols, vals, nil
}

func gidOf(t *Table, f *arcgis.Feature) (string, bool, error) {
	for k, v := range f.Attributes {
		if strings.EqualFold(k, t.GIDCol) {
			s, ok := v.(string)
			if !ok {
				return "", true, &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrType, Detail: "want a GUID string"}
			}
			g, ok := NormalizeGlobalID(s)
			if !ok {
				return "", true, &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrType, Detail: fmt.Sprintf("%q is not a GUID", s)}
			}
			return g, true, nil
		}
	}
	return "", false, nil
}

func addTx(ctx context.Context, tx *sql.Tx, t *Table, f *arcgis.Feature) (EditResult, error) {
	cols, vals, err := editValues(t, f, true)
	if err != nil {
		return EditResult{}, err
	}
	gid, has, err := gidOf(t, f)
	if err != nil {
		return EditResult{}, err
	}
	if !has || gid == "" {
		gid = NewGlobalID()
	}
	cols = append(cols, t.GIDCol)
	vals = append(vals, gid)
	res, err := tx.ExecContext(ctx, insertSQL(t, cols, false), vals...)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return EditResult{}, &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrDomain, Detail: "GlobalID " + gid + " already exists"}
		}
		return EditResult{}, err
	}
	id, err := res.LastInsertId()
	return EditResult{ObjectID: id, GlobalID: gid}, err
}

func updateTx(ctx context.Context, tx *sql.Tx, t *Table, f *arcgis.Feature) (EditResult, error) {
	gid, has, err := gidOf(t, f)
	if err != nil {
		return EditResult{}, err
	}
	if !has {
		return EditResult{}, &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrNull, Detail: "updates need the GlobalID"}
	}
	cols, vals, err := editValues(t, f, false)
	if err != nil {
		return EditResult{}, err
	}
	var id int64
	if err := tx.QueryRowContext(ctx, fmt.Sprintf("SELECT %s FROM %s WHERE %s = ?", qid(t.OIDCol), qid(t.Name), qid(t.GIDCol)), gid).Scan(&id); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return EditResult{}, fmt.Errorf("feature %s: %w", gid, ErrNoFeature)
		}
		return EditResult{}, err
	}
	if len(cols) == 0 {
		return EditResult{ObjectID: id, GlobalID: gid}, nil
	}
	sets := make([]string, len(cols))
	for i, c := range cols {
		sets[i] = qid(c) + " = ?"
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET %s WHERE %s = ?", qid(t.Name), strings.Join(sets, ", "), qid(t.OIDCol)), append(vals, id)...)
	return EditResult{ObjectID: id, GlobalID: gid}, err
}

func deleteTx(ctx context.Context, tx *sql.Tx, t *Table, globalID string) error {
	gid, ok := NormalizeGlobalID(globalID)
	if !ok {
		return &FieldError{Table: t.Name, Field: t.GIDCol, Reason: ErrType, Detail: fmt.Sprintf("%q is not a GUID", globalID)}
	}
	if t.AttachTable != "" {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE rel_globalid = ?", qid(t.AttachTable)), gid); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s = ?", qid(t.Name), qid(t.GIDCol)), gid)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("feature %s: %w", gid, ErrNoFeature)
	}
	return nil
}
