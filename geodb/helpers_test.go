package geodb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	return t.Context()
}

// openTemp opens a fresh GeoPackage in t.TempDir.
func openTemp(t *testing.T, name string) *DB {
	t.Helper()
	db, err := Open(testCtx(t), filepath.Join(t.TempDir(), name), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func readLayers(t testing.TB) ([]arcgis.Layer, []json.RawMessage) {
	t.Helper()
	b, err := os.ReadFile("testdata/layers.json")
	if err != nil {
		t.Fatal(err)
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(b, &raws); err != nil {
		t.Fatal(err)
	}
	ls := make([]arcgis.Layer, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &ls[i]); err != nil {
			t.Fatal(err)
		}
	}
	return ls, raws
}

// layersDB opens a fresh GeoPackage named name with all testdata layers
// created and no rows.
func layersDB(t *testing.T, name string) *DB {
	t.Helper()
	db := openTemp(t, name)
	ls, raws := readLayers(t)
	for i := range ls {
		if _, err := db.CreateLayer(testCtx(t), &ls[i], raws[i]); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

// loadedDB creates all testdata layers and loads testdata/replica.json.
func loadedDB(t *testing.T) *DB {
	t.Helper()
	ctx := testCtx(t)
	db := layersDB(t, "test.gpkg")
	f, err := os.Open("testdata/replica.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, st, err := db.LoadReplica(ctx, f, LoadOptions{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveReplica(ctx, rep); err != nil {
		t.Fatal(err)
	}
	if st.Features != 11 || st.Attachments != 1 {
		t.Fatalf("load stats = %+v, want 11 features and 1 attachment", st)
	}
	return db
}

// validate runs GDAL's validate_gpkg.py (skips when GDAL is absent).
func validate(t *testing.T, db *DB) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3 (python3-gdal)")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import osgeo_utils.samples.validate_gpkg").Run(); err != nil {
		t.Skip("python3-gdal validate_gpkg not installed")
	}
	if err := db.Checkpoint(testCtx(t), false); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("/usr/bin/python3", "-m", "osgeo_utils.samples.validate_gpkg", "-k", "--extra", db.Path()).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("validate_gpkg %s: %v\n%s", db.Path(), err, out)
	}
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// dbDigest hashes every user-visible row of every table (a dump).
func dbDigest(t *testing.T, db *DB) string {
	t.Helper()
	ctx := testCtx(t)
	h := sha256.New()
	for _, n := range tableNames(t, db.r, "") {
		rs, err := db.r.QueryContext(ctx, "SELECT * FROM "+qid(n))
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rs.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rs.Next() {
			rs.Scan(ptrs...)
			b, _ := json.Marshal(vals)
			h.Write([]byte(n))
			h.Write(b)
		}
		rs.Close()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// tableNames lists the tables of a SQLite database by name, but for
// sqlite_* and, unless skip is "", those whose name is LIKE skip.
func tableNames(t *testing.T, q *sql.DB, skip string) []string {
	t.Helper()
	rows, err := q.Query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND (?1 = '' OR name NOT LIKE ?1) ORDER BY name`, skip)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// canon re-encodes JSON with numbers kept exact for comparison.
func canon(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		t.Fatal(err)
	}
	return normNumbers(out)
}

// normNumbers turns json.Numbers into their float text unless integral.
func normNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normNumbers(e)
		}
	case json.Number:
		s := x.String()
		if !strings.ContainsAny(s, ".eE") {
			return s
		}
		f, _ := x.Float64()
		b, _ := json.Marshal(f)
		return string(b)
	}
	return v
}

func isFieldErr(err error, field string, reason error) bool {
	var fe *FieldError
	return errors.As(err, &fe) && strings.EqualFold(fe.Field, field) && errors.Is(err, reason)
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
