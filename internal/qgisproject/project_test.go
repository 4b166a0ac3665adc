package qgisproject

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.qgs")

func goldenProject() *Project {
	return &Project{
		Title: "Field: Survey", EPSG: 3857,
		Extent: &Rect{XMin: -13052210.3, YMin: 4026116.83, XMax: -13035512.37, YMax: 4042237.5},
		Layers: []Layer{
			{ID: "offlined_base_raster", Title: "Basemap", Kind: KindRaster, Path: "tiles/base.mbtiles", Visible: true, Basemap: true},
			{ID: "offlined_base_vector", Title: "Labels", Kind: KindVectorTiles, Path: "tiles/labels.mbtiles", Visible: true, Basemap: true,
				VectorStyle: json.RawMessage(`{"layers":[{"id":"bg","type":"background","paint":{"background-color":"#fff"}},
					{"id":"parcels","type":"fill","source-layer":"Parcels","minzoom":12,"maxzoom":18,"filter":["==","kind","lot"],"paint":{"fill-color":"#e3d6b8","fill-outline-color":"rgba(140,123,90,0.5)","fill-opacity":0.8}},
					{"id":"roads","type":"line","source-layer":"roads","paint":{"line-color":{"stops":[[5,"#f00"],[10,"#0f0"]]},"line-width":["interpolate",["linear"],["zoom"],5,2,10,4]}},
					{"id":"pois","type":"circle","source-layer":"pois","filter":["all",["==",["get","class"],"shop"],["!=","rank",3]],"paint":{"circle-color":"#123456","circle-radius":4}},
					{"id":"label","type":"symbol","source-layer":"pois","layout":{"text-field":"{name}"}}]}`)},
			{ID: "offlined_parcels", Title: "Parcels", Kind: KindFeatures, Path: "data/svc.gpkg", Table: "Parcels",
				GeometryType: "esriGeometryPolygon", Visible: true, MinScale: 72224,
				Renderer: json.RawMessage(`{"type":"classBreaks","field":"Value","minValue":0,"classBreakInfos":[
					{"classMaxValue":1000,"label":"low","symbol":{"type":"esriSFS","style":"esriSFSSolid","color":[0,200,0,128],"outline":{"type":"esriSLS","style":"esriSLSDash","color":[0,0,0,255],"width":1}}},
					{"classMaxValue":5000,"symbol":{"type":"esriSFS","style":"esriSFSBackwardDiagonal","color":[200,0,0,255]}}]}`),
				Fields: []Field{{Name: "Value", Alias: "Assessed value"}}},
			{ID: "offlined_pipes", Title: "Active pipes", Kind: KindFeatures, Path: "data/svc.gpkg", Table: "Pipes",
				GeometryType: "esriGeometryPolyline", Visible: false, MinScale: 144448, MaxScale: 564,
				Renderer: json.RawMessage(`{"type":"uniqueValue","field1":"Status","defaultSymbol":{"type":"esriSLS","color":[90,90,90,255],"width":1},"defaultLabel":"other",
					"uniqueValueInfos":[{"value":"1","label":"Open","symbol":{"type":"esriSLS","style":"esriSLSSolid","color":[0,0,255,255],"width":2}},
					{"value":"2","label":"Closed","symbol":{"type":"esriSMS","style":"esriSMSCircle","color":[255,0,0,255],"size":4}}]}`),
				Fields: []Field{{Name: "Status", Alias: "Status", Domain: []CodedValue{{Code: "1", Name: "Open"}, {Code: "2", Name: "Closed"}}}}},
			{ID: "offlined_inspections", Title: "Inspections", Kind: KindFeatures, Path: "data/svc.gpkg", Table: "Inspections",
				GeometryType: "esriGeometryPoint", Visible: true,
				Renderer: json.RawMessage(`{"type":"simple","symbol":{"type":"esriSMS","style":"esriSMSDiamond","color":[255,170,0,255],"size":8,"outline":{"color":[0,0,0,255],"width":0.5}}}`),
				Fields:   []Field{{Name: "GlobalID", Alias: "GlobalID"}, {Name: "Notes", Alias: "Notes <&>"}}},
			{ID: "offlined_heatmap", Title: "Heat", Kind: KindFeatures, Path: "data/svc.gpkg", Table: "Heat",
				GeometryType: "esriGeometryPoint", Visible: true, Renderer: json.RawMessage(`{"type":"heatmap"}`)},
			{ID: "offlined_notes", Title: "Inspection notes", Kind: KindTable, Path: "data/svc.gpkg", Table: "InspectionNotes",
				Fields: []Field{{Name: "InspectionGUID", Alias: "Inspection"}}},
		},
		Relations: []Relation{
			{ID: "offlined_rel_1", Name: "Inspection_Notes", ParentLayer: "offlined_inspections", ParentField: "GlobalID", ChildLayer: "offlined_notes", ChildField: "InspectionGUID"},
			{ID: "offlined_rel_2", Name: "dangling", ParentLayer: "offlined_inspections", ParentField: "GlobalID", ChildLayer: "nowhere", ChildField: "x"},
		},
	}
}

// The project XML is stable (golden file) and carries what QGIS reads:
// the three renderer kinds and the fallback, value maps, aliases, scale
// ranges, visibility, relations, relative paths and the extent.
func TestMarshalGolden(t *testing.T) {
	got, err := Marshal(goldenProject())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.qgs")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("project XML differs from %s (run go test -update and review the diff)", golden)
	}
	s := string(got)
	for _, frag := range []string{
		`type="graduatedSymbol"`, `type="categorizedSymbol"`, `type="singleSymbol"`, `offlined/rendererFallback`,
		`<editWidget type="ValueMap">`, `name="Closed" type="QString" value="2"`, `name="Notes &lt;&amp;&gt;"`,
		`./data/svc.gpkg|layername=Parcels`, `type=mbtiles&amp;url=./tiles/labels.mbtiles`, `checked="Qt::Unchecked"`,
		`minScale="144448"`, `<renderer type="basic">`, `layer="Parcels" max-zoom="17" min-zoom="12"`,
		`expression="&#34;kind&#34; = &#39;lot&#39;"`, `value="255,0,0,255"`, `(&#34;class&#34; = &#39;shop&#39;) AND (&#34;rank&#34; &lt;&gt; 3)`, `referencedLayer="offlined_inspections"`, `<Absolute type="bool">false</Absolute>`,
	} {
		if !strings.Contains(s, frag) {
			t.Errorf("project lacks %s", frag)
		}
	}
	if strings.Contains(s, "dangling") {
		t.Error("a relation to a layer not in the project was written")
	}
	// Operational layers top first, over the basemap group.
	if i, j := strings.Index(s, `id="offlined_notes"`), strings.Index(s, `id="offlined_parcels"`); i < 0 || j < 0 || i > j {
		t.Error("layer tree is not in reverse web map order")
	}
}

func TestMarshalRefusesDuplicateIDs(t *testing.T) {
	p := &Project{Title: "x", Layers: []Layer{{ID: "offlined_a", Kind: KindRaster}, {ID: "offlined_a", Kind: KindRaster}}}
	if _, err := Marshal(p); err == nil {
		t.Fatal("duplicate layer ids accepted")
	}
}

func TestWriteAndFileName(t *testing.T) {
	dir := t.TempDir()
	path, err := Write(context.Background(), dir, goldenProject())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "Field_ Survey.qgs" {
		t.Errorf("file %s", path)
	}
	for in, want := range map[string]string{"": "map.qgs", "../..": "_.qgs", "a/b": "a_b.qgs", " Plan ": "Plan.qgs"} {
		if got := FileName(in); got != want {
			t.Errorf("FileName(%q) = %q, want %q", in, got, want)
		}
	}
}
