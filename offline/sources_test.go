package offline

import (
	"strings"
	"testing"
)

// Source names are the journal's step-id prefixes: unique, and the released
// ones never change (an interrupted job written by an older offlined must
// resume).
func TestSourceRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range sources() {
		if seen[s.name()] || s.name() == "" || strings.Contains(s.name(), ":") {
			t.Errorf("source name %q empty, repeated or holding ':'", s.name())
		}
		seen[s.name()] = true
	}
	for _, released := range []string{"gdb", "tiles", "vtiles"} {
		if !seen[released] {
			t.Errorf("released journal step prefix %q has no source", released)
		}
	}
	if _, err := sourceOfStep("nosuch:key"); err == nil {
		t.Error("a step id with an unknown prefix resolved")
	}
	if _, err := sourceOfStep("gdb"); err == nil {
		t.Error("a step id without a key resolved")
	}
}

// Every step a source plans resolves back to it, store names are unique
// across sources, and the step of each kind of override is planned.
func TestSourceSteps(t *testing.T) {
	o := &Overrides{
		GenerateGeodatabase: map[Key]*GenerateGeodatabaseParameters{
			"a/featureserver": {ServiceURL: "https://h/arcgis/rest/services/A/FeatureServer"},
			"b/featureserver": {ServiceURL: "https://h/arcgis/rest/services/B/FeatureServer", Snapshot: true},
		},
		ExportTileCache: map[Key]*ExportTileCacheParameters{
			"t/mapserver": {ServiceURL: "https://h/arcgis/rest/services/A/MapServer"},
		},
		ExportVectorTiles: map[Key]*ExportVectorTilesParameters{
			"v/vectortileserver": {ServiceURL: "https://h/arcgis/rest/services/A/VectorTileServer"},
		},
	}
	used := map[string]bool{}
	stores := map[string]string{}
	kinds := map[string]int{}
	for _, s := range sources() {
		for _, st := range s.steps(o, used) {
			got, err := sourceOfStep(st.id)
			if err != nil || got.name() != s.name() {
				t.Errorf("step %s resolves to %v, %v; want %s", st.id, got, err, s.name())
			}
			if prev, ok := stores[st.store]; ok {
				t.Errorf("steps %s and %s share the store %s", prev, st.id, st.store)
			}
			stores[st.store] = st.id
			kinds[st.kind]++
		}
	}
	want := map[string]int{KindReplica: 1, KindSnapshot: 1, KindRasterTiles: 1, KindVectorTiles: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d steps of kind %s, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	// Raster and vector tiles of services named alike get distinct files.
	if stores["tiles/A.mbtiles"] == "" || stores["tiles/A_2.mbtiles"] == "" {
		t.Errorf("tile stores %v: want tiles/A.mbtiles and tiles/A_2.mbtiles", stores)
	}
}
