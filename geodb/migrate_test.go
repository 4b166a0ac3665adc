package geodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// rawCounts returns the row count of every table of the file, opened with
// plain SQLite (no geodb, no migration).
func rawCounts(t *testing.T, path string) map[string]int {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	out := map[string]int{}
	for _, n := range tableNames(t, raw, "rtree_%") {
		var c int
		if err := raw.QueryRow(`SELECT count(*) FROM "` + n + `"`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		out[n] = c
	}
	return out
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// testdata/v1-store.gpkg was written by geodb before schema versioning
// (the schema now numbered 1): it opens with its data unchanged and is
// recorded at the current version.
func TestOpenStoreMadeBeforeSchemaVersioning(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.gpkg")
	copyFile(t, "testdata/v1-store.gpkg", path)
	before := rawCounts(t, path)
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := db.Meta(ctx, SchemaVersionKey); err != nil || !ok || v != strconv.Itoa(SchemaVersion()) {
		t.Errorf("schema version %q %v %v, want %d", v, ok, err, SchemaVersion())
	}
	rep, err := db.Replica(ctx)
	if err != nil || rep == nil {
		t.Fatalf("replica of the old store: %v %v", rep, err)
	}
	if len(db.Tables()) == 0 {
		t.Fatal("no layers in the old store")
	}
	db.Close()
	after := rawCounts(t, path)
	for n, c := range before {
		want := c
		if strings.HasPrefix(n, "offlined_") {
			n = "gpkgext_" + n // renamed by schema version 2
		}
		if n == "gpkgext_offlined_meta" {
			want++ // the schema version
		}
		if after[n] != want {
			t.Errorf("table %s: %d rows after opening, want %d", n, after[n], want)
		}
	}
	if len(after) != len(before) {
		t.Errorf("tables %v after opening, want %v", after, before)
	}
}

func TestNewStoreSchema(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, "new.gpkg")
	if v, _, _ := db.Meta(ctx, SchemaVersionKey); v != strconv.Itoa(SchemaVersion()) || SchemaVersion() < 1 {
		t.Errorf("schema version %q, want %d", v, SchemaVersion())
	}
	var n int
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM gpkg_extensions WHERE extension_name = 'offlined_sync'`).Scan(&n); err != nil || n != 7 {
		t.Errorf("%d offlined tables registered as an extension (%v), want 7", n, err)
	}
	// Opening again changes nothing.
	path := db.Path()
	db.Close()
	before := rawCounts(t, path)
	db2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db2.Close()
	if after := rawCounts(t, path); len(after) != len(before) || after["gpkg_extensions"] != before["gpkg_extensions"] || after["gpkgext_offlined_meta"] != before["gpkgext_offlined_meta"] {
		t.Errorf("reopening changed the store: %v -> %v", before, after)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t, "newer.gpkg")
	if err := db.SetMeta(ctx, SchemaVersionKey, strconv.Itoa(SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	db.Close()
	if _, err := Open(ctx, path, Options{}); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer store: %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationsInOrderInOneTransaction(t *testing.T) {
	ctx := context.Background()
	base, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for _, m := range base {
		fsys["schema/"+m.name] = &fstest.MapFile{Data: []byte(m.sql)}
	}
	nb := len(base)
	notes, fill := nb+1, nb+2
	fsys[fmt.Sprintf("schema/%04d_notes.sql", notes)] = &fstest.MapFile{Data: []byte(`CREATE TABLE offlined_notes (id INTEGER PRIMARY KEY, body TEXT);`)}
	fsys[fmt.Sprintf("schema/%04d_fill.sql", fill)] = &fstest.MapFile{Data: []byte(`INSERT INTO offlined_notes (body) VALUES ('after notes');`)}
	ms, err := loadMigrations(fsys)
	if err != nil || len(ms) != fill || ms[notes-1].version != notes {
		t.Fatalf("loadMigrations: %+v %v", ms, err)
	}
	db := openTemp(t, "m.gpkg")
	if err := db.migrateTo(ctx, ms); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM offlined_notes`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("notes %d %v", n, err)
	}
	if v, _, _ := db.Meta(ctx, SchemaVersionKey); v != strconv.Itoa(fill) {
		t.Errorf("version %q, want %d", v, fill)
	}
	// A failing migration leaves the store at the version it had.
	bad := append(ms, migration{version: fill + 1, name: "bad.sql", sql: `CREATE TABLE offlined_x (a); INSERT INTO nosuchtable VALUES (1);`})
	if err := db.migrateTo(ctx, bad); err == nil {
		t.Fatal("a failing migration succeeded")
	}
	if v, _, _ := db.Meta(ctx, SchemaVersionKey); v != strconv.Itoa(fill) {
		t.Errorf("version %q after a failed migration, want %d", v, fill)
	}
	if err := db.w.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'offlined_x'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the failed migration's first statement was kept")
	}
	// Gaps and bad names are refused.
	for name, f := range map[string]fstest.MapFS{
		"gap":  {"schema/0001_a.sql": {}, "schema/0003_c.sql": {}},
		"name": {"schema/base.sql": {}},
	} {
		if _, err := loadMigrations(f); err == nil {
			t.Errorf("%s: loadMigrations accepted it", name)
		}
	}
}
