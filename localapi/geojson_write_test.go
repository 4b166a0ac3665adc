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
		strCol := ""
		for _, c := range tb.Cols {
			if c.Field.Type == "esriFieldTypeString" {
				strCol = c.Name
			}
		}
		err := db.Scan(t.Context(), geodb.Query{LayerID: tb.LayerID}, func(v *geodb.RowView) error {
			if n%7 == 0 && strCol != "" {
				for i, c := range v.Cols {
					if c.Name == strCol {
						v.Values[i] = "quote \" back \\ nl \n tab \t ctl \x01 uni é ✓ \u2028 bad \xff"
					}
				}
			}
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
				r.Attributes[c.Name] = v.Values[i]
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
}
