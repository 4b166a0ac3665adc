-- Schema version 1: the GeoPackage 1.3 base tables and offlined's sync
-- bookkeeping. Written idempotently (IF NOT EXISTS, OR IGNORE) because
-- stores made before schema versioning hold this schema without a version
-- and are brought to version 1 by running it again.

CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
  organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);

CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
  identifier TEXT UNIQUE, description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));

CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));

CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
  definition TEXT NOT NULL, scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));

CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT,
  CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE (table_name, name));

CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (constraint_name TEXT NOT NULL,
  constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC,
  max_is_inclusive BOOLEAN, description TEXT,
  CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value));

INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES ('Undefined Cartesian SRS',-1,'NONE',-1,'undefined','undefined Cartesian coordinate reference system');

INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES ('Undefined geographic SRS',0,'NONE',0,'undefined','undefined geographic coordinate reference system');

INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic',4326,'EPSG',4326,'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]','longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');

INSERT INTO gpkg_extensions SELECT 'gpkg_data_columns', NULL, 'gpkg_schema', 'http://www.geopackage.org/spec/#extension_schema', 'read-write' WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = 'gpkg_data_columns' AND column_name IS NULL AND extension_name = 'gpkg_schema');

-- offlined's bookkeeping (DESIGN.md §4).
INSERT INTO gpkg_extensions SELECT 'gpkg_data_column_constraints', NULL, 'gpkg_schema', 'http://www.geopackage.org/spec/#extension_schema', 'read-write' WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions WHERE table_name = 'gpkg_data_column_constraints' AND column_name IS NULL AND extension_name = 'gpkg_schema');

CREATE TABLE IF NOT EXISTS offlined_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS offlined_layers (layer_id INTEGER PRIMARY KEY, table_name TEXT NOT NULL UNIQUE,
  layer_json TEXT NOT NULL, attach_table TEXT);

CREATE TABLE IF NOT EXISTS offlined_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL,
  globalid TEXT, op TEXT NOT NULL, old_values TEXT,
  changed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));

CREATE INDEX IF NOT EXISTS offlined_changes_gid ON offlined_changes(table_name, globalid);

CREATE TABLE IF NOT EXISTS offlined_control (name TEXT PRIMARY KEY, value TEXT);

CREATE TABLE IF NOT EXISTS offlined_conflicts (id INTEGER PRIMARY KEY AUTOINCREMENT, table_name TEXT NOT NULL,
  globalid TEXT NOT NULL, local_op TEXT NOT NULL, server_op TEXT NOT NULL, local_version TEXT, server_version TEXT,
  resolution TEXT NOT NULL, detected_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')));

CREATE TABLE IF NOT EXISTS offlined_server_gens (layer_id INTEGER PRIMARY KEY, server_gen INTEGER NOT NULL,
  server_sib_gen INTEGER NOT NULL DEFAULT 0);

CREATE TABLE IF NOT EXISTS offlined_attachment_chunks (id INTEGER PRIMARY KEY, media_table TEXT NOT NULL,
  media_id INTEGER NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, UNIQUE (media_table, media_id, seq));

-- The offlined tables are registered as a GeoPackage extension.
INSERT INTO gpkg_extensions (table_name, column_name, extension_name, definition, scope)
SELECT t.column1, NULL, 'offlined_sync', 'https://github.com/offlined/offlined/blob/main/DESIGN.md#4-geodb-geopackage-plus-sync-bookkeeping', 'read-write'
FROM (VALUES
  ('offlined_meta'),
  ('offlined_layers'),
  ('offlined_changes'),
  ('offlined_control'),
  ('offlined_conflicts'),
  ('offlined_server_gens'),
  ('offlined_attachment_chunks')) AS t
WHERE NOT EXISTS (SELECT 1 FROM gpkg_extensions e
  WHERE e.table_name = t.column1 AND e.column_name IS NULL AND e.extension_name = 'offlined_sync');
