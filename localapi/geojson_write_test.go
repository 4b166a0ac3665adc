package localapi

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/offlined/offlined/geodb"
)

// TestAppendFeatureMatchesEncodingJSON: the fast writer produces the same
// document as encoding/json on every feature of every demo layer, and on
// awkward strings.
func TestAppendFeatureMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	db, err := e.reg.FeatureStore(t.Context(), "demo", svcName)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tb := range db.Tables() {
		xf, _ := xformFor(tb)
		err := db.Scan(t.Context(), geodb.Query{LayerID: tb.LayerID}, func(v *geodb.RowView) error {
			n++
			fast, err := appendFeature(nil, v, tb, propertyOrder(tb, v.Cols), xf)
			if err != nil {
				return err
			}
			g, err := v.Geometry()
			if err != nil {
				return err
			}
			r := &geodb.Row{OID: v.OID, Attributes: map[string]any{}, Geometry: g}
			for i, c := range v.Cols {
				r.Attributes[c.Name] = v.Value(i)
			}
			slow, err := json.Marshal(geoJSONFeature(r, tb, xf))
			if err != nil {
				return err
			}
			var a, b any
			if err := json.Unmarshal(fast, &a); err != nil {
				t.Fatalf("fast writer output is not JSON: %v: %s", err, fast)
			}
			json.Unmarshal(slow, &b)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("layer %d feature %d differs:\nfast %s\nslow %s", tb.LayerID, r.OID, fast, slow)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 300 {
		t.Fatalf("only %d features compared", n)
	}
	// Awkward strings: a text cell is written as encoding/json writes
	// the string.
	for _, s := range []string{"quote \" back \\ nl \n tab \t ctl \x01 uni é ✓ \u2028 bad \xff", "", "plain"} {
		fast := appendCell(nil, geodb.Cell{Kind: geodb.CellText, Text: []byte(s)})
		slow, _ := json.Marshal(s)
		var a, b any
		if err := json.Unmarshal(fast, &a); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, fast, err)
		}
		json.Unmarshal(slow, &b)
		if a != b {
			t.Fatalf("%q: cell written as %s, encoding/json %s", s, fast, slow)
		}
	}
}

// FuzzAppendJSONString: the writer's strings are valid JSON that decode
// to what encoding/json's encoding of the same string decodes to.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\`, "nl\n\t\x01", "é ✓", "\u2028\u2029", "bad\xff\xfe", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString([]byte("x"), s)[1:]
		if fromBytes := appendJSONString(nil, []byte(s)); string(fromBytes) != string(got) {
			t.Fatalf("%q: %s from a string, %s from bytes", s, got, fromBytes)
		}
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%q: %s is not JSON: %v", s, got, err)
		}
		ref, _ := json.Marshal(s)
		json.Unmarshal(ref, &b)
		if a != b {
			t.Fatalf("%q: decodes to %q, encoding/json's to %q", s, a, b)
		}
	})
}
