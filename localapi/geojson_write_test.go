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
		err := db.Each(t.Context(), geodb.Query{LayerID: tb.LayerID}, func(r *geodb.Row) error {
			if n%7 == 0 && strCol != "" {
				r.Attributes[strCol] = "quote \" back \\ nl \n tab \t ctl \x01 uni é ✓ \u2028 bad \xff"
			}
			n++
			fast := appendFeature(nil, r, tb, xf)
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
