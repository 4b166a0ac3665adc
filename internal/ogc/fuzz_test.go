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
