package qgisproject

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// drawingInfo renderers come from the server: any JSON gives a well-formed
// project (translated or with the fallback symbol) and never panics.
func FuzzRendererXML(f *testing.F) {
	for _, l := range goldenProject().Layers {
		if len(l.Renderer) > 0 {
			f.Add([]byte(l.Renderer), l.GeometryType)
		}
	}
	f.Add([]byte(`{"type":"uniqueValue","field1":"a\"b","field2":"c'd","fieldDelimiter":"<&>","uniqueValueInfos":[{"value":"]]>"}]}`), "esriGeometryPoint")
	f.Add([]byte(`{"type":"classBreaks","field":"x","classBreakInfos":[{"classMaxValue":1e308,"symbol":{"type":"esriSMS","color":[1]}}]}`), "esriGeometryPolygon")
	f.Add([]byte(`null`), "")
	f.Fuzz(func(t *testing.T, raw []byte, geom string) {
		p := &Project{Title: "t", Layers: []Layer{{ID: "offlined_fuzz", Title: "f", Kind: KindFeatures, Path: "data/x.gpkg", Table: "x",
			GeometryType: geom, Renderer: json.RawMessage(raw)}}}
		checkWellFormed(t, p)
	})
}

// Vector tile styles come from the server too.
func FuzzVectorTileRenderer(f *testing.F) {
	for _, l := range goldenProject().Layers {
		if len(l.VectorStyle) > 0 {
			f.Add([]byte(l.VectorStyle))
		}
	}
	f.Add([]byte(`{"layers":[{"type":"fill","source-layer":"a","minzoom":1e300,"maxzoom":-5,"filter":["all",["==",["get",1],null]],"paint":{"fill-color":"rgba(1,2,3,x)"}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := &Project{Title: "t", Layers: []Layer{{ID: "offlined_fuzz", Title: "v", Kind: KindVectorTiles, Path: "tiles/x.mbtiles", VectorStyle: json.RawMessage(raw)}}}
		checkWellFormed(t, p)
	})
}

// checkWellFormed marshals p and fails t unless the XML after the
// declaration line is well formed.
func checkWellFormed(t *testing.T, p *Project) {
	t.Helper()
	b, err := Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(strings.NewReader(strings.SplitN(string(b), "\n", 2)[1]))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("malformed XML: %v", err)
		}
	}
}
