package geodb

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// ogrLayers lists the layers ogrinfo shows for path with the given open
// options, and returns its stderr.
func ogrLayers(t *testing.T, path string, oo ...string) ([]string, string) {
	t.Helper()
	args := []string{"-ro", "-q"}
	for _, o := range oo {
		args = append(args, "-oo", o)
	}
	cmd := exec.Command(needTool(t, "ogrinfo"), append(args, path)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ogrinfo %s: %v\n%s", path, err, stderr.String())
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		// "1: name (Point)" or "1: name"
		_, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " (")
		names = append(names, strings.TrimSpace(name))
	}
	slices.Sort(names)
	return names, stderr.String()
}

// checkOnlyUserLayers asserts that GDAL lists exactly want, without a
// warning, both by default and with LIST_ALL_TABLES=YES (which QGIS's
// sub-layer query passes).
func checkOnlyUserLayers(t *testing.T, path string, want []string) {
	t.Helper()
	slices.Sort(want)
	for _, oo := range [][]string{nil, {"LIST_ALL_TABLES=YES"}} {
		got, stderr := ogrLayers(t, path, oo...)
		if !slices.Equal(got, want) {
			t.Errorf("ogrinfo %v lists %v, want %v", oo, got, want)
		}
		if strings.Contains(stderr, "Warning") || strings.Contains(stderr, "ERROR") {
			t.Errorf("ogrinfo %v warns:\n%s", oo, stderr)
		}
	}
}

// A store with feature layers only (no attributes row in gpkg_contents, so
// GDAL's AUTO listing looks at every table) and a store with tables and
// attachments: GDAL lists the user's layers and tables and nothing of the
// bookkeeping, and the file stays a valid GeoPackage.
func TestGDALListsOnlyUserLayers(t *testing.T) {
	ctx := testCtx(t)
	ls, raws := readLayers(t)

	featuresOnly := openTemp(t, "features.gpkg")
	if _, err := featuresOnly.CreateLayer(ctx, &ls[1], raws[1]); err != nil { // Pipes
		t.Fatal(err)
	}
	if err := featuresOnly.Checkpoint(ctx, false); err != nil {
		t.Fatal(err)
	}
	checkOnlyUserLayers(t, featuresOnly.Path(), []string{"Pipes"})
	validate(t, featuresOnly)

	full := loadedDB(t)
	if err := full.Checkpoint(ctx, false); err != nil {
		t.Fatal(err)
	}
	checkOnlyUserLayers(t, full.Path(), []string{"All_Types", "All_Types__ATTACH", "All_Types__ATTACHREL", "Empty_Zones", "Notes", "Parcels", "Pipes", "Wells"})
	validate(t, full)
}

// A store made before the bookkeeping was renamed is migrated: GDAL then
// lists only its user layers, and edits by another SQLite writer still land
// in the change log (the triggers were rewritten with the tables).
func TestOldStoreMigratesToHiddenBookkeeping(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "v1.gpkg")
	copyFile(t, "testdata/v1-store.gpkg", path)
	if before, _ := ogrLayers(t, path, "LIST_ALL_TABLES=YES"); !slices.ContainsFunc(before, func(s string) bool { return strings.HasPrefix(s, "offlined_") }) {
		t.Fatalf("testdata/v1-store.gpkg no longer shows the old bookkeeping tables (%v): the test proves nothing", before)
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var user []string
	for _, tb := range db.Tables() {
		user = append(user, tb.Name)
	}
	if err := db.Checkpoint(ctx, false); err != nil {
		t.Fatal(err)
	}
	checkOnlyUserLayers(t, path, append(user, attachTables(t, db)...))
	validate(t, db)

	before := pendingChanges(t, db)
	if out, err := runCmd(needTool(t, "sqlite3"), path, `PRAGMA busy_timeout=5000; INSERT INTO Notes (text) VALUES ('after migration');`); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, out)
	}
	if after := pendingChanges(t, db); after != before+1 {
		t.Errorf("change log %d -> %d after an sqlite3 insert into a migrated store, want one more", before, after)
	}
}

func attachTables(t *testing.T, db *DB) []string {
	t.Helper()
	rows, err := db.r.QueryContext(testCtx(t), `SELECT table_name FROM gpkg_contents WHERE data_type = 'attributes'
		UNION SELECT mapping_table_name FROM gpkgext_relations`)
	if err != nil {
		return nil // no attachments in this store
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		if !slices.ContainsFunc(db.Tables(), func(tb *Table) bool { return tb.Name == n }) {
			out = append(out, n)
		}
	}
	return out
}

func pendingChanges(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.r.QueryRowContext(testCtx(t), `SELECT count(*) FROM gpkgext_offlined_changes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
