package geodb

import (
	"context"
	"database/sql"
	"fmt"
)

// rtreeName is the R*Tree spatial index table of t (gpkg_rtree_index).
func rtreeName(t *Table) string { return "rtree_" + t.Name + "_" + t.GeomCol }

func createRTree(ctx context.Context, tx *sql.Tx, t *Table) error {
	rt := rtreeName(t)
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("CREATE VIRTUAL TABLE %s USING rtree(id, minx, maxx, miny, maxy)", qid(rt))); err != nil {
		return fmt.Errorf("create rtree: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO gpkg_extensions VALUES (?,?,'gpkg_rtree_index','http://www.geopackage.org/spec120/#extension_rtree','write-only')`, t.Name, t.GeomCol); err != nil {
		return err
	}
	return createRTreeTriggers(ctx, tx, t)
}

// rtreeTriggerSQL returns the GeoPackage 1.2/1.3 RTree trigger set.
func rtreeTriggerSQL(t *Table) []string {
	T, C, I, R := qid(t.Name), qid(t.GeomCol), qid(t.OIDCol), qid(rtreeName(t))
	vals := fmt.Sprintf("(NEW.%[1]s, ST_MinX(NEW.%[2]s), ST_MaxX(NEW.%[2]s), ST_MinY(NEW.%[2]s), ST_MaxY(NEW.%[2]s))", I, C)
	n := func(s string) string { return qid(rtreeName(t) + "_" + s) }
	return []string{
		fmt.Sprintf("CREATE TRIGGER %s AFTER INSERT ON %s WHEN (new.%s NOT NULL AND NOT ST_IsEmpty(NEW.%s)) BEGIN INSERT OR REPLACE INTO %s VALUES %s; END", n("insert"), T, C, C, R, vals),
		fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE OF %s ON %s WHEN OLD.%s = NEW.%s AND (NEW.%s NOTNULL AND NOT ST_IsEmpty(NEW.%s)) BEGIN INSERT OR REPLACE INTO %s VALUES %s; END", n("update1"), C, T, I, I, C, C, R, vals),
		fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE OF %s ON %s WHEN OLD.%s = NEW.%s AND (NEW.%s ISNULL OR ST_IsEmpty(NEW.%s)) BEGIN DELETE FROM %s WHERE id = OLD.%s; END", n("update2"), C, T, I, I, C, C, R, I),
		fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE ON %s WHEN OLD.%s != NEW.%s AND (NEW.%s NOTNULL AND NOT ST_IsEmpty(NEW.%s)) BEGIN DELETE FROM %s WHERE id = OLD.%s; INSERT OR REPLACE INTO %s VALUES %s; END", n("update3"), T, I, I, C, C, R, I, R, vals),
		fmt.Sprintf("CREATE TRIGGER %s AFTER UPDATE ON %s WHEN OLD.%s != NEW.%s AND (NEW.%s ISNULL OR ST_IsEmpty(NEW.%s)) BEGIN DELETE FROM %s WHERE id IN (OLD.%s, NEW.%s); END", n("update4"), T, I, I, C, C, R, I, I),
		fmt.Sprintf("CREATE TRIGGER %s AFTER DELETE ON %s WHEN old.%s NOT NULL BEGIN DELETE FROM %s WHERE id = OLD.%s; END", n("delete"), T, C, R, I),
	}
}

var rtreeTriggerSuffixes = []string{"insert", "update1", "update2", "update3", "update4", "delete"}

func createRTreeTriggers(ctx context.Context, tx *sql.Tx, t *Table) error {
	return execAll(ctx, tx, "create rtree trigger", rtreeTriggerSQL(t)...)
}

func dropRTreeTriggers(ctx context.Context, tx *sql.Tx, t *Table) error {
	return dropTriggers(ctx, tx, rtreeName(t)+"_", rtreeTriggerSuffixes...)
}

// fillRTree rebuilds the RTree of t from its geometry column.
func fillRTree(ctx context.Context, tx *sql.Tx, t *Table) error {
	C := qid(t.GeomCol)
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s`, qid(rtreeName(t))))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`INSERT OR REPLACE INTO %s SELECT %s, ST_MinX(%s), ST_MaxX(%s), ST_MinY(%s), ST_MaxY(%s) FROM %s WHERE %s NOT NULL AND NOT ST_IsEmpty(%s)`,
		qid(rtreeName(t)), qid(t.OIDCol), C, C, C, C, qid(t.Name), C, C))
	if err != nil {
		return fmt.Errorf("fill rtree: %w", err)
	}
	return nil
}

// updateExtent sets gpkg_contents' extent and last_change for t.
func updateExtent(ctx context.Context, tx *sql.Tx, t *Table) error {
	if t.GeomCol == "" {
		_, err := tx.ExecContext(ctx, `UPDATE gpkg_contents SET last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name=?`, t.Name)
		return err
	}
	// Read through the geometry envelopes rather than the float32 RTree.
	C := qid(t.GeomCol)
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE gpkg_contents SET last_change=strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ','now'),
	  min_x=(SELECT min(ST_MinX(%[1]s)) FROM %[2]s), max_x=(SELECT max(ST_MaxX(%[1]s)) FROM %[2]s),
	  min_y=(SELECT min(ST_MinY(%[1]s)) FROM %[2]s), max_y=(SELECT max(ST_MaxY(%[1]s)) FROM %[2]s) WHERE table_name=?`, C, qid(t.Name)), t.Name)
	return err
}
