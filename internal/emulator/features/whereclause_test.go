package features

import (
	"errors"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

var whereTestFields = []arcgis.Field{
	{Name: "OBJECTID", Type: arcgis.FieldOID},
	{Name: "GlobalID", Type: arcgis.FieldGlobalID},
	{Name: "Status", Type: arcgis.FieldString},
	{Name: "Priority", Type: arcgis.FieldSmallInteger},
	{Name: "Depth", Type: arcgis.FieldDouble},
	{Name: "InspectedOn", Type: arcgis.FieldDate},
	{Name: "Notes", Type: arcgis.FieldString},
	{Name: "AssetGUID", Type: arcgis.FieldGUID},
}

func TestWhereClause(t *testing.T) {
	row := map[string]any{
		"OBJECTID": int64(12), "GlobalID": "{AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE}", "Status": "open", "Priority": int64(3),
		"Depth": 2.5, "InspectedOn": int64(1718000000000), // 2024-06-10T06:13:20Z
		"Notes": nil, "AssetGUID": "{11111111-2222-4333-8444-555555555555}",
	}
	cases := []struct {
		where string
		want  bool
	}{
		{"", true},
		{"1=1", true},
		{"1=0", false},
		{"Status = 'open'", true},
		{"status='OPEN'", false},
		{"UPPER(status)='OPEN'", true},
		{"Status <> 'open'", false},
		{"Status != 'closed'", true},
		{"Priority > 2 AND Priority < 4", true},
		{"Priority >= 3 and priority <= 3", true},
		{"Priority > 3 OR Depth < 3", true},
		{"NOT Priority = 3", false},
		{"NOT (Priority = 3 OR Status = 'x')", false},
		{"Priority IN (1, 2, 3)", true},
		{"Priority NOT IN (1, 2)", true},
		{"Status IN ('closed','pending')", false},
		{"Status LIKE 'op%'", true},
		{"Status LIKE '_pen'", true},
		{"Status LIKE 'OP%'", true}, // LIKE is case-insensitive
		{"Status NOT LIKE '%en'", false},
		{"Notes IS NULL", true},
		{"Notes IS NOT NULL", false},
		{"Notes = 'x'", false},
		{"NOT Notes = 'x'", false}, // unknown stays unknown
		{"Notes = 'x' OR Priority = 3", true},
		{"Priority BETWEEN 1 AND 3", true},
		{"Priority NOT BETWEEN 1 AND 3", false},
		{"Depth BETWEEN 2.4 AND 2.6", true},
		{"Depth * 2 = 5", true},
		{"Priority + 1 = 4 AND -Priority = -3", true},
		{"(Priority = 1 OR Priority = 3) AND (Status = 'open')", true},
		{"((((Priority = 3))))", true},
		{"InspectedOn > DATE '2024-06-01'", true},
		{"InspectedOn < TIMESTAMP '2024-06-10 06:00:00'", false},
		{"InspectedOn >= '2024-06-10'", true},
		{"GlobalID = '{aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee}'", true},
		{"AssetGUID = '11111111-2222-4333-8444-555555555555'", true},
		{"GlobalID IN ('{AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE}')", true},
		{"OBJECTID = 12", true},
		{"\"Status\" = 'open'", true},
		{"Status = 'it''s'", false},
		{"Priority = '3'", true},
	}
	for _, c := range cases {
		w, err := parseWhere(c.where, fieldLookup(whereTestFields))
		if err != nil {
			t.Errorf("parseWhere(%q): %v", c.where, err)
			continue
		}
		if got := w.match(row); got != c.want {
			t.Errorf("%q = %v, want %v", c.where, got, c.want)
		}
	}
}

func TestWhereClauseErrors(t *testing.T) {
	for _, where := range []string{
		"Nope = 1", "Status = ", "Status = 'open", "Priority IN ()", "Priority IN (1,", "(Priority = 1",
		"Priority = 1)", "Status", "Priority + 1", "Status LIKE", "Priority BETWEEN 1", "Notes IS 3",
		"AND Priority = 1", "Priority = 1 AND", "Status = 'a' ESCAPE", "1 = 1 extra", "Priority ! 3",
		"NOT Priority", "Priority = 1 OR 2", "@", "DATE 'x' = 1",
	} {
		_, err := parseWhere(where, fieldLookup(whereTestFields))
		if err == nil {
			t.Errorf("parseWhere(%q) accepted an invalid clause", where)
		} else if !errors.Is(err, errWhere) {
			t.Errorf("parseWhere(%q) error %v does not wrap errWhere", where, err)
		}
	}
}

func TestLikeMatch(t *testing.T) {
	for _, c := range []struct {
		s, p string
		esc  rune
		want bool
	}{
		{"abc", "abc", 0, true}, {"abc", "a%", 0, true}, {"abc", "%c", 0, true}, {"abc", "%b%", 0, true},
		{"abc", "a_c", 0, true}, {"abc", "a_", 0, false}, {"", "%", 0, true}, {"", "_", 0, false},
		{"a%c", `a\%c`, '\\', true}, {"abc", `a\%c`, '\\', false}, {"aXbXc", "a%b%c", 0, true}, {"ab", "a%%b", 0, true},
	} {
		if got := likeMatch([]rune(c.s), []rune(c.p), c.esc); got != c.want {
			t.Errorf("likeMatch(%q, %q) = %v, want %v", c.s, c.p, got, c.want)
		}
	}
}

// FuzzWhere checks the parser never panics and that accepted clauses
// evaluate without panicking on generated rows.
func FuzzWhere(f *testing.F) {
	for _, seed := range []string{
		"1=1", "Status = 'open' AND Priority > 2", "(DRAW='Yes' AND PUBLISH='Yes')", "Notes IS NOT NULL",
		"Priority IN (1,2,3) OR Status LIKE 'c%'", "InspectedOn > DATE '2024-01-01'", "NOT (Depth BETWEEN 1 AND 2)",
		"GlobalID = '{AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE}'", "UPPER(Status) = 'OPEN'", "Depth * -2 / 0 = 1",
		"Status LIKE 'a!%' ESCAPE '!'", "\"Status\" <> 'x'", "[Priority] >= 1e3",
	} {
		f.Add(seed)
	}
	d := buildLayerDefs(DemoFeatureService())[0]
	rows := []map[string]any{d.generate(1, 1, d.fields).Attributes, d.generate(1, 3, d.fields).Attributes, {}}
	fields := append(append([]arcgis.Field(nil), d.fields...), whereTestFields...)
	f.Fuzz(func(t *testing.T, where string) {
		w, err := parseWhere(where, fieldLookup(fields))
		if err != nil {
			if !errors.Is(err, errWhere) {
				t.Fatalf("error %v does not wrap errWhere", err)
			}
			return
		}
		for _, r := range rows {
			_ = w.match(r)
		}
	})
}
