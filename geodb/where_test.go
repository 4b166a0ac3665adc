package geodb

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func whereTable(t testing.TB) *Table {
	t.Helper()
	ls, _ := readLayers(t)
	tb, err := newTable(&ls[0])
	if err != nil {
		t.Fatal(err)
	}
	tb.Name = "All_Types"
	return tb
}

func TestCompileWhere(t *testing.T) {
	tb := whereTable(t)
	cases := []struct {
		in   string
		sql  string
		args []any
	}{
		{"", "1=1", nil},
		{"1=1", "? = ?", []any{int64(1), int64(1)}},
		{"name = 'a''b'", `"name" = ?`, []any{"a'b"}},
		{"priority >= 2 AND (status <> 'open' OR status IS NULL)", `"priority" >= ? AND ("status" <> ? OR "status" IS NULL)`, []any{int64(2), "open"}},
		{"NOT kind IN (1, 2)", `NOT "kind" IN (?, ?)`, []any{int64(1), int64(2)}},
		{"kind NOT IN (-1,2.5)", `"kind" NOT IN (?, ?)`, []any{int64(-1), 2.5}},
		{"UPPER(name) LIKE 'SITE%' ESCAPE '\\'", `UPPER("name") LIKE ? ESCAPE ?`, []any{"SITE%", `\`}},
		{"amount BETWEEN -1 AND 1e3", `"amount" BETWEEN ? AND ?`, []any{int64(-1), 1e3}},
		{"seen > DATE '2024-01-01'", `"seen" > ?`, []any{"2024-01-01T00:00:00.000Z"}},
		{"seen < TIMESTAMP '2024-01-01 10:00:00'", `"seen" < ?`, []any{"2024-01-01T10:00:00.000Z"}},
		{"seen <= 1700000000123", `"seen" <= ?`, []any{"2023-11-14T22:13:20.123Z"}},
		{"globalid = '{00000001-0000-4000-8000-000000000001}'", `"GlobalID" = ?`, []any{"{00000001-0000-4000-8000-000000000001}"}},
		{"All_Types.Name != 'x'", `"name" <> ?`, []any{"x"}},
		{`"status" IS NOT NULL`, `"status" IS NOT NULL`, nil},
	}
	for _, c := range cases {
		sql, args, err := CompileWhere(tb, c.in)
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if sql != c.sql || !reflect.DeepEqual(args, c.args) {
			t.Errorf("%q:\n got %s %v\nwant %s %v", c.in, sql, args, c.sql, c.args)
		}
	}
}

func TestCompileWhereErrors(t *testing.T) {
	tb := whereTable(t)
	cases := []struct {
		in     string
		reason error
		field  string
	}{
		{"nosuch = 1", ErrUnknownField, "nosuch"},
		{"name = 1; DROP TABLE All_Types", ErrWhere, ""},
		{"name = '' OR 1=1 --", ErrWhere, ""},
		{"name = 'x' UNION SELECT * FROM gpkg_contents", ErrWhere, ""},
		{"priority = 'abc'", ErrType, "priority"},
		{"name > 5", ErrType, "name"},
		{"seen = 'yesterday'", ErrType, "seen"},
		{"name = 'unterminated", ErrWhere, ""},
		{"(name = 'a'", ErrWhere, ""},
		{"name = NULL", ErrWhere, ""},
		{"name LIKE priority", ErrType, ""},
		{"sqlite_version() = 1", ErrWhere, ""},
		{"name IN ()", ErrWhere, ""},
		{strings.Repeat("(", 500) + "1=1" + strings.Repeat(")", 500), ErrWhere, ""},
	}
	for _, c := range cases {
		_, _, err := CompileWhere(tb, c.in)
		var we *WhereError
		if !errors.As(err, &we) || !errors.Is(err, ErrWhere) || !errors.Is(err, c.reason) {
			t.Errorf("%q: err = %v, want %v", c.in, err, c.reason)
			continue
		}
		if c.field != "" && !strings.EqualFold(we.Field, c.field) {
			t.Errorf("%q: field %q, want %q", c.in, we.Field, c.field)
		}
	}
}

// Bad where clauses against a real database: typed error, nothing changed.
func TestWhereInjectionLeavesDBUnchanged(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	before := dbDigest(t, db)
	for _, w := range []string{
		"1=1; DELETE FROM All_Types",
		"name = 'x'); DROP TABLE All_Types; --",
		"name = 'x' OR 1=1) UNION SELECT sql FROM sqlite_master --",
		"nosuch = 1",
		"priority = 'one'",
		"name = 'a' AND load_extension('x') = 1",
	} {
		_, err := db.Features(ctx, Query{LayerID: 0, Where: w})
		if !errors.Is(err, ErrWhere) {
			t.Errorf("%q: err = %v, want ErrWhere", w, err)
		}
		if _, err := db.Count(ctx, Query{LayerID: 0, Where: w}); !errors.Is(err, ErrWhere) {
			t.Errorf("count %q: err = %v", w, err)
		}
	}
	// A literal holding SQL is just a string.
	n, err := db.Count(ctx, Query{LayerID: 0, Where: "name = 'x''; DELETE FROM All_Types; --'"})
	if err != nil || n != 0 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	if after := dbDigest(t, db); after != before {
		t.Fatal("database changed")
	}
}

func FuzzWhere(f *testing.F) {
	for _, s := range []string{"1=1", "name = 'a''b'", "priority >= 2 AND (status <> 'open' OR status IS NULL)",
		"NOT kind IN (1, 2)", "UPPER(name) LIKE 'S%'", "amount BETWEEN -1 AND 1e3", "seen > DATE '2024-01-01'",
		"name = 1; DROP TABLE x", `"status" IS NOT NULL`, "kind NOT BETWEEN 1 AND 2"} {
		f.Add(s)
	}
	tb := whereTable(f)
	f.Fuzz(func(t *testing.T, w string) {
		sql, args, err := CompileWhere(tb, w)
		if err != nil {
			if !errors.Is(err, ErrWhere) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Output never contains the input's literals or separators verbatim:
		// only quoted schema names, operators, keywords and placeholders.
		if strings.ContainsAny(sql, ";'") || strings.Contains(sql, "--") {
			t.Fatalf("unsafe SQL %q from %q", sql, w)
		}
		if strings.Count(sql, "?") != len(args) {
			t.Fatalf("%d placeholders, %d args: %q", strings.Count(sql, "?"), len(args), sql)
		}
		for _, word := range strings.FieldsFunc(sql, func(r rune) bool { return strings.ContainsRune(" (),?=<>", r) }) {
			if strings.HasPrefix(word, `"`) {
				if tb.Col(strings.Trim(word, `"`)) == nil {
					t.Fatalf("unknown column %s in %q", word, sql)
				}
				continue
			}
			switch word {
			case "AND", "OR", "NOT", "IN", "LIKE", "ESCAPE", "IS", "NULL", "BETWEEN", "UPPER", "LOWER", "1=1", "1":
			default:
				t.Fatalf("unexpected word %q in %q", word, sql)
			}
		}
	})
}
