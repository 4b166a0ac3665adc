package offline

import (
	"encoding/json"
	"testing"
)

func TestParseServiceURL(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok       bool
		url      string
		typ      ServiceType
		layer    int
		hasLayer bool
	}{
		{"https://h/arcgis/rest/services/A/FeatureServer/3", true, "https://h/arcgis/rest/services/A/FeatureServer", FeatureServer, 3, true},
		{"https://h/arcgis/rest/services/A/FeatureServer/3/query?where=1=1", true, "https://h/arcgis/rest/services/A/FeatureServer", FeatureServer, 3, true},
		{"https://h/arcgis/rest/services/Folder/A/featureserver/", true, "https://h/arcgis/rest/services/Folder/A/featureserver", FeatureServer, 0, false},
		{"https://h/arcgis/rest/services/A/MapServer?f=json", true, "https://h/arcgis/rest/services/A/MapServer", MapServer, 0, false},
		{"https://h/arcgis/rest/services/A/MapServer/2", true, "https://h/arcgis/rest/services/A/MapServer", MapServer, 2, true},
		{"https://h/arcgis/rest/services/A/ImageServer", true, "https://h/arcgis/rest/services/A/ImageServer", ImageServer, 0, false},
		{"https://h/arcgis/rest/services/A/VectorTileServer/resources/styles/root.json", true, "https://h/arcgis/rest/services/A/VectorTileServer", VectorTileServer, 0, false},
		{"https://h/arcgis/rest/services/A/FeatureServer/-1", true, "https://h/arcgis/rest/services/A/FeatureServer", FeatureServer, 0, false},
		{"https://h/ogc/wms", false, "", "", 0, false},
		{"", false, "", "", 0, false},
		{"https://h/sharing/rest/content/items/x/resources/styles/root.json", false, "", "", 0, false},
	} {
		ref, ok := ParseServiceURL(tc.in)
		if ok != tc.ok || ref.URL != tc.url || ref.Type != tc.typ || ref.LayerID != tc.layer || ref.HasLayer != tc.hasLayer {
			t.Errorf("ParseServiceURL(%q) = %+v, %v", tc.in, ref, ok)
		}
	}
}

func TestKeys(t *testing.T) {
	a := LayerKey("HTTPS://Services.Example.com:443/ArcGIS/rest/services//Survey/FeatureServer/", 2)
	b := LayerKey("https://services.example.com/arcgis/rest/services/survey/featureserver", 2)
	if a != b || a != "https://services.example.com/arcgis/rest/services/survey/featureserver/2" {
		t.Fatalf("keys not normalised: %s vs %s", a, b)
	}
	if id, ok := a.LayerID(); !ok || id != 2 {
		t.Errorf("LayerID = %d, %v", id, ok)
	}
	if a.Service() != ServiceKey("https://services.example.com/arcgis/rest/services/Survey/FeatureServer") {
		t.Errorf("Service() = %s", a.Service())
	}
	sk := ServiceKey("http://h:80/arcgis/rest/services/B/MapServer?f=json")
	if sk != "http://h/arcgis/rest/services/b/mapserver" {
		t.Errorf("ServiceKey = %s", sk)
	}
	if _, ok := sk.LayerID(); ok {
		t.Errorf("service key has no layer id")
	}
	if sk.Service() != sk {
		t.Errorf("service key's service is itself")
	}
	// Keys are JSON map keys.
	b2, err := json.Marshal(map[Key]int{a: 1})
	if err != nil || string(b2) != `{"https://services.example.com/arcgis/rest/services/survey/featureserver/2":1}` {
		t.Errorf("key as JSON map key: %s %v", b2, err)
	}
}

func TestCombineWhere(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a = 1"}, "a = 1"},
		{[]string{"a = 1", " a = 1 "}, "a = 1"},
		{[]string{"a = 1", "b > 2"}, "(a = 1) OR (b > 2)"},
		{[]string{"a = 1", "", "b > 2"}, ""}, // a copy without filter removes the filter
		{[]string{"a = 1 OR c = 3", "b > 2", "a = 1 OR c = 3"}, "(a = 1 OR c = 3) OR (b > 2)"},
	} {
		if got := CombineWhere(tc.in); got != tc.want {
			t.Errorf("CombineWhere(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestGroupFeatureEntries(t *testing.T) {
	wm, err := ParseWebMap([]byte(`{
	  "operationalLayers": [
	    {"id":"g","layerType":"GroupLayer","layers":[
	      {"id":"a","layerType":"ArcGISFeatureLayer","url":"http://h/arcgis/rest/services/S/FeatureServer/0","layerDefinition":{"definitionExpression":"x=1"}},
	      {"id":"b","layerType":"ArcGISFeatureLayer","url":"http://h/arcgis/rest/services/S/FeatureServer/1"}]},
	    {"id":"c","layerType":"ArcGISFeatureLayer","url":"http://H/arcgis/rest/services/s/FeatureServer/0","layerDefinition":{"definitionExpression":"y=2"}},
	    {"id":"d","layerType":"ArcGISFeatureLayer","url":"http://h/arcgis/rest/services/T/FeatureServer/5"},
	    {"id":"e","layerType":"ArcGISFeatureLayer","url":"http://h/arcgis/rest/services/S/FeatureServer/1","layerDefinition":{"definitionExpression":"z=3"}},
	    {"id":"m","layerType":"ArcGISFeatureLayer","url":"http://h/arcgis/rest/services/M/MapServer/4"},
	    {"id":"dyn","layerType":"ArcGISMapServiceLayer","url":"http://h/arcgis/rest/services/M/MapServer"},
	    {"id":"inline","layerType":"ArcGISFeatureLayer","featureCollection":{"layers":[]}}
	  ],
	  "tables":[{"id":"t","url":"http://h/arcgis/rest/services/S/FeatureServer/7"}],
	  "baseMap":{"baseMapLayers":[]}}`))
	if err != nil {
		t.Fatal(err)
	}
	groups := GroupFeatureEntries(wm.Entries())
	if len(groups) != 3 {
		t.Fatalf("%d groups, want 3 (S, T, M)", len(groups))
	}
	var s *ServiceGroup
	for _, g := range groups {
		if g.Key == ServiceKey("http://h/arcgis/rest/services/S/FeatureServer") {
			s = g
		}
	}
	if s == nil {
		t.Fatalf("no group for S: %+v", groups)
	}
	if len(s.Layers) != 3 || s.Layers[0].ID != 0 || s.Layers[1].ID != 1 || s.Layers[2].ID != 7 {
		t.Fatalf("S layers: %+v", s.Layers)
	}
	if got := s.Layer(0).Where; got != "(x=1) OR (y=2)" {
		t.Errorf("layer 0 where %q", got)
	}
	if got := s.Layer(1).Where; got != "" {
		t.Errorf("layer 1 has an unfiltered copy, where %q", got)
	}
	if len(s.Layer(0).Entries) != 2 || s.Layer(0).IsTable || !s.Layer(7).IsTable {
		t.Errorf("entries/table flags wrong: %+v", s.Layers)
	}
}
