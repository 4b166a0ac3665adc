package ogc

import (
	"encoding/json"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func TestInferSchema(t *testing.T) {
	pg, err := ParsePage([]byte(`{"type":"FeatureCollection","numberMatched":3,"features":[
 {"type":"Feature","id":"a","geometry":{"type":"Polygon","coordinates":[[[0,0],[0,1],[1,1],[1,0],[0,0]]]},
  "properties":{"n":1,"x":1.5,"b":true,"d":"2024-01-02T03:04:05Z","s":"hi","o":{"k":[1]},"big":4000000000,"q":"7","mixed":1,"null":null,"with space":"v"}},
 {"type":"Feature","id":2,"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]},
  "properties":{"n":2,"x":2,"b":false,"d":"2024-01-03T00:00:00+01:00","s":"there","mixed":"text"}},
 {"type":"Feature","geometry":{"type":"Point","coordinates":[5,5]},"properties":{"n":3}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if pg.NumberMatched != 3 {
		t.Fatalf("numberMatched %d", pg.NumberMatched)
	}
	sc := InferSchema("l", pg.Features, map[string]Property{"q": {Type: "integer"}, "n": {Type: []any{"number", "null"}}})
	types := map[string]string{}
	for _, f := range sc.Layer.Fields {
		types[f.Name] = f.Type
	}
	want := map[string]string{"OBJECTID": arcgis.FieldOID, "ogc_id": arcgis.FieldString, "n": arcgis.FieldDouble,
		"x": arcgis.FieldDouble, "b": arcgis.FieldSmallInteger, "d": arcgis.FieldDate, "s": arcgis.FieldString,
		"o": arcgis.FieldString, "big": arcgis.FieldBigInteger, "mixed": arcgis.FieldString, "null": arcgis.FieldString,
		"with_space": arcgis.FieldString,
		// the queryables say integer, but the data holds text: kept as text.
		"q": arcgis.FieldString}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("field %s: %s, want %s (all %v)", k, types[k], v, types)
		}
	}
	if sc.Layer.GeometryType != arcgis.GeometryPolygon {
		t.Fatalf("geometry type %s", sc.Layer.GeometryType)
	}
	f0, ok := sc.Esri(&pg.Features[0], 1)
	if !ok || f0.Attributes["ogc_id"] != "a" || f0.Attributes["d"] != int64(1704164645000) || f0.Attributes["b"] != 1 || f0.Attributes["o"] != `{"k":[1]}` {
		t.Fatalf("feature 0: %v %+v", ok, f0.Attributes)
	}
	// Esri rings: the exterior clockwise (the GeoJSON one is counter-clockwise).
	r := f0.Geometry.Rings[0]
	var a float64
	for i := range r {
		j := (i + 1) % len(r)
		a += r[i][0]*r[j][1] - r[j][0]*r[i][1]
	}
	if a >= 0 {
		t.Errorf("exterior ring not clockwise: %v", r)
	}
	f1, _ := sc.Esri(&pg.Features[1], 2)
	if f1.Attributes["ogc_id"] != "2" || f1.Attributes["mixed"] != "text" {
		t.Errorf("feature 1: %+v", f1.Attributes)
	}
	// A point in a polygon layer keeps its attributes, without geometry.
	f2, ok := sc.Esri(&pg.Features[2], 3)
	if ok || f2.Geometry != nil || f2.Attributes["n"] != int64(3) {
		t.Errorf("feature 2: %v %+v", ok, f2)
	}
}

func TestEsriGeometryErrors(t *testing.T) {
	for _, g := range []string{`{"type":"Point","coordinates":[200,0]}`, `{"type":"LineString","coordinates":[[0,0]]}`,
		`{"type":"Polygon","coordinates":[[[0,0],[1,1],[0,0]]]}`, `{"type":"GeometryCollection","geometries":[]}`, `[]`} {
		if _, _, err := EsriGeometry(json.RawMessage(g), false); err == nil {
			t.Errorf("%s: no error", g)
		}
	}
	g, fam, err := EsriGeometry(json.RawMessage(`{"type":"Point","coordinates":[1,2,3]}`), true)
	if err != nil || fam != famPoint || g.Z == nil || *g.Z != 3 {
		t.Errorf("3D point: %+v %v", g, err)
	}
}

func TestParseCollectionAndQueryables(t *testing.T) {
	if _, err := ParseCollection([]byte(`{"id":"c","itemType":"record"}`)); err == nil {
		t.Error("a record collection was accepted")
	}
	c, err := ParseCollection([]byte(`{"id":"c","links":[{"rel":"items","type":"application/geo+json","href":"c/items"}]}`))
	if err != nil || LinkHref(c.Links, "items", "application/geo+json", "http://h/api/collections/") != "http://h/api/collections/c/items" {
		t.Fatalf("%+v %v", c, err)
	}
	q, err := ParseQueryables([]byte(`{"properties":{"geometry":{"$ref":"https://geojson.org/schema/Polygon.json"},"g2":{"format":"geometry-any"},"a":{"type":"integer"}}}`))
	if err != nil || len(q) != 1 || q["a"].Type != "integer" {
		t.Fatalf("%+v %v", q, err)
	}
}

// A next link of the HTML page does not stand for the GeoJSON one.
func TestLinkHrefType(t *testing.T) {
	links := []Link{{Rel: "next", Type: "text/html", Href: "?offset=10&f=html"}, {Rel: "next", Type: "application/geo+json", Href: "?offset=10&f=json"}}
	if got := LinkHref(links, "next", "application/geo+json", "http://h/items?f=json"); got != "http://h/items?offset=10&f=json" {
		t.Fatalf("next = %q", got)
	}
	if got := LinkHref(links[:1], "next", "application/geo+json", "http://h/items"); got != "" {
		t.Fatalf("an HTML next link was taken: %q", got)
	}
}
