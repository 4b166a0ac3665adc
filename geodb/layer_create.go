package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// Creating the tables of service layers. The fixed schema is in schema/*.sql
// (see migrate.go); a layer's table, RTree, triggers and media tables depend
// on its fields and are written here.

// wkt3857 is the gpkg_spatial_ref_sys definition of EPSG:3857.
const wkt3857 = `PROJCS["WGS 84 / Pseudo-Mercator",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]],PROJECTION["Mercator_1SP"],PARAMETER["central_meridian",0],PARAMETER["scale_factor",1],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],EXTENSION["PROJ4","+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs"],AUTHORITY["EPSG","3857"]]`

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
