package offline

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// FuzzPrepareAOI feeds outside-supplied area geometries (Esri JSON) to
// PrepareAOI: it must not panic, and what it accepts must be closed rings
// of finite coordinates inside the world (for WGS84 / Web Mercator).
func FuzzPrepareAOI(f *testing.F) {
	for _, s := range []string{
		`{"xmin":-117.25,"ymin":33.98,"xmax":-117.1,"ymax":34.1,"spatialReference":{"wkid":4326}}`,
		`{"xmin":170,"ymin":-10,"xmax":-170,"ymax":10,"spatialReference":{"wkid":4326}}`,
		`{"rings":[[[175,50],[175,55],[-175,55],[-175,50],[175,50]]],"spatialReference":{"wkid":4326}}`,
		`{"rings":[[[0,0],[10,10],[10,0],[0,10],[0,0]]],"spatialReference":{"wkid":4326}}`,
		`{"rings":[[[-13052769,4024252],[-13052769,4040394],[-13036072,4040394]]],"spatialReference":{"wkid":102100}}`,
		`{"rings":[[[0,0],[0,10],[10,10],[10,0],[0,0]],[[2,2],[8,2],[8,8],[2,8],[2,2]]]}`,
		`{"x":1,"y":2}`,
	} {
		f.Add([]byte(s))
	}
	mapSR := &arcgis.SpatialReference{WKID: 102100}
	f.Fuzz(func(t *testing.T, b []byte) {
		var g arcgis.Geometry
		if json.Unmarshal(b, &g) != nil {
			return
		}
		a, err := PrepareAOI(&g, mapSR)
		if err != nil {
			return
		}
		world := 0.0
		switch {
		case a.SR.IsWGS84():
			world = 180
		case a.SR.IsWebMercator():
			world = tiles.MercatorHalfWorld
		}
		if len(a.Geometry.Rings) == 0 {
			t.Fatal("accepted area without rings")
		}
		for _, r := range a.Geometry.Rings {
			if len(r) < 4 || r[0][0] != r[len(r)-1][0] || r[0][1] != r[len(r)-1][1] {
				t.Fatalf("ring not closed or too short: %v", r)
			}
			for _, p := range r {
				if world > 0 && (p[0] < -world-1e-6 || p[0] > world+1e-6) {
					t.Fatalf("x %v outside the world", p[0])
				}
			}
		}
		if err := a.Geometry.Validate(); err != nil {
			t.Fatalf("prepared geometry invalid: %v", err)
		}
	})
}

// FuzzOverrides validates outside-supplied overrides JSON (as a local API
// client would send) against a web map: no panics, whatever the shape.
func FuzzOverrides(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "golden", "survey-offline.overrides.json"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"generateGeodatabase":{"x":null},"exportTileCache":{"y":null},"exportVectorTiles":{"z":null},"onlineLayers":["q"],"referenceBasemap":{"path":"","replaces":["r"]}}`))
	f.Add([]byte(`{"generateGeodatabase":{"http://example.com/arcgis/rest/services/field_survey/featureserver":{"layerOptions":[null,{"layerId":-1}],"extent":{"rings":[]}}}}`))
	fake := loadFake(f)
	task := fileTask(f, fake, filepath.Join("testdata", "webmaps", "survey-offline.json"))
	p, err := task.CreateDefaultParameters(context.Background(), demoArea(), 150000, 5000)
	if err != nil {
		f.Fatal(err)
	}
	dir := filepath.Join(f.TempDir(), "absent")
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Overrides
		if json.Unmarshal(b, &o) != nil {
			return
		}
		_ = task.Validate(context.Background(), p, &o, dir)
		for _, g := range o.GenerateGeodatabase {
			if g != nil && g.Extent != nil {
				_, _ = CreateReplicaRequest(g, ReplicaRequestOptions{})
			}
		}
	})
}
