-- Schema version 2: the bookkeeping tables are renamed gpkgext_offlined_*
-- so that GDAL and QGIS list only the user's layers and tables.
--
-- Why this mechanism (docs/geopackage.md has the details):
--  * GDAL (3.6) lists every table outside gpkg_contents whose name does not
--    match 'gpkg_%', 'vgpkg_%', 'rtree_%' or 'sqlite_%' (SQL LIKE) whenever
--    the file has no 'attributes' row in gpkg_contents, and always when
--    opened with LIST_ALL_TABLES=YES, which QGIS's sub-layer query passes.
--    Keeping the tables out of gpkg_contents alone therefore left them
--    visible in QGIS.
--  * Registering them in gpkg_contents with an extension-defined data_type
--    (allowed since GeoPackage 1.2) would hide them, but GDAL's
--    validate_gpkg.py rejects data types other than features, attributes,
--    tiles and 2d-gridded-coverage.
--  * The 'gpkgext_' prefix is the one the GeoPackage community extensions
--    use for the tables of a registered extension (gpkgext_relations), and
--    GDAL's 'gpkg_%' pattern covers it.
-- The extension's scope becomes write-only: readers may read these tables
-- without knowing the extension; only writers must implement it.
--
-- ALTER TABLE ... RENAME also rewrites the change-log triggers on the user
-- tables that write to these tables.

ALTER TABLE offlined_meta RENAME TO gpkgext_offlined_meta;
ALTER TABLE offlined_layers RENAME TO gpkgext_offlined_layers;
ALTER TABLE offlined_changes RENAME TO gpkgext_offlined_changes;
ALTER TABLE offlined_control RENAME TO gpkgext_offlined_control;
ALTER TABLE offlined_conflicts RENAME TO gpkgext_offlined_conflicts;
ALTER TABLE offlined_server_gens RENAME TO gpkgext_offlined_server_gens;
ALTER TABLE offlined_attachment_chunks RENAME TO gpkgext_offlined_attachment_chunks;

UPDATE gpkg_extensions SET table_name = 'gpkgext_' || table_name, scope = 'write-only'
WHERE extension_name = 'offlined_sync' AND table_name LIKE 'offlined\_%' ESCAPE '\';
