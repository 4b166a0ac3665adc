package arcgis

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// geometrySeeds returns every "geometry"/"extent" object found in the
// fixtures plus hand-written edge cases.
func geometrySeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{
		[]byte(`{"x":-117.2,"y":34.05,"spatialReference":{"wkid":4326}}`),
		[]byte(`{"x":"NaN","y":null}`),
		[]byte(`{"x":"1.5","y":"2"}`),
		[]byte(`{"x":1,"y":2,"z":3,"m":4}`),
		[]byte(`{"points":[[1,2],[3,4,5]],"hasZ":true}`),
		[]byte(`{"paths":[[[0,0],[1,1]]]}`),
		[]byte(`{"rings":[[[0,0],[0,1],[1,1],[0,0]]],"hasZ":true,"hasM":true}`),
		[]byte(`{"xmin":-1,"ymin":-1,"xmax":1,"ymax":1}`),
		[]byte(`{"xmin":1,"ymin":-1,"xmax":-1,"ymax":1}`),
		[]byte(`{"x":"Infinity","y":1}`),
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, c := range x {
					if k == "geometry" || k == "extent" || k == "fullExtent" || k == "initialExtent" {
						if enc, err := json.Marshal(c); err == nil {
							seeds = append(seeds, enc)
						}
					}
					walk(c)
				}
			case []any:
				for _, c := range x {
					walk(c)
				}
			}
		}
		var v any
		if json.Unmarshal(b, &v) == nil {
			walk(v)
		}
	}
	return seeds
}

func FuzzGeometryJSON(f *testing.F) {
	for _, s := range geometrySeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var g Geometry
		if err := json.Unmarshal(data, &g); err != nil {
			return
		}
		_ = g.Type()
		_ = g.IsEmpty()
		if g.Validate() != nil {
			return
		}
		b1, err := json.Marshal(&g)
		if err != nil {
			t.Fatalf("valid geometry does not marshal: %v (%q)", err, data)
		}
		var g2 Geometry
		if err := json.Unmarshal(b1, &g2); err != nil {
			t.Fatalf("re-decode %s: %v", b1, err)
		}
		if err := g2.Validate(); err != nil {
			t.Fatalf("round trip made a valid geometry invalid: %v (%s)", err, b1)
		}
		if g2.Type() != g.Type() {
			t.Fatalf("type changed in round trip: %q -> %q", g.Type(), g2.Type())
		}
		b2, err := json.Marshal(&g2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("round trip not stable:\n%s\n%s (%v)", b1, b2, err)
		}
	})
}

func FuzzErrorBody(f *testing.F) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(readFixture(f, "errors-token.arcgis-rest-js.json"), &m); err != nil {
		f.Fatal(err)
	}
	for _, v := range m {
		f.Add([]byte(v))
	}
	for _, name := range []string{"featureserver-layer.arcrestgo.json", "upload-response.docs-example.json", "gp-job-statuses.arcgis-rest-js.json"} {
		f.Add(readFixture(f, name))
	}
	f.Add([]byte(`{"error":"invalid_grant","error_description":"x"}`))
	f.Add([]byte(`{"error":{"code":"12","details":[1,{"a":2},null]}}`))
	f.Add([]byte(`{"status":"failed","statusMessage":"{\"code\":1e99}"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, ok := ParseError(data)
		if !ok {
			if e != nil {
				t.Fatal("not an error body but a non-nil *Error")
			}
			return
		}
		if e == nil {
			t.Fatal("ok with nil *Error")
		}
		if e.Error() == "" {
			t.Fatal("empty message")
		}
		_ = e.IsAuth() || e.IsNotFound() || e.IsRetryable() || e.IsForbidden()
		if !json.Valid(data) {
			t.Fatalf("invalid JSON %q accepted as an error body", data)
		}
		// the prefix check used on streams must agree for {"error":{…}} bodies
		if isErrorPrefix(data) && !bytes.Contains(data, []byte(`"error"`)) {
			t.Fatal("isErrorPrefix without an error key")
		}
	})
}

func FuzzReplicaAndSyncResponse(f *testing.F) {
	f.Add([]byte(`{"statusUrl":"http://h/jobs/1"}`))
	f.Add([]byte(`{"replicaID":"{R}","layers":[{"id":0,"features":[{"attributes":{},"geometry":{"x":1,"y":2}}]}]}`))
	f.Add([]byte(`{"replicaID":"{R}","edits":[{"id":0,"attachments":{"addResults":[],"adds":[]}}]}`))
	f.Add(readFixture(f, "replica-info.gis-maine-gov.json"))
	f.Add(readFixture(f, "featureserver-service.arcrestgo.json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := parseReplicaResponse(data); err == nil {
			if r.StatusURL == "" && r.ResultURL == "" && r.Replica == nil {
				t.Fatalf("accepted replica response with no payload: %s", data)
			}
		}
		if s, err := ParseSyncResult(data); err == nil && s == nil {
			t.Fatal("nil sync result without error")
		}
	})
}
