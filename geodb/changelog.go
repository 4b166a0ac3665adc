package geodb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// Op is a change-log operation.
type Op string

// Change-log operations.
const (
	OpInsert Op = "insert"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Change is one row of the change log. OldValues holds the row's values
// before an update or delete (geometry and BLOBs hex-encoded), as written by
// the trigger; it is nil for inserts.
type Change struct {
	Seq     int64
	Table   string
	LayerID int // the layer the table (or attachment table) belongs to; -1 if none
	// Attachment is true for rows of a layer's attachment (media) table;
	// GlobalID is then the attachment's.
	Attachment bool
	GlobalID   string
	Op         Op
	OldValues  json.RawMessage
	ChangedAt  string
}

// gidExpr generates a registry-form GlobalID in SQL: a version-4 UUID in
// upper case with braces.
const gidExpr = `'{' || hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)),2) || '-' ||
 substr('89AB', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)),2) || '-' || hex(randomblob(6)) || '}'`

const notSuppressed = `NOT EXISTS (SELECT 1 FROM gpkgext_offlined_control WHERE name = 'suppress_changes')`

// oldValuesExpr builds json of OLD.* with plain SQL functions. json_object
// is limited in argument count, so wide tables are built by json_set chains.
func oldValuesExpr(t *Table) string {
	type kv struct{ name, val string }
	var pairs []kv
	for _, c := range t.Cols {
		v := "OLD." + qid(c.Name)
		if c.kind == kBlob {
			v = "hex(" + v + ")"
		}
		pairs = append(pairs, kv{c.Name, v})
	}
	if t.GeomCol != "" {
		pairs = append(pairs, kv{t.GeomCol, "hex(OLD." + qid(t.GeomCol) + ")"})
	}
	const per = 50
	var obj []string
	for _, p := range pairs[:min(per, len(pairs))] {
		obj = append(obj, qstr(p.name)+", "+p.val)
	}
	expr := "json_object(" + strings.Join(obj, ", ") + ")"
	for i := per; i < len(pairs); i += per {
		var set []string
		for _, p := range pairs[i:min(i+per, len(pairs))] {
			set = append(set, qstr(`$."`+p.name+`"`)+", "+p.val)
		}
		expr = "json_set(" + expr + ", " + strings.Join(set, ", ") + ")"
	}
	return expr
}

func changeTriggerSQL(t *Table) []string {
	T, I, G := qid(t.Name), qid(t.OIDCol), qid(t.GIDCol)
	n := func(s string) string { return qid("offlined_" + t.Name + "_" + s) }
	return []string{
		fmt.Sprintf(`CREATE TRIGGER %s AFTER INSERT ON %s BEGIN
 UPDATE %s SET %s = %s WHERE %s = NEW.%s AND NEW.%s IS NULL;
 INSERT INTO gpkgext_offlined_changes (table_name, globalid, op) SELECT %s, %s, 'insert' FROM %s WHERE %s = NEW.%s AND %s;
END`, n("ins"), T, T, G, gidExpr, I, I, G, qstr(t.Name), G, T, I, I, notSuppressed),
		fmt.Sprintf(`CREATE TRIGGER %s AFTER UPDATE ON %s WHEN OLD.%s IS NOT NULL AND %s BEGIN
 INSERT INTO gpkgext_offlined_changes (table_name, globalid, op, old_values) VALUES (%s, OLD.%s, 'update', %s);
END`, n("upd"), T, G, notSuppressed, qstr(t.Name), G, oldValuesExpr(t)),
		fmt.Sprintf(`CREATE TRIGGER %s AFTER DELETE ON %s WHEN OLD.%s IS NOT NULL AND %s BEGIN
 INSERT INTO gpkgext_offlined_changes (table_name, globalid, op, old_values) VALUES (%s, OLD.%s, 'delete', %s);
END`, n("del"), T, G, notSuppressed, qstr(t.Name), G, oldValuesExpr(t)),
	}
}

func createChangeTriggers(ctx context.Context, tx *sql.Tx, t *Table) error {
	return execAll(ctx, tx, "create change trigger", changeTriggerSQL(t)...)
}

func dropChangeTriggers(ctx context.Context, tx *sql.Tx, t *Table) error {
	return dropTriggers(ctx, tx, "offlined_"+t.Name+"_", "ins", "upd", "del")
}

// startBulk drops the RTree and change triggers of t for a bulk load.
func startBulk(ctx context.Context, tx *sql.Tx, t *Table) error {
	if t.GeomCol != "" {
		if err := dropRTreeTriggers(ctx, tx, t); err != nil {
			return err
		}
	}
	return dropChangeTriggers(ctx, tx, t)
}

// ensureGIDIndex (re)creates the unique GlobalID index a bulk load dropped.
// Duplicate GlobalIDs in the load keep the last row of each, as INSERT OR
// REPLACE with the index in place would have.
func ensureGIDIndex(ctx context.Context, tx *sql.Tx, t *Table) error {
	idx := fmt.Sprintf("CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s(%s)", qid(t.Name+"_gid"), qid(t.Name), qid(t.GIDCol))
	if _, err := tx.ExecContext(ctx, idx); err != nil {
		if _, derr := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %[1]s WHERE %[2]s IS NOT NULL AND %[3]s NOT IN (SELECT max(%[3]s) FROM %[1]s WHERE %[2]s IS NOT NULL GROUP BY %[2]s)",
			qid(t.Name), qid(t.GIDCol), qid(t.OIDCol))); derr != nil {
			return fmt.Errorf("GlobalID index: %w", err)
		}
		slog.Warn("geodb: duplicate GlobalIDs in bulk load, kept the last of each", "table", t.Name)
		if _, err := tx.ExecContext(ctx, idx); err != nil {
			return fmt.Errorf("GlobalID index: %w", err)
		}
	}
	return nil
}

// finishBulk rebuilds the RTree, recreates all triggers and updates extents.
// ext, when known, is the exact extent of all geometries (minx, miny, maxx,
// maxy); nil means compute it. collected, from a load (nil otherwise),
// spares the RTree build a scan of the table.
func finishBulk(ctx context.Context, tx *sql.Tx, t *Table, ext *[4]float64, collected *rtCollector) error {
	if err := startBulk(ctx, tx, t); err != nil {
		return err
	}
	if err := ensureGIDIndex(ctx, tx, t); err != nil {
		return err
	}
	if t.GeomCol != "" {
		if err := bulkFillRTree(ctx, tx, t, ext, defaultRunSize, collected); err != nil {
			return err
		}
		if err := createRTreeTriggers(ctx, tx, t); err != nil {
			return err
		}
	}
	if err := createChangeTriggers(ctx, tx, t); err != nil {
		return err
	}
	if ext != nil {
		_, err := tx.ExecContext(ctx, `UPDATE gpkg_contents SET last_change=strftime('%Y-%m-%dT%H:%M:%fZ','now'), min_x=?, min_y=?, max_x=?, max_y=? WHERE table_name=?`,
			ext[0], ext[1], ext[2], ext[3], t.Name)
		return err
	}
	return updateExtent(ctx, tx, t)
}

// suppress turns change logging off (on=true) or on inside tx. Other
// connections never see the row: it lives only inside this write
// transaction.
func suppress(ctx context.Context, tx *sql.Tx, on bool) error {
	var err error
	if on {
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO gpkgext_offlined_control (name, value) VALUES ('suppress_changes', '1')`)
	} else {
		_, err = tx.ExecContext(ctx, `DELETE FROM gpkgext_offlined_control WHERE name = 'suppress_changes'`)
	}
	return err
}

// Changes returns up to limit change-log rows with seq > after, oldest first.
func (db *DB) Changes(ctx context.Context, after int64, limit int) ([]Change, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := db.r.QueryContext(ctx, `SELECT seq, table_name, coalesce(globalid,''), op, old_values, changed_at FROM gpkgext_offlined_changes WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	tables := db.Tables()
	return scanRows(rows, func(rows *sql.Rows) (Change, error) {
		var c Change
		var old sql.NullString
		if err := rows.Scan(&c.Seq, &c.Table, &c.GlobalID, &c.Op, &old, &c.ChangedAt); err != nil {
			return c, fmt.Errorf("read change log: %w", err)
		}
		if old.Valid {
			c.OldValues = json.RawMessage(old.String)
		}
		c.LayerID = -1
		for _, t := range tables {
			switch c.Table {
			case t.Name:
				c.LayerID = t.LayerID
			case t.AttachTable:
				c.LayerID, c.Attachment = t.LayerID, true
			}
		}
		return c, nil
	})
}

// LastChangeSeq returns the newest change-log sequence number (0 if none).
func (db *DB) LastChangeSeq(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT max(seq) FROM gpkgext_offlined_changes`).Scan(&n)
	return n.Int64, err
}

// AckChanges deletes change-log rows with seq <= upTo (the server has them).
// Prefer ApplyServerChanges' AckThrough, which does it in the same
// transaction as storing new server generations.
func (db *DB) AckChanges(ctx context.Context, upTo int64) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM gpkgext_offlined_changes WHERE seq <= ?`, upTo)
		return err
	})
}
