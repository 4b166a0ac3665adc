package emulator

import (
	"encoding/json"
	"testing"
)

// BenchmarkNew is an emulator's start-up cost, paid by nearly every test
// (the OGC API data is parsed once per process: ogcDataset).
func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		New(Options{})
	}
}

// TestOGCDataShared: emulators share one parsed copy of the embedded OGC
// API data, and it holds every feature of the embedded files.
func TestOGCDataShared(t *testing.T) {
	a, b := New(Options{}), New(Options{Seed: 2})
	if a.ogc != b.ogc {
		t.Fatal("each emulator parsed the OGC API data again")
	}
	for id, file := range map[string]string{"lakes": "ne_110m_lakes.geojson", "places": "ne_110m_populated_places_simple.geojson"} {
		raw, err := ogcData.ReadFile("ogcdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var fc struct {
			Features []json.RawMessage `json:"features"`
		}
		if err := json.Unmarshal(raw, &fc); err != nil {
			t.Fatal(err)
		}
		got := b.OGCFeatures(id, nil)
		if len(got) != len(fc.Features) || len(got) == 0 || string(got[len(got)-1]) != string(fc.Features[len(fc.Features)-1]) {
			t.Errorf("%s: %d features served, the file has %d", id, len(got), len(fc.Features))
		}
	}
}
