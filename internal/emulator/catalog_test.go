package emulator_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

func TestCatalogListsServices(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true, Seed: 7})
	cat := get(t, em.ServicesURL, withToken("", "f", "json"))
	svcs, _ := cat["services"].([]any)
	var names []string
	for _, s := range svcs {
		m := s.(map[string]any)
		names = append(names, m["name"].(string)+"/"+m["type"].(string))
		if !strings.HasPrefix(m["url"].(string), em.URL) {
			t.Errorf("service url %v not absolute on the request host", m["url"])
		}
	}
	for _, want := range []string{"Field_Survey/FeatureServer", "Reference_Data/FeatureServer", "Demo_Basemap/MapServer",
		"Dynamic_Layers/MapServer", "Demo_Vector/VectorTileServer"} {
		if !slices.Contains(names, want) {
			t.Errorf("catalog %v lacks %s", names, want)
		}
	}
}
