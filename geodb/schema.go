package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
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

const wkt3857 = `PROJCS["WGS 84 / Pseudo-Mercator",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]],PROJECTION["Mercator_1SP"],PARAMETER["central_meridian",0],PARAMETER["scale_factor",1],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],EXTENSION["PROJ4","+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs"],AUTHORITY["EPSG","3857"]]`

func (db *DB) initSchema(ctx context.Context) error {
	for _, p := range []string{"PRAGMA application_id=1196444487", "PRAGMA user_version=10300"} {
		if _, err := db.w.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return db.migrate(ctx)
}

// srsFor returns the srs_id for a spatial reference, inserting the
// gpkg_spatial_ref_sys row when missing.
func srsFor(ctx context.Context, tx *sql.Tx, sr *arcgis.SpatialReference) (int32, error) {
	if sr == nil {
		return -1, nil
	}
	code := sr.EPSG()
	switch {
	case code == 4326:
		return 4326, nil
	case code == 3857:
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES ('WGS 84 / Pseudo-Mercator',3857,'EPSG',3857,?,NULL)`, wkt3857)
		return 3857, err
	case code > 0:
		def := sr.WKT
		if def == "" {
			def = "undefined"
		}
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?,?,'EPSG',?,?,NULL)`, fmt.Sprintf("EPSG:%d", code), code, code, def)
		return int32(code), err
	case sr.WKT != "":
		var id int32
		err := tx.QueryRowContext(ctx, `SELECT srs_id FROM gpkg_spatial_ref_sys WHERE organization='NONE' AND definition=?`, sr.WKT).Scan(&id)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
		if err := tx.QueryRowContext(ctx, `SELECT max(100000, coalesce(max(srs_id),0)+1) FROM gpkg_spatial_ref_sys`).Scan(&id); err != nil {
			return 0, err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO gpkg_spatial_ref_sys VALUES (?,?,'NONE',?,?,'from service WKT')`, fmt.Sprintf("custom %d", id), id, id, sr.WKT)
		return id, err
	}
	return -1, nil
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// tableNameFor derives a safe, unique table name from a layer name.
func tableNameFor(ctx context.Context, tx *sql.Tx, l *arcgis.Layer) (string, error) {
	base := strings.Trim(nonIdent.ReplaceAllString(l.Name, "_"), "_")
	if base == "" || strings.HasPrefix(strings.ToLower(base), "gpkg") || strings.HasPrefix(strings.ToLower(base), "offlined") ||
		strings.HasPrefix(strings.ToLower(base), "rtree") || strings.HasPrefix(strings.ToLower(base), "sqlite") || (base[0] >= '0' && base[0] <= '9') {
		base = fmt.Sprintf("layer%d_%s", l.ID, base)
		base = strings.TrimRight(base, "_")
	}
	name := base
	for i := 1; ; i++ {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE lower(name)=lower(?)`, name).Scan(&n); err != nil {
			return "", err
		}
		if n == 0 {
			return name, nil
		}
		name = fmt.Sprintf("%s_%d", base, i)
	}
}

// CreateLayer creates the table for a service layer or table: columns for
// every field, the geometry column and RTree index, data-column aliases and
// domain constraints, the change-log triggers and, when the layer has
// attachments, the media table. raw is the layer JSON as the service sent
// it (kept verbatim); when nil, l is marshalled. A layer whose id already
// has a table is evolved instead (see Evolve).
func (db *DB) CreateLayer(ctx context.Context, l *arcgis.Layer, raw json.RawMessage) (*Table, error) {
	if t := db.TableByID(l.ID); t != nil {
		return t, db.Evolve(ctx, l, raw)
	}
	var t *Table
	err := db.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = createLayerTx(ctx, tx, l, raw)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create layer %d %q: %w", l.ID, l.Name, err)
	}
	db.mu.Lock()
	db.tables[t.Name] = t
	db.byID[t.LayerID] = t
	db.mu.Unlock()
	return t, nil
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

func createLayerTx(ctx context.Context, tx *sql.Tx, l *arcgis.Layer, raw json.RawMessage) (*Table, error) {
	t, err := newTable(l)
	if err != nil {
		return nil, err
	}
	if t.Name, err = tableNameFor(ctx, tx, l); err != nil {
		return nil, err
	}
	if t.GeomCol != "" {
		sr := l.SpatialReference
		if sr == nil && l.Extent != nil {
			sr = l.Extent.SpatialReference
		}
		if t.SRSID, err = srsFor(ctx, tx, sr); err != nil {
			return nil, fmt.Errorf("spatial reference: %w", err)
		}
	}
	var cols []string
	for i := range t.Cols {
		cols = append(cols, columnDDL(&t.Cols[i]))
	}
	if t.GeomCol != "" {
		cols = append(cols[:1], append([]string{qid(t.GeomCol) + " " + t.GeomType.String()}, cols[1:]...)...)
	}
	stmts := []string{
		fmt.Sprintf("CREATE TABLE %s (%s)", qid(t.Name), strings.Join(cols, ", ")),
		fmt.Sprintf("CREATE UNIQUE INDEX %s ON %s(%s)", qid(t.Name+"_gid"), qid(t.Name), qid(t.GIDCol)),
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	dataType := "attributes"
	if t.GeomCol != "" {
		dataType = "features"
	}
	ident := l.Name
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM gpkg_contents WHERE identifier=?`, ident).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 || ident == "" {
		ident = t.Name
	}
	var srs any
	if t.GeomCol != "" {
		srs = t.SRSID
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) VALUES (?,?,?,?,?)`,
		t.Name, dataType, ident, l.Description, srs); err != nil {
		return nil, fmt.Errorf("register contents: %w", err)
	}
	if t.GeomCol != "" {
		z, m := 0, 0
		if t.HasZ {
			z = 1
		}
		if t.HasM {
			m = 1
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO gpkg_geometry_columns VALUES (?,?,?,?,?,?)`, t.Name, t.GeomCol, t.GeomType.String(), t.SRSID, z, m); err != nil {
			return nil, fmt.Errorf("register geometry column: %w", err)
		}
		if err := createRTree(ctx, tx, t); err != nil {
			return nil, err
		}
	}
	for i := range t.Cols {
		if err := dataColumnTx(ctx, tx, t, &t.Cols[i]); err != nil {
			return nil, err
		}
	}
	if l.HasAttachments {
		if err := createAttachTable(ctx, tx, t); err != nil {
			return nil, err
		}
	}
	if err := createChangeTriggers(ctx, tx, t); err != nil {
		return nil, err
	}
	if err := saveLayerTx(ctx, tx, t, raw); err != nil {
		return nil, err
	}
	return t, nil
}

func saveLayerTx(ctx context.Context, tx *sql.Tx, t *Table, raw json.RawMessage) error {
	if raw == nil {
		b, err := json.Marshal(&t.Layer)
		if err != nil {
			return err
		}
		raw = b
	}
	var attach any
	if t.AttachTable != "" {
		attach = t.AttachTable
	}
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO gpkgext_offlined_layers (layer_id, table_name, layer_json, attach_table) VALUES (?,?,?,?)`,
		t.LayerID, t.Name, string(raw), attach)
	return err
}

func dataColumnTx(ctx context.Context, tx *sql.Tx, t *Table, c *Column) error {
	var cname any
	if d := c.Field.Domain; d != nil && d.Name != "" && (len(d.CodedValues) > 0 || len(d.Range) == 2) {
		cname = d.Name
		if len(d.CodedValues) > 0 {
			for _, cv := range d.CodedValues {
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO gpkg_data_column_constraints (constraint_name, constraint_type, value, description) VALUES (?, 'enum', ?, ?)`,
					d.Name, fmt.Sprint(cv.Code), cv.Name); err != nil {
					return fmt.Errorf("domain %s: %w", d.Name, err)
				}
			}
		} else {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO gpkg_data_column_constraints (constraint_name, constraint_type, value, min, min_is_inclusive, max, max_is_inclusive, description) VALUES (?, 'range', NULL, ?, 1, ?, 1, ?)`,
				d.Name, d.Range[0], d.Range[1], d.Description); err != nil {
				return fmt.Errorf("domain %s: %w", d.Name, err)
			}
		}
	}
	var title any
	if c.Field.Alias != "" {
		title = c.Field.Alias
	}
	mime := any(nil)
	if c.kind == kXML {
		mime = "text/xml"
	}
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, description, mime_type, constraint_name) VALUES (?,?,?,?,NULL,?,?)`,
		t.Name, c.Name, c.Name, title, mime, cname)
	return err
}

// loadTables reads the table registry from offlined_layers.
func (db *DB) loadTables(ctx context.Context) error {
	rows, err := db.w.QueryContext(ctx, `SELECT layer_id, table_name, layer_json, attach_table FROM gpkgext_offlined_layers ORDER BY layer_id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	type rec struct {
		id       int
		name, js string
		attach   sql.NullString
	}
	var recs []rec
	for rows.Next() {
		var r rec
		if err := rows.Scan(&r.id, &r.name, &r.js, &r.attach); err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close() // the writer has one connection: free it before the next query
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
		err := db.writeTx(ctx, func(tx *sql.Tx) error { return finishBulk(ctx, tx, t, nil) })
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
