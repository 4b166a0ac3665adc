package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// kind is how geodb stores and converts one esriFieldType.
type kind int

const (
	kOID kind = iota
	kGlobalID
	kGUID
	kString
	kInt16
	kInt32
	kInt64
	kFloat32
	kFloat64
	kDate
	kDateOnly
	kTimeOnly
	kTimestampOffset
	kBlob
	kXML
)

// Column is one attribute column of a feature or attribute table.
type Column struct {
	Name  string       // column name in SQLite (the service field name)
	Field arcgis.Field // the service field definition
	kind  kind
	// declTime: the column's declared type is one whose text the
	// database/sql driver returns as time.Time (see timeDecl). It follows
	// the file, not the field type: Evolve keeps a column's declared type.
	declTime bool
}

// Table describes one layer or table of the service as stored.
type Table struct {
	Name        string // SQLite table name
	LayerID     int
	Layer       arcgis.Layer
	OIDCol      string
	GIDCol      string
	GeomCol     string // "" for attribute tables
	GeomType    GeomType
	HasZ, HasM  bool
	SRSID       int32
	Cols        []Column // attribute columns in service order (OID and GlobalID included)
	AttachTable string   // media table for attachments, or ""
}

// Col returns the column named name (case-insensitive), or nil.
func (t *Table) Col(name string) *Column {
	for i := range t.Cols {
		if strings.EqualFold(t.Cols[i].Name, name) {
			return &t.Cols[i]
		}
	}
	return nil
}

func fieldKind(f *arcgis.Field) (kind, error) {
	switch f.Type {
	case arcgis.FieldOID:
		return kOID, nil
	case arcgis.FieldGlobalID:
		return kGlobalID, nil
	case arcgis.FieldGUID:
		return kGUID, nil
	case arcgis.FieldString:
		return kString, nil
	case arcgis.FieldSmallInteger:
		return kInt16, nil
	case arcgis.FieldInteger:
		return kInt32, nil
	case arcgis.FieldBigInteger:
		return kInt64, nil
	case arcgis.FieldSingle:
		return kFloat32, nil
	case arcgis.FieldDouble:
		return kFloat64, nil
	case arcgis.FieldDate:
		return kDate, nil
	case arcgis.FieldDateOnly:
		return kDateOnly, nil
	case arcgis.FieldTimeOnly:
		return kTimeOnly, nil
	case arcgis.FieldTimestampOffset:
		return kTimestampOffset, nil
	case arcgis.FieldBlob, arcgis.FieldRaster:
		return kBlob, nil
	case arcgis.FieldXML:
		return kXML, nil
	}
	return 0, fmt.Errorf("field %s: unsupported type %q", f.Name, f.Type)
}

// sqlType is the GeoPackage column type for a field.
func sqlType(c *Column) string {
	switch c.kind {
	case kOID:
		return "INTEGER"
	case kGlobalID, kGUID:
		return "TEXT(38)"
	case kString:
		if c.Field.Length > 0 && c.Field.Length < 1<<30 {
			return fmt.Sprintf("TEXT(%d)", c.Field.Length)
		}
		return "TEXT"
	case kInt16:
		return "SMALLINT"
	case kInt32:
		return "MEDIUMINT"
	case kInt64:
		return "INTEGER"
	case kFloat32:
		return "FLOAT"
	case kFloat64:
		return "DOUBLE"
	case kDate:
		return "DATETIME"
	case kDateOnly:
		return "DATE"
	case kBlob:
		return "BLOB"
	}
	return "TEXT" // TimeOnly, TimestampOffset, XML
}

func newTable(l *arcgis.Layer) (*Table, error) {
	t := &Table{LayerID: l.ID, Layer: *l}
	t.Layer.Fields = append([]arcgis.Field(nil), l.Fields...)
	if !l.IsTable() {
		switch l.GeometryType {
		case arcgis.GeometryPoint:
			t.GeomType = GeomPoint
		case arcgis.GeometryMultipoint:
			t.GeomType = GeomMultiPoint
		case arcgis.GeometryPolyline:
			t.GeomType = GeomMultiLineString
		case arcgis.GeometryPolygon, arcgis.GeometryEnvelope:
			t.GeomType = GeomMultiPolygon
		default:
			return nil, fmt.Errorf("unsupported geometry type %q", l.GeometryType)
		}
		t.HasZ, t.HasM = l.HasZ, l.HasM
		t.GeomCol = "geom"
	}
	seen := map[string]bool{}
	for i := range t.Layer.Fields {
		f := &t.Layer.Fields[i]
		if f.Type == arcgis.FieldGeometry {
			continue
		}
		k, err := fieldKind(f)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(f.Name)] {
			return nil, fmt.Errorf("field %s: duplicate name", f.Name)
		}
		seen[strings.ToLower(f.Name)] = true
		switch {
		case k == kOID && t.OIDCol == "":
			t.OIDCol = f.Name
		case k == kOID:
			k = kInt64
		case k == kGlobalID && t.GIDCol == "":
			t.GIDCol = f.Name
		case k == kGlobalID:
			k = kGUID
		}
		t.Cols = append(t.Cols, Column{Name: f.Name, Field: *f, kind: k})
	}
	if t.OIDCol == "" {
		name := l.ObjectIDField
		if name == "" || seen[strings.ToLower(name)] {
			name = "OBJECTID"
		}
		f := arcgis.Field{Name: name, Type: arcgis.FieldOID, Alias: name}
		t.Layer.Fields = append([]arcgis.Field{f}, t.Layer.Fields...)
		t.Cols = append([]Column{{Name: name, Field: f, kind: kOID}}, t.Cols...)
		t.OIDCol = name
		seen[strings.ToLower(name)] = true
	}
	if t.GIDCol == "" {
		name := "GlobalID"
		for i := 1; seen[strings.ToLower(name)]; i++ {
			name = fmt.Sprintf("GlobalID_%d", i)
		}
		no := false
		f := arcgis.Field{Name: name, Type: arcgis.FieldGlobalID, Alias: name, Length: 38, Nullable: &no, Editable: &no}
		t.Layer.Fields = append(t.Layer.Fields, f)
		t.Cols = append(t.Cols, Column{Name: name, Field: f, kind: kGlobalID})
		t.GIDCol = name
		seen[strings.ToLower(name)] = true
	}
	if t.GeomCol != "" {
		for seen[strings.ToLower(t.GeomCol)] {
			t.GeomCol += "_"
		}
	}
	t.Layer.ObjectIDField, t.Layer.GlobalIDField = t.OIDCol, t.GIDCol
	for i := range t.Cols {
		t.Cols[i].declTime = timeDecl(sqlType(&t.Cols[i]))
	}
	return t, nil
}

func columnDDL(c *Column) string {
	s := qid(c.Name) + " " + sqlType(c)
	if c.kind == kOID {
		return s + " PRIMARY KEY AUTOINCREMENT NOT NULL"
	}
	if !c.Field.IsNullable() && c.kind != kGlobalID {
		s += " NOT NULL"
	}
	if d := defaultSQL(c); d != "" {
		s += " DEFAULT " + d
	}
	return s
}

func defaultSQL(c *Column) string {
	switch v := c.Field.DefaultValue.(type) {
	case string:
		if c.kind == kString || c.kind == kGUID || c.kind == kXML || c.kind == kTimeOnly || c.kind == kDateOnly || c.kind == kTimestampOffset {
			return qstr(v)
		}
	case float64:
		switch c.kind {
		case kInt16, kInt32, kInt64:
			return fmt.Sprintf("%d", int64(v))
		case kFloat32, kFloat64:
			return fmt.Sprintf("%v", v)
		}
	case json.Number:
		if _, err := v.Float64(); err == nil && c.kind >= kInt16 && c.kind <= kFloat64 {
			return v.String()
		}
	}
	return ""
}

// loadTables reads the table registry from offlined_layers.
func (db *DB) loadTables(ctx context.Context) error {
	rows, err := db.w.QueryContext(ctx, `SELECT layer_id, table_name, layer_json, attach_table FROM gpkgext_offlined_layers ORDER BY layer_id`)
	if err != nil {
		return err
	}
	type rec struct {
		id       int
		name, js string
		attach   sql.NullString
	}
	// scanRows closes rows: the writer has one connection, free before the next query.
	recs, err := scanRows(rows, func(rows *sql.Rows) (r rec, err error) {
		err = rows.Scan(&r.id, &r.name, &r.js, &r.attach)
		return r, err
	})
	if err != nil {
		return err
	}
	tables := map[string]*Table{}
	byID := map[int]*Table{}
	for _, r := range recs {
		var l arcgis.Layer
		if err := json.Unmarshal([]byte(r.js), &l); err != nil {
			return fmt.Errorf("layer %d json: %w", r.id, err)
		}
		l.ID = r.id
		t, err := newTable(&l)
		if err != nil {
			return fmt.Errorf("layer %d: %w", r.id, err)
		}
		t.Name, t.AttachTable = r.name, r.attach.String
		if err := readDeclTypes(ctx, db.w, t); err != nil {
			return fmt.Errorf("layer %d: %w", r.id, err)
		}
		if t.GeomCol != "" {
			if err := db.w.QueryRowContext(ctx, `SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name=?`, r.name).Scan(&t.GeomCol, &t.SRSID); err != nil {
				return fmt.Errorf("layer %d geometry column: %w", r.id, err)
			}
		}
		tables[r.name] = t
		byID[r.id] = t
	}
	db.mu.Lock()
	db.tables, db.byID = tables, byID
	db.mu.Unlock()
	return nil
}

// repair recreates RTree contents and triggers, or change triggers, that an
// interrupted bulk load left missing.
func (db *DB) repair(ctx context.Context) error {
	for _, t := range db.Tables() {
		var n int
		if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='trigger' AND tbl_name=?`, t.Name).Scan(&n); err != nil {
			return err
		}
		want := 3
		if t.GeomCol != "" {
			want += len(rtreeTriggerSuffixes)
		}
		var idx int
		if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='index' AND name=?`, t.Name+"_gid").Scan(&idx); err != nil {
			return err
		}
		if n >= want && idx == 1 {
			continue
		}
		err := db.writeTx(ctx, func(tx *sql.Tx) error { return finishBulk(ctx, tx, t, nil, nil) })
		if err != nil {
			return fmt.Errorf("repair %s: %w", t.Name, err)
		}
	}
	return nil
}

// Tables returns the stored tables ordered by layer id.
func (db *DB) Tables() []*Table {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]*Table, 0, len(db.byID))
	for _, t := range db.byID {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LayerID < out[j].LayerID })
	return out
}

// TableByID returns the table of a service layer id, or nil.
func (db *DB) TableByID(id int) *Table {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.byID[id]
}

// Table returns the table with the given name (or layer name), or nil.
func (db *DB) Table(name string) *Table {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if t := db.tables[name]; t != nil {
		return t
	}
	for _, t := range db.byID {
		if strings.EqualFold(t.Name, name) || strings.EqualFold(t.Layer.Name, name) {
			return t
		}
	}
	return nil
}

// ErrNoLayer is wrapped when a layer or table is not in the GeoPackage.
var ErrNoLayer = errors.New("no such layer")

func (db *DB) mustTable(id int) (*Table, error) {
	t := db.TableByID(id)
	if t == nil {
		return nil, fmt.Errorf("layer %d: %w", id, ErrNoLayer)
	}
	return t, nil
}
