package ogc

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseCapabilities: any document either fails with an error or gives
// matrix sets whose TileInfo and tile URLs can be computed without panic.
func FuzzParseCapabilities(f *testing.F) {
	files, _ := filepath.Glob("testdata/wmts_*.xml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`<Capabilities><Contents><Layer><Identifier>a</Identifier><ResourceURL resourceType="tile" template="http://h/{TileMatrix}/{TileRow}/{TileCol}"/><TileMatrixSetLink><TileMatrixSet>s</TileMatrixSet></TileMatrixSetLink></Layer></Contents></Capabilities>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCapabilities(b)
		if err != nil {
			return
		}
		for i := range c.TileMatrixSets {
			s := &c.TileMatrixSets[i]
			ti, err := s.TileInfo()
			if err == nil && len(ti.LODs) != len(s.Matrices) {
				t.Fatalf("%d levels for %d matrices", len(ti.LODs), len(s.Matrices))
			}
			for j := range c.Layers {
				if u, err := c.NewTileURL(&c.Layers[j], s, "", "", false); err == nil {
					_ = u.URL(0, 1, 2)
				}
			}
		}
	})
}

// FuzzGeoJSON: any document either fails to parse or gives features whose
// schema and Esri conversion never panic, and whose converted geometries
// are of the layer's family.
func FuzzGeoJSON(f *testing.F) {
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","id":1,"geometry":{"type":"Point","coordinates":[1,2]},"properties":{"a":1,"b":"x","c":true,"d":"2024-01-02T03:04:05Z","e":{"k":1}}}],"links":[{"rel":"next","href":"?offset=1"}],"numberMatched":3}`))
	f.Add([]byte(`{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]},"properties":null}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"geometry":{"type":"LineString","coordinates":[[0,0,5],[1,1,6]]},"properties":{"n":1.5}},{"geometry":null,"properties":{"n":"x"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pg, err := ParsePage(b)
		if err != nil {
			return
		}
		_ = LinkHref(pg.Links, "next", "", "http://h/items")
		sc := InferSchema("l", pg.Features, nil)
		for i := range pg.Features {
			feat, ok := sc.Esri(&pg.Features[i], int64(i+1))
			if ok && feat.Geometry != nil && feat.Geometry.Type() != sc.Layer.GeometryType {
				t.Fatalf("geometry %s in a %s layer", feat.Geometry.Type(), sc.Layer.GeometryType)
			}
			_, _ = pg.Features[i].BBox()
		}
	})
}
