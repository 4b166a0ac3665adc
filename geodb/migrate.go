package geodb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// The schema lives in schema/NNNN_name.sql: file N brings a store from
// version N-1 to version N. Migrations are applied in order, all in one
// transaction, when a store is opened, and the version is recorded in
// gpkgext_offlined_meta under SchemaVersionKey. To change the schema, add the next
// numbered file; never edit one that has shipped.
//
//go:embed schema/*.sql
var schemaFiles embed.FS

// SchemaVersionKey is the gpkgext_offlined_meta key holding the store's schema
// version. Stores made before versioning have none and hold version 1's
// schema, which is written idempotently so it is simply applied again.
const SchemaVersionKey = "offlined_schema_version"

// ErrSchemaTooNew is returned by Open for a store whose schema version is
// newer than this program knows (written by a later offlined).
var ErrSchemaTooNew = errors.New("the GeoPackage's schema is newer than this version of offlined supports")

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded schema files in version order; the
// numbers must run 1, 2, 3, … without gaps.
func migrations() ([]migration, error) { return loadMigrations(schemaFiles) }

func loadMigrations(fsys fs.FS) ([]migration, error) {
	ents, err := fs.ReadDir(fsys, "schema")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range ents {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("schema file %s: name must be NNNN_description.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, path.Join("schema", e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("schema file %s: expected version %d", m.name, i+1)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this program writes.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// initSchema marks the file as a GeoPackage 1.3 (application_id "GPKG",
// user_version 10300) and brings its schema to the latest version.
func (db *DB) initSchema(ctx context.Context) error {
	for _, p := range []string{"PRAGMA application_id=1196444487", "PRAGMA user_version=10300"} {
		if _, err := db.w.ExecContext(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return db.migrate(ctx)
}

// migrate brings the store to the latest schema version.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return db.migrateTo(ctx, ms)
}

// migrateTo applies the migrations of ms the store lacks, in one
// transaction: on error the store is left as it was.
func (db *DB) migrateTo(ctx context.Context, ms []migration) error {
	return db.writeTx(ctx, func(tx *sql.Tx) error {
		cur, err := schemaVersionTx(ctx, tx)
		if err != nil {
			return err
		}
		if cur > len(ms) {
			return fmt.Errorf("%w (store version %d, supported %d)", ErrSchemaTooNew, cur, len(ms))
		}
		for _, m := range ms[cur:] {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("schema migration %s: %w", m.name, err)
			}
			meta, err := metaTableTx(ctx, tx)
			if err != nil {
				return fmt.Errorf("schema migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+meta+`(key, value) VALUES (?, ?)
				ON CONFLICT(key) DO UPDATE SET value = excluded.value`, SchemaVersionKey, strconv.Itoa(m.version)); err != nil {
				return fmt.Errorf("schema migration %s: record version: %w", m.name, err)
			}
		}
		return nil
	})
}

// schemaVersionTx reads the recorded version; 0 for a new file or a store
// made before versioning.
func schemaVersionTx(ctx context.Context, tx *sql.Tx) (int, error) {
	meta, err := metaTableTx(ctx, tx)
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if meta == "" {
		return 0, nil
	}
	var v string
	err = tx.QueryRowContext(ctx, `SELECT value FROM `+meta+` WHERE key = ?`, SchemaVersionKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	ver, err := strconv.Atoi(v)
	if err != nil || ver < 0 {
		return 0, fmt.Errorf("schema version %q in gpkgext_offlined_meta is not a number", v)
	}
	return ver, nil
}

// metaTableTx names the store's meta table: gpkgext_offlined_meta from
// schema version 2 on, offlined_meta before; "" when there is none (a new
// file).
func metaTableTx(ctx context.Context, tx *sql.Tx) (string, error) {
	var name string
	err := tx.QueryRowContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name IN ('gpkgext_offlined_meta', 'offlined_meta') ORDER BY name LIMIT 1`).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return name, err
}
