package aoi

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestParseBBoxExplains: a swapped box is not silently read as a box
// crossing the antimeridian almost the world wide; out-of-range degrees
// are named (issue 23 item 13).
func TestParseBBoxExplains(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"-117.10,33.98,-117.25,34.10", "swap them"},
		{"33.98,-117.25,34.10,-117.10", "ymin"},
		{"-117.25,33.98,-117.10,95", "ymax 95 is outside ±90"},
		{"-190,0,10,1", "xmin -190 is outside ±180"},
		{"1,2,3", "want xmin,ymin,xmax,ymax"},
		{"a,0,1,1", `"a" is not a number`},
		{"-117.25,33.98,-117.10,34.10", ""},
		{"170,-10,-170,10", ""}, // a real antimeridian box, 20° wide
		{"-180,-90,180,90", ""},
	} {
		g, err := ParseBBox(tc.in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", tc.in, err, tc.want)
		case tc.want == "":
			got := strings.Join([]string{ftoa(*g.XMin), ftoa(*g.YMin), ftoa(*g.XMax), ftoa(*g.YMax)}, ",")
			if got != strings.ReplaceAll(tc.in, ".10", ".1") || g.SpatialReference == nil || g.SpatialReference.WKID != 4326 {
				t.Errorf("%s: envelope %s in %+v, want the same box in WGS84", tc.in, got, g.SpatialReference)
			}
		}
	}
}

// TestParse: each accepted form gives the Esri geometry; GeoJSON rings are
// reversed into Esri's order, a MultiPolygon's rings flattened, a
// FeatureCollection's first feature taken, and an Esri geometry without a
// reference is WGS84.
func TestParse(t *testing.T) {
	square := `[[0,0],[1,0],[1,1],[0,1],[0,0]]`
	esriSquare := [][]float64{{0, 0}, {0, 1}, {1, 1}, {1, 0}, {0, 0}}
	hole := `[[0.2,0.2],[0.2,0.8],[0.8,0.8],[0.2,0.2]]`
	esriHole := [][]float64{{0.2, 0.2}, {0.8, 0.8}, {0.2, 0.8}, {0.2, 0.2}}
	for _, tc := range []struct {
		name, in string
		rings    [][][]float64
		wkid     int
	}{
		{"Polygon", `{"type":"Polygon","coordinates":[` + square + `,` + hole + `]}`, [][][]float64{esriSquare, esriHole}, 4326},
		{"MultiPolygon", `{"type":"MultiPolygon","coordinates":[[` + square + `],[` + hole + `]]}`, [][][]float64{esriSquare, esriHole}, 4326},
		{"Feature", `{"type":"Feature","geometry":{"type":"Polygon","coordinates":[` + square + `]}}`, [][][]float64{esriSquare}, 4326},
		{"FeatureCollection", `{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Polygon","coordinates":[` + square + `]}},{"type":"Feature","geometry":null}]}`, [][][]float64{esriSquare}, 4326},
		{"Esri rings", `{"rings":[[[0,0],[0,1],[1,1],[1,0],[0,0]]]}`, [][][]float64{esriSquare}, 4326},
		{"Esri rings in Web Mercator", `{"rings":[[[0,0],[0,1],[1,1],[1,0],[0,0]]],"spatialReference":{"wkid":3857}}`, [][][]float64{esriSquare}, 3857},
	} {
		g, err := Parse([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !reflect.DeepEqual(g.Rings, tc.rings) || g.SpatialReference == nil || g.SpatialReference.WKID != tc.wkid {
			t.Errorf("%s: rings %v in %+v, want %v in wkid %d", tc.name, g.Rings, g.SpatialReference, tc.rings, tc.wkid)
		}
	}
	g, err := Parse([]byte(`{"xmin":-117.25,"ymin":33.98,"xmax":-117.1,"ymax":34.1}`))
	if err != nil || *g.XMin != -117.25 || *g.YMax != 34.1 || g.SpatialReference.WKID != 4326 {
		t.Errorf("Esri envelope: %+v %v", g, err)
	}
	for in, want := range map[string]string{
		`{"type":"FeatureCollection","features":[]}`:          "empty FeatureCollection",
		`{"type":"Feature"}`:                                  "feature without geometry",
		`{"type":"Point","coordinates":[1,2]}`:                `unsupported area type "Point"`,
		`{"type":"Polygon","coordinates":[[1,2]]}`:            "Polygon coordinates",
		`{"type":"MultiPolygon","coordinates":[[[[0,"a"]]]]}`: "MultiPolygon coordinates",
		`[1,2]`: "cannot unmarshal",
	} {
		if _, err := Parse([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", in, err, want)
		}
	}
}

func TestReadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "area.geojson")
	if err := os.WriteFile(p, []byte(`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if g, err := ReadFile(p); err != nil || len(g.Rings) != 1 || g.Rings[0][1][0] != 1 || g.Rings[0][1][1] != 1 {
		t.Errorf("ReadFile: %+v %v", g, err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}`,
		`{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]}}]}`,
		`{"xmin":-117.25,"ymin":33.98,"xmax":-117.1,"ymax":34.1,"spatialReference":{"wkid":4326}}`,
		`{"rings":[[[0,0],[0,1],[1,1],[0,0]]]}`,
		`{"type":"Point","coordinates":[1,2]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse(b)
		if err == nil && (g == nil || g.SpatialReference == nil) {
			t.Fatalf("accepted %q without a geometry or spatial reference", b)
		}
	})
}

func FuzzParseBBox(f *testing.F) {
	for _, s := range []string{"-117.25,33.98,-117.10,34.10", "170,-10,-170,10", "1,2,3", "a,b,c,d", "0,1,0,1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseBBox(s)
		if err == nil && (*g.YMin >= *g.YMax) {
			t.Fatalf("accepted %q with ymin >= ymax", s)
		}
	})
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
