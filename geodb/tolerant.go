package geodb

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/whereclause"
)

// Bulk loads are tolerant where the server is wrong: servers declare field
// types their data does not respect. A value that does not fit its declared
// type is kept by widening the column (integer → DOUBLE, TEXT(n) → TEXT) and
// the change is recorded; a value that cannot be kept is dropped (NULL, or
// the whole feature when the column is NOT NULL) and recorded as a
// per-feature warning. A layer is never lost for one value. Edits made by
// users stay strict (toSQL with strict=true).

// LoadWarning records one change a tolerant load made to the server's data
// or schema.
type LoadWarning struct {
	Table   string `json:"table"`
	LayerID int    `json:"layerId"`
	Field   string `json:"field,omitempty"`
	// ObjectID and GlobalID identify the feature ("" / 0 for schema changes
	// that are not tied to one feature).
	ObjectID int64  `json:"objectId,omitempty"`
	GlobalID string `json:"globalId,omitempty"`
	// Kind is widenedColumn, droppedValue, droppedGeometry or droppedFeature.
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// Kinds of LoadWarning.
const (
	WarnWidenedColumn   = "widenedColumn"
	WarnDroppedValue    = "droppedValue"
	WarnDroppedGeometry = "droppedGeometry"
	WarnDroppedFeature  = "droppedFeature"
)

// maxStoredWarnings bounds the warnings kept in gpkgext_offlined_meta; the count
// of all of them is kept too.
const maxStoredWarnings = 1000

const metaLoadWarnings = "load_warnings"

// widenOp is a schema change the decoder asks the writer to make before it
// writes the row that needed it.
type widenOp struct {
	col    int // index into Table.Cols
	to     kind
	length int // new Field.Length for strings (the longest value seen)
	detail string
}

// tolerantTable is the decoder goroutine's private view of a table: a copy
// of its columns that widening changes, so the decoder never reads the
// Table the writer updates.
type tolerantTable struct {
	t    Table
	seen map[int]bool // columns already widened in the DDL
}

func newTolerantTable(t *Table) *tolerantTable {
	tt := &tolerantTable{t: *t, seen: map[int]bool{}}
	tt.t.Cols = append([]Column(nil), t.Cols...)
	return tt
}

// convert is the row conversion bulk loads use: it never fails on a value. It
// returns the row (nil when the feature must be skipped), the schema
// changes to make first, and the warnings.
func (tt *tolerantTable) convert(f *arcgis.Feature) (args []any, g *Geom, ops []widenOp, warns []LoadWarning) {
	t := &tt.t
	oid, gid := featureIDs(t, f)
	warn := func(kind, field, format string, a ...any) {
		warns = append(warns, LoadWarning{Table: t.Name, LayerID: t.LayerID, Field: field, ObjectID: oid, GlobalID: gid,
			Kind: kind, Detail: fmt.Sprintf(format, a...)})
	}
	args = make([]any, 0, len(t.Cols)+1)
	for i := range t.Cols {
		c := &t.Cols[i]
		v, ok := attrValue(f.Attributes, c.Name)
		if ok && c.kind == kString && c.Field.Length > 0 {
			if s, isStr := v.(string); isStr {
				if n := utf8.RuneCountInString(s); n > c.Field.Length {
					op := widenOp{col: i, to: kString, length: n,
						detail: fmt.Sprintf("declared length %d, a value of %d characters", c.Field.Length, n)}
					c.Field.Length = n
					ops = append(ops, op)
					warn(WarnWidenedColumn, c.Name, "%s", op.detail)
				}
			}
		}
		if c.kind == kGlobalID && c.Name == t.GIDCol && v == nil && oid != 0 {
			// A service without GlobalIDs (a snapshot): derive one from the
			// object id, so every row has one and a refresh finds it again.
			v, ok = DerivedGlobalID(t.Name, oid), true
		}
		sv, err := toSQL(t, c, v, false)
		if err != nil && isIntKind(c.kind) {
			if fv, isNum := whereclause.Numeric(v); isNum && !math.IsNaN(fv) && !math.IsInf(fv, 0) {
				op := widenOp{col: i, to: kFloat64, detail: fmt.Sprintf("declared %s, got %s", c.Field.Type, describe(v))}
				c.kind = kFloat64
				c.Field.Type = arcgis.FieldDouble
				ops = append(ops, op)
				warn(WarnWidenedColumn, c.Name, "%s: column widened to double", op.detail)
				sv, err = toSQL(t, c, v, false)
			}
		}
		if err != nil {
			var fe *FieldError
			detail := err.Error()
			if errors.As(err, &fe) {
				detail = fe.Detail
			}
			if !c.Field.IsNullable() && c.kind != kOID && c.kind != kGlobalID {
				warn(WarnDroppedFeature, c.Name, "%s (field is not nullable)", detail)
				return nil, nil, ops, warns
			}
			warn(WarnDroppedValue, c.Name, "%s", detail)
			sv = nil
		}
		args = append(args, sv)
	}
	if t.GeomCol != "" {
		eg, err := FromEsri(f.Geometry, t.HasZ, t.HasM)
		switch {
		case err != nil:
			warn(WarnDroppedGeometry, t.GeomCol, "%v", err)
			eg = nil
		case eg != nil && eg.Type != t.GeomType:
			warn(WarnDroppedGeometry, t.GeomCol, "layer holds %s, got %s", t.GeomType, eg.Type)
			eg = nil
		}
		g = eg
		if b := EncodeBlob(g, t.SRSID); b != nil {
			args = append(args, b)
		} else {
			args = append(args, nil)
		}
	}
	return args, g, ops, warns
}

func isIntKind(k kind) bool { return k == kInt16 || k == kInt32 || k == kInt64 }

func attrValue(attrs map[string]any, name string) (any, bool) {
	if v, ok := attrs[name]; ok {
		return v, true
	}
	for k, x := range attrs {
		if strings.EqualFold(k, name) {
			return x, true
		}
	}
	return nil, false
}

// featureIDs returns the feature's object id and GlobalID when present.
func featureIDs(t *Table, f *arcgis.Feature) (int64, string) {
	var oid int64
	if v, ok := attrValue(f.Attributes, t.OIDCol); ok {
		oid, _ = toInt(v)
	}
	var gid string
	if t.GIDCol != "" {
		if v, ok := attrValue(f.Attributes, t.GIDCol); ok {
			gid, _ = v.(string)
		}
	}
	return oid, gid
}

// applyWiden changes the column's declared type in the table's DDL, its
// stored layer JSON and the in-memory Table, in tx. It runs on the
// writer's goroutine, before the row that needed it.
func (db *DB) applyWiden(ctx context.Context, tx *sql.Tx, t *Table, op widenOp) error {
	db.mu.Lock()
	c := &t.Cols[op.col]
	old := *c
	switch op.to {
	case kFloat64:
		c.kind = kFloat64
		c.Field.Type = arcgis.FieldDouble
	case kString:
		c.Field.Length = op.length
	}
	for i := range t.Layer.Fields {
		if strings.EqualFold(t.Layer.Fields[i].Name, c.Name) {
			t.Layer.Fields[i].Type = c.Field.Type
			t.Layer.Fields[i].Length = c.Field.Length
		}
	}
	newCol := *c
	db.mu.Unlock()

	oldDDL, newDDL := columnDDL(&old), columnDDL(&newCol)
	if op.to == kString {
		// TEXT(n) → TEXT: the declared maximum no longer holds.
		newCol.Field.Length = 0
		newDDL = columnDDL(&newCol)
	}
	if oldDDL != newDDL {
		if err := rewriteColumnDDL(ctx, tx, t.Name, oldDDL, newDDL); err != nil {
			return fmt.Errorf("widen %s.%s: %w", t.Name, c.Name, err)
		}
	}
	if err := patchLayerField(ctx, tx, t.LayerID, c.Name, newCol.Field.Type, c.Field.Length); err != nil {
		return fmt.Errorf("widen %s.%s: layer json: %w", t.Name, c.Name, err)
	}
	return nil
}

// rewriteColumnDDL replaces one column definition in a table's CREATE
// statement. Only the declared type changes, which does not change how
// SQLite reads stored values (the procedure of "Making Other Kinds Of
// Table Schema Changes" in SQLite's ALTER TABLE documentation).
func rewriteColumnDDL(ctx context.Context, tx *sql.Tx, table, oldDDL, newDDL string) error {
	var ddl string
	if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type='table' AND name=?`, table).Scan(&ddl); err != nil {
		return err
	}
	if strings.Count(ddl, oldDDL) == 0 && strings.Count(ddl, newDDL) == 1 {
		return nil // widened by an earlier value
	}
	if strings.Count(ddl, oldDDL) != 1 {
		return fmt.Errorf("column definition %q not found once in the table's schema", oldDDL)
	}
	ddl = strings.Replace(ddl, oldDDL, newDDL, 1)
	var ver int64
	if err := tx.QueryRowContext(ctx, `PRAGMA schema_version`).Scan(&ver); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "PRAGMA writable_schema=ON"); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE sqlite_master SET sql=? WHERE type='table' AND name=?`, ddl, table)
	if err == nil {
		_, err = tx.ExecContext(ctx, fmt.Sprintf("PRAGMA schema_version=%d", ver+1))
	}
	if _, offErr := tx.ExecContext(ctx, "PRAGMA writable_schema=OFF"); err == nil {
		err = offErr
	}
	return err
}

// patchLayerField changes one field's type and length in the stored layer
// JSON, keeping every other member as the server sent it.
func patchLayerField(ctx context.Context, tx *sql.Tx, layerID int, field string, typ string, length int) error {
	var js string
	if err := tx.QueryRowContext(ctx, `SELECT layer_json FROM gpkgext_offlined_layers WHERE layer_id=?`, layerID).Scan(&js); err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(js), &doc); err != nil {
		return err
	}
	var fields []map[string]any
	if err := json.Unmarshal(doc["fields"], &fields); err != nil {
		return err
	}
	for _, f := range fields {
		if name, _ := f["name"].(string); strings.EqualFold(name, field) {
			f["type"] = typ
			if typ == arcgis.FieldString {
				f["length"] = length
			}
		}
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	doc["fields"] = b
	out, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE gpkgext_offlined_layers SET layer_json=? WHERE layer_id=?`, string(out), layerID)
	return err
}

// saveWarnings appends the load's warnings to gpkgext_offlined_meta (bounded).
func (db *DB) saveWarnings(ctx context.Context, ws []LoadWarning) error {
	if len(ws) == 0 {
		return nil
	}
	old, total, err := db.LoadWarnings(ctx)
	if err != nil {
		return err
	}
	all := append(old, ws...)
	if len(all) > maxStoredWarnings {
		all = all[:maxStoredWarnings]
	}
	b, err := json.Marshal(storedWarnings{Total: total + len(ws), Warnings: all})
	if err != nil {
		return err
	}
	return db.SetMeta(ctx, metaLoadWarnings, string(b))
}

type storedWarnings struct {
	Total    int           `json:"total"`
	Warnings []LoadWarning `json:"warnings"`
}

// LoadWarnings returns the warnings recorded by tolerant bulk loads (at
// most maxStoredWarnings of them) and how many there were in all.
func (db *DB) LoadWarnings(ctx context.Context) ([]LoadWarning, int, error) {
	v, ok, err := db.Meta(ctx, metaLoadWarnings)
	if err != nil || !ok {
		return nil, 0, err
	}
	var s storedWarnings
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, 0, fmt.Errorf("read load warnings: %w", err)
	}
	return s.Warnings, s.Total, nil
}

// DerivedGlobalID returns the GlobalID geodb gives a row of a service that
// has no GlobalIDs: a name-based (version 5 style, SHA-1) GUID of the table
// and the object id, the same on every load and refresh.
func DerivedGlobalID(table string, oid int64) string {
	h := sha1.Sum([]byte(fmt.Sprintf("offlined:%s:%d", table, oid)))
	return formatGUID(h[:16], 5)
}
