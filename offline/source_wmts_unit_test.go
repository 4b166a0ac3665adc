package offline

import (
	"os"
	"testing"

	"github.com/offlined/offlined/internal/ogc"
)

func TestCapabilitiesURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://h/wmts/1.0.0/WMTSCapabilities.xml":           "https://h/wmts/1.0.0/WMTSCapabilities.xml",
		"https://h/wmts?SERVICE=WMTS&REQUEST=GetCapabilities": "https://h/wmts?SERVICE=WMTS&REQUEST=GetCapabilities",
		"https://h/MapServer/WMTS":                            "https://h/MapServer/WMTS?SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0",
		"https://h/MapServer/WMTS?":                           "https://h/MapServer/WMTS?SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0",
		"https://h/wmts?token=abc":                            "https://h/wmts?token=abc&SERVICE=WMTS&REQUEST=GetCapabilities&VERSION=1.0.0",
	} {
		if got := capabilitiesURL(in); got != want {
			t.Errorf("capabilitiesURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// Without wmtsInfo.tileMatrixSet the first usable Web Mercator set wins
// (the OGC sample links BigWorldPixel, a CRS84 set, first); a named set
// must be linked.
func TestPickMatrixSet(t *testing.T) {
	b, err := os.ReadFile("../internal/ogc/testdata/wmts_ol_ogcsample.xml")
	if err != nil {
		t.Fatal(err)
	}
	caps, err := ogc.ParseCapabilities(b)
	if err != nil {
		t.Fatal(err)
	}
	l := caps.Layer("BlueMarbleNextGeneration")
	set, _, err := pickMatrixSet(caps, l, "")
	if err != nil || set.Identifier != "google3857" {
		t.Fatalf("picked %+v %v, want google3857", set, err)
	}
	if set, _, err := pickMatrixSet(caps, l, "BigWorldPixel"); err != nil || set.Identifier != "BigWorldPixel" {
		t.Fatalf("named set: %+v %v", set, err)
	}
	if _, _, err := pickMatrixSet(caps, l, "BigWorld"); err == nil {
		t.Fatal("a set the layer does not link was accepted")
	}
}
