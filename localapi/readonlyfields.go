package localapi

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// checkReadOnlyFields refuses, on the native API, a value for a field the
// service does not let users edit (EditDate, Creator, a computed field…):
// 422 readOnlyField naming it. ArcGIS ignores such values silently, which
// the FeatureServer routes keep doing; here a client would believe its
// value was stored. cur is the stored feature for an update (a value equal
// to the stored one passes, so a GET → edit → PATCH round trip works), nil
// for an add (any non-null value is refused). The object id and GlobalID
// are checked by their own rules.
func checkReadOnlyFields(t *geodb.Table, attrs map[string]any, cur *arcgis.Feature) error {
	for k, v := range attrs {
		c := t.Col(k)
		if c == nil || c.Name == t.OIDCol || c.Name == t.GIDCol || c.Field.IsEditable() || v == nil {
			continue
		}
		if cur != nil {
			if old, ok := cur.Attributes[c.Name]; ok && sameValue(old, v) {
				continue
			}
		}
		return &Error{Status: 422, Code: "readOnlyField", Field: c.Name,
			Message: fmt.Sprintf("field %s is not editable (the service sets it); leave it out", c.Name)}
	}
	return nil
}

// sameValue compares two attribute values as JSON (numbers by value).
func sameValue(a, b any) bool {
	norm := func(v any) string {
		bs, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		var x any
		d := json.NewDecoder(strings.NewReader(string(bs)))
		if d.Decode(&x) != nil {
			return string(bs)
		}
		out, _ := json.Marshal(x)
		return string(out)
	}
	return norm(a) == norm(b)
}
