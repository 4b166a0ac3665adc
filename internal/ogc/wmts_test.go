package ogc

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/offlined/offlined/tiles"
)

func readCaps(t *testing.T, name string) *Capabilities {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCapabilities(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// Esri's capabilities document (ArcGIS Online, via OpenLayers' test data):
// a RESTful template, a GoogleMapsCompatible set and an Esri default028mm
// set whose matrices are not square.
func TestParseCapabilitiesArcGIS(t *testing.T) {
	c := readCaps(t, "wmts_ol_arcgis.xml")
	l := c.Layer("Demographics_USA_Population_Density")
	if l == nil {
		t.Fatalf("layer missing: %+v", c.Layers)
	}
	if l.DefaultStyle != "default" || len(l.Resources) != 1 || len(l.MatrixSets) != 2 {
		t.Fatalf("layer = %+v", l)
	}
	if c.KVPGetTile != "https://services.arcgisonline.com/arcgis/rest/services/Demographics/USA_Population_Density/MapServer/WMTS?" {
		t.Fatalf("KVP = %q", c.KVPGetTile)
	}
	set := c.MatrixSet("GoogleMapsCompatible")
	if set == nil || set.EPSG != 3857 {
		t.Fatalf("set = %+v", set)
	}
	ti, err := set.TileInfo()
	if err != nil {
		t.Fatal(err)
	}
	s, err := tiles.NewScheme(ti)
	if err != nil {
		t.Fatal(err)
	}
	if !s.XYZ() {
		t.Fatalf("GoogleMapsCompatible is not an XYZ grid: %+v", ti)
	}
	for _, lod := range ti.LODs {
		want := tiles.EsriStandardResolution0 / math.Exp2(float64(lod.Level))
		if math.Abs(lod.Resolution-want)/want > 1e-6 {
			t.Fatalf("level %d resolution %v, want %v", lod.Level, lod.Resolution, want)
		}
	}
	u, err := c.NewTileURL(l, set, "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.URL(3, 2, 5), "https://services.arcgisonline.com/arcgis/rest/services/Demographics/USA_Population_Density/MapServer/WMTS/tile/1.0.0/Demographics_USA_Population_Density/default/GoogleMapsCompatible/3/2/5.png"; got != want {
		t.Fatalf("REST URL\n got %s\nwant %s", got, want)
	}
	k, err := c.NewTileURL(l, set, "", "", true)
	if err != nil {
		t.Fatal(err)
	}
	got := k.URL(3, 2, 5)
	for _, part := range []string{"SERVICE=WMTS", "REQUEST=GetTile", "LAYER=Demographics_USA_Population_Density", "TILEMATRIXSET=GoogleMapsCompatible", "TILEMATRIX=3", "TILEROW=2", "TILECOL=5", "FORMAT=image%2Fpng", "STYLE=default"} {
		if !strings.Contains(got, part) {
			t.Fatalf("KVP URL %s lacks %s", got, part)
		}
	}
	if !strings.HasPrefix(got, "https://services.arcgisonline.com/arcgis/rest/services/Demographics/USA_Population_Density/MapServer/WMTS?SERVICE") &&
		!strings.Contains(got, "WMTS?FORMAT") {
		t.Fatalf("KVP URL %s", got)
	}
}

// The OGC sample (OpenLayers' copy of the standard's example): a CRS84
// set with 640x480 tiles, matrix ids that are not numbers, a Time
// dimension, and a set listing one matrix id twice.
func TestParseCapabilitiesOGCSample(t *testing.T) {
	c := readCaps(t, "wmts_ol_ogcsample.xml")
	l := c.Layer("BlueMarbleNextGeneration")
	if l == nil || l.DefaultStyle != "DarkBlue" || l.Dimensions["Time"] != "20110805" {
		t.Fatalf("layer = %+v", l)
	}
	if l.WGS84Bounds == nil || l.WGS84Bounds[0] != -180 || l.WGS84Bounds[3] != 90 {
		t.Fatalf("bounds = %v", l.WGS84Bounds)
	}
	px := c.MatrixSet("BigWorldPixel")
	if px.EPSG != 4326 {
		t.Fatalf("CRS84 epsg = %d", px.EPSG)
	}
	ti, err := px.TileInfo()
	if err != nil {
		t.Fatal(err)
	}
	if ti.Cols != 640 || ti.Rows != 480 || ti.Origin.X != -180 || ti.Origin.Y != 90 {
		t.Fatalf("tileinfo = %+v", ti)
	}
	// 33130800.83 · 0.28 mm / 111319.49 m per degree.
	if r := ti.LODs[0].Resolution; math.Abs(r-33130800.83133142*0.00028/metresPerDegree) > 1e-12 {
		t.Fatalf("resolution %v", r)
	}
	u, err := c.NewTileURL(l, px, "", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.URL(1, 2, 3); got != "http://www.example.com/wmts/coastlines/20000m/2/3.png" {
		t.Fatalf("URL %s", got)
	}
	if _, err := c.MatrixSet("google3857subset").TileInfo(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate matrix id: %v", err)
	}
	g, err := c.MatrixSet("google3857").TileInfo()
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := tiles.NewScheme(g); !s.XYZ() {
		t.Fatal("google3857 (EPSG:6.18:3:3857) is not XYZ")
	}
}

// An EPSG::4326 URN writes corners latitude first.
func TestParseCapabilitiesLatFirst(t *testing.T) {
	c := readCaps(t, "wmts_ol_capabilities_wgs84.xml")
	s := c.MatrixSet("inspire_quad")
	if s == nil || s.EPSG != 4326 {
		t.Fatalf("set %+v", s)
	}
	if m := s.Matrices[0]; m.Left != -180 || m.Top != 90 {
		t.Fatalf("corner %v %v", m.Left, m.Top)
	}
}

func TestEPSGOf(t *testing.T) {
	for crs, want := range map[string]int{
		"urn:ogc:def:crs:EPSG::3857": 3857, "urn:ogc:def:crs:EPSG:6.18:3:3857": 3857, "EPSG:900913": 3857,
		"urn:ogc:def:crs:OGC:1.3:CRS84": 4326, "http://www.opengis.net/def/crs/EPSG/0/2056": 2056,
		"urn:ogc:def:crs:EPSG::4326": 4326, "something": 0, "": 0,
	} {
		if got := EPSGOf(crs); got != want {
			t.Errorf("EPSGOf(%q) = %d, want %d", crs, got, want)
		}
	}
}

func TestParseCapabilitiesErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"not xml":     "{}",
		"bad scale":   `<Capabilities><Contents><TileMatrixSet><Identifier>s</Identifier><TileMatrix><Identifier>0</Identifier><ScaleDenominator>x</ScaleDenominator><TopLeftCorner>0 0</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight></TileMatrix></TileMatrixSet></Contents></Capabilities>`,
		"bad corner":  `<Capabilities><Contents><TileMatrixSet><Identifier>s</Identifier><TileMatrix><Identifier>0</Identifier><ScaleDenominator>1</ScaleDenominator><TopLeftCorner>0</TopLeftCorner><TileWidth>256</TileWidth><TileHeight>256</TileHeight></TileMatrix></TileMatrixSet></Contents></Capabilities>`,
		"tile size 0": `<Capabilities><Contents><TileMatrixSet><Identifier>s</Identifier><TileMatrix><Identifier>0</Identifier><ScaleDenominator>1</ScaleDenominator><TopLeftCorner>0 0</TopLeftCorner><TileWidth>0</TileWidth><TileHeight>256</TileHeight></TileMatrix></TileMatrixSet></Contents></Capabilities>`,
	} {
		if _, err := ParseCapabilities([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
