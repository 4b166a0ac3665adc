package localapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/offlined/offlined/geodb"
)

func FuzzGeoJSONGeometry(f *testing.F) {
	for _, s := range []string{
		`{"type":"Point","coordinates":[-117.2,34.05]}`,
		`{"type":"Point","coordinates":[1,2,3]}`,
		`{"type":"MultiPoint","coordinates":[[1,2],[3,4]]}`,
		`{"type":"LineString","coordinates":[[1,2],[3,4]]}`,
		`{"type":"MultiLineString","coordinates":[[[1,2],[3,4]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}`,
		`{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}`,
		`{"type":"Polygon","coordinates":[[[0,0]]]}`, `{"type":"Circle"}`, `[]`, `null`,
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, merc bool) {
		x := coordXform{toWGS: identity, fromWGS: identity}
		if merc {
			x = coordXform{toWGS: mercToWGS, fromWGS: wgsToMerc}
		}
		g, err := esriFromGeoJSON(json.RawMessage(s), x, merc, "geometry")
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		// Whatever is accepted converts to a stored geometry or is reported
		// as a bad geometry, never a panic.
		if _, err := geodb.FromEsri(g, merc, false); err != nil && g.Validate() == nil {
			t.Logf("valid Esri geometry rejected by geodb: %v", err)
		}
	})
}

func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"localhost", "localhost:7878", "127.0.0.1:1", "[::1]:80", "[::1]", "evil.com", "localhost.evil.com", "127.0.0.1.nip.io:80", "[::1", "::1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if !hostAllowed(host, nil) {
			return
		}
		h := strings.ToLower(host)
		for _, ok := range []string{"localhost", "127.0.0.1", "::1", "[::1]"} {
			if h == ok || strings.HasPrefix(h, ok+":") || strings.HasPrefix(h, ok+".:") || h == ok+"." {
				return
			}
		}
		t.Fatalf("host %q allowed", host)
	})
}
