package tiles

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

type serviceDoc struct {
	TileInfo            arcgis.TileInfo `json:"tileInfo"`
	MinScale            float64         `json:"minScale"`
	MaxScale            float64         `json:"maxScale"`
	MaxExportTilesCount int             `json:"maxExportTilesCount"`
}

func loadServiceDoc(t testing.TB, name string) serviceDoc {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var d serviceDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestLevelRangeEsriStandardLODs(t *testing.T) {
	d := loadServiceDoc(t, "mapserver-tiled.arcrestgo.json")
	s := mustScheme(t, d.TileInfo)
	if !s.XYZ() {
		t.Fatal("Esri standard 256px scheme should be XYZ")
	}
	cases := []struct {
		name               string
		minScale, maxScale float64
		lo, hi             int
		err                bool
	}{
		{"no limits", 0, 0, 0, 19, false},
		{"service range from fixture", d.MinScale, d.MaxScale, 0, 11, false},
		{"only minScale (zoomed-out limit)", 18489297.737236, 0, 5, 19, false},
		{"only maxScale (zoomed-in limit)", 0, 72223.819286, 0, 13, false},
		{"between levels", 10000000, 100000, 6, 12, false},
		{"rounded scale within tolerance", 577790.55, 0, 10, 19, false},
		{"one level", 4513.988705, 4513.988705, 17, 17, false},
		{"outside the scheme", 500, 100, 0, 0, true},
		{"swapped", 1000, 1000000, 0, 0, true},
		{"negative", -1, 0, 0, 0, true},
	}
	for _, tc := range cases {
		lo, hi, err := s.LevelRange(tc.minScale, tc.maxScale)
		if tc.err {
			if err == nil {
				t.Errorf("%s: want error, got %d..%d", tc.name, lo, hi)
			}
			continue
		}
		if err != nil || lo != tc.lo || hi != tc.hi {
			t.Errorf("%s: got %d..%d %v, want %d..%d", tc.name, lo, hi, err, tc.lo, tc.hi)
		}
	}
	if _, _, err := s.LevelRange(500, 100); !errors.Is(err, ErrNoLevels) {
		t.Errorf("want ErrNoLevels, got %v", err)
	}
	for lv := 0; lv <= 19; lv++ {
		if z, ok := s.ZoomOf(lv); !ok || z != lv {
			t.Errorf("level %d: zoom %d %v", lv, z, ok)
		}
		if got := s.LevelForScale(EsriStandardScale0 / math.Exp2(float64(lv)) * 1.1); got != lv {
			t.Errorf("LevelForScale near level %d: %d", lv, got)
		}
	}
}

func TestVectorTileServerScheme512(t *testing.T) {
	d := loadServiceDoc(t, "vectortileserver-root.docs-example.json")
	s := mustScheme(t, d.TileInfo)
	if !s.XYZ() {
		t.Fatal("512px VectorTileServer scheme should be XYZ")
	}
	lo, hi, err := s.LevelRange(d.MinScale, d.MaxScale)
	if err != nil || lo != 0 || hi != len(d.TileInfo.LODs)-1 {
		t.Fatalf("range %d..%d %v", lo, hi, err)
	}
	if c, _ := s.GridSize(3); c != 8 {
		t.Fatalf("level 3 grid %d columns, want 8", c)
	}
}

func TestNonXYZScheme(t *testing.T) {
	s := mustScheme(t, arcgis.TileInfo{Rows: 256, Cols: 256, DPI: 96,
		Origin:           arcgis.Point2D{X: -400, Y: 400},
		SpatialReference: &arcgis.SpatialReference{WKID: 4326},
		LODs:             []arcgis.LOD{{Level: 0, Resolution: 0.7, Scale: 2.9e8}, {Level: 1, Resolution: 0.35, Scale: 1.45e8}}})
	if s.XYZ() {
		t.Fatal("WGS84 scheme must not be XYZ")
	}
	c, err := Cover(s, EnvelopeAOI(4326, -117.25, 33.98, -117.10, 34.10), []int{0, 1}, CoverOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Level 0 tile = 179.2°; the AOI (x from origin 282.75..282.9) is in column 1, row 2.
	if c[0].Count() != 1 || !c[0].Contains(2, 1) {
		t.Fatalf("level 0 cover %+v", c[0].Spans)
	}
	if _, err := NewScheme(arcgis.TileInfo{Rows: 256, Cols: 256}); err == nil {
		t.Fatal("scheme without LODs accepted")
	}
	if _, err := Cover(s, EnvelopeAOI(2229, 0, 0, 1, 1), []int{0}, CoverOptions{}); err == nil {
		t.Fatal("unprojectable AOI accepted")
	}
}
