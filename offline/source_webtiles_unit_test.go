package offline

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// webTiledEntry is a WebTiledLayer entry from the layer JSON.
func webTiledEntry(t testing.TB, layerJSON string) *Entry {
	t.Helper()
	var l Layer
	if err := json.Unmarshal([]byte(layerJSON), &l); err != nil {
		t.Fatal(err)
	}
	return &Entry{Key: "webmap:basemap:w", ID: "w", LayerType: LayerTypeWebTiled, Layer: &l}
}

func TestParseWebTiled(t *testing.T) {
	for _, tc := range []struct {
		layer, err string
		format     string
		levels     int
	}{
		{layer: `{"templateUrl":"https://{subDomain}.tile.example.org/{level}/{col}/{row}.png","subDomains":["a","b","c"]}`, format: "png", levels: 20},
		{layer: `{"templateUrl":"https://tiles.example.org/{z}/{x}/{y}.jpg?key=K"}`, format: "jpg", levels: 20},
		{layer: `{"templateUrl":"https://tiles.example.org/{z}/{x}/{y}"}`, format: "png", levels: 20},
		{layer: `{"templateUrl":"https://tiles.example.org/{z}/{x}/{y}.png","tileInfo":{"rows":256,"cols":256,"dpi":96,"format":"JPEG","origin":{"x":-20037508.342787,"y":20037508.342787},"spatialReference":{"wkid":102100},"lods":[{"level":3,"resolution":19567.87924099992,"scale":73957190.948944},{"level":4,"resolution":9783.93962049996,"scale":36978595.474472}]}}`, format: "jpg", levels: 2},
		{layer: `{}`, err: "no templateUrl"},
		{layer: `{"templateUrl":"https://{subDomain}.example.org/{z}/{x}/{y}.png"}`, err: "subDomains"},
		{layer: `{"templateUrl":"https://example.org/{z}/{x}.png?api_key=SECRET"}`, err: "row"},
		{layer: `{"templateUrl":"https://example.org/{z}/{x}/{y}.png","tileInfo":"nope"}`, err: "tileInfo"},
	} {
		w, _, err := parseWebTiled(webTiledEntry(t, tc.layer))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.layer, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("%s: error shows the API key: %v", tc.layer, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.layer, err)
			continue
		}
		s, err := w.scheme()
		if err != nil || len(s.Levels()) != tc.levels || w.format() != tc.format {
			t.Errorf("%s: scheme %v levels %d format %s", tc.layer, err, len(s.Levels()), w.format())
		}
	}
}

// Levels lie within both the parameters' and the layer's scale ranges.
func TestWebTileLevels(t *testing.T) {
	s := tiles.WebMercatorScheme(256, 0, 19)
	e := webTiledEntry(t, `{"templateUrl":"https://t.example.org/{z}/{x}/{y}.png","minScale":600000,"maxScale":30000}`)
	got := webTileLevels(s, &Parameters{MinScale: 5000000, MaxScale: 5000}, e)
	// Scale 600,000 ≈ level 10 (577,791); 30,000 ≈ level 14 (36,112).
	if len(got) == 0 || got[0] != 10 || got[len(got)-1] != 14 {
		t.Errorf("levels %v, want 10-14 (the layer's range is tighter)", got)
	}
	got = webTileLevels(s, &Parameters{MinScale: 150000, MaxScale: 70000}, e)
	// Level 12 is 1:144,448, level 13 1:72,224.
	if len(got) != 2 || got[0] != 12 || got[1] != 13 {
		t.Errorf("levels %v, want 12-13 (the parameters' range is tighter)", got)
	}
}

// fullExtent bounds the tiles asked for.
func TestWebTilesCoverFullExtent(t *testing.T) {
	e := webTiledEntry(t, `{"templateUrl":"https://t.example.org/{z}/{x}/{y}.png",
	  "fullExtent":{"xmin":10018754.171394,"ymin":0,"xmax":20037508.342787,"ymax":20037508.342787,"spatialReference":{"wkid":102100}}}`)
	w, _, err := parseWebTiled(e)
	if err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	p := &WebTilesParameters{LevelIDs: []int{1, 2, 3},
		AreaOfInterest: &arcgis.Geometry{XMin: f(1), YMin: f(1), XMax: f(179), YMax: f(85), SpatialReference: &arcgis.SpatialReference{WKID: 4326}}}
	covers, _, err := webTilesCover(w, p)
	if err != nil {
		t.Fatal(err)
	}
	// The area is the north-east quarter; the extent its eastern half
	// (90°E-180°): 1, 2 and 8 tiles.
	for i, want := range []int64{1, 2, 8} {
		if n := covers[i].Count(); n != want {
			t.Errorf("level %d: %d tiles, want %d", covers[i].Level, n, want)
		}
		covers[i].Each(func(row, col int) bool {
			if n := 1 << covers[i].Level; row >= n/2 || col < n/2 || (n >= 4 && col < 3*n/4) {
				t.Errorf("level %d: tile row %d col %d outside the full extent", covers[i].Level, row, col)
			}
			return true
		})
	}
}

func TestWebTilesOverridesCheck(t *testing.T) {
	srv := newXYZServer(t, 4)
	mapPath := xyzWebMap(t, t.TempDir(), srv.URL)
	job, o := xyzJob(t, mapPath, []int{0, 1}, JobOptions{}, filepath.Join(t.TempDir(), "pkg"))
	var k Key
	for key := range o.WebTiles {
		k = key
	}
	for name, tc := range map[string]struct {
		edit func(o *Overrides)
		code ErrCode
	}{
		"unknown key":    {func(o *Overrides) { o.WebTiles["webmap:basemap:nope"] = o.WebTiles[k] }, ErrUnknownOverrideKey},
		"no levels":      {func(o *Overrides) { o.WebTiles[k].LevelIDs = nil }, ErrOverride},
		"level":          {func(o *Overrides) { o.WebTiles[k].LevelIDs = []int{25} }, ErrOverride},
		"negative cap":   {func(o *Overrides) { o.WebTiles[k].MaxTiles = -1 }, ErrOverride},
		"leftOut key":    {func(o *Overrides) { o.LeftOut = map[Key]*LeftOut{"nope": {Reason: ReasonInvalidURL}} }, ErrUnknownOverrideKey},
		"cap over cover": {func(o *Overrides) { o.WebTiles[k].MaxTiles = 3 }, ErrTileLimit},
	} {
		b, _ := json.Marshal(o)
		var oo Overrides
		json.Unmarshal(b, &oo)
		tc.edit(&oo)
		err := job.task.Validate(context.Background(), job.p, &oo, filepath.Join(t.TempDir(), "x"), TileChecks(job.opt.Client))
		codes := map[ErrCode]bool{}
		var walk func(error)
		walk = func(err error) {
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range j.Unwrap() {
					walk(e)
				}
				return
			}
			var ve *ValidationError
			if errors.As(err, &ve) {
				codes[ve.Code] = true
			}
		}
		walk(err)
		found := codes[tc.code]
		if !found {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
}

// FuzzParseWebTiled reads outside web map layer JSON as a WebTiledLayer:
// no panics; a layer that parses has a usable scheme or says why not.
func FuzzParseWebTiled(f *testing.F) {
	f.Add(`{"templateUrl":"https://{subDomain}.tile.example.org/{level}/{col}/{row}.png","subDomains":["a","b"]}`)
	f.Add(`{"templateUrl":"https://t.example.org/{z}/{x}/{-y}.png?api_key=K","fullExtent":{"xmin":0,"ymin":0,"xmax":1,"ymax":1}}`)
	f.Add(`{"templateUrl":"https://t.example.org/{z}/{x}/{y}","tileInfo":{"rows":0,"cols":0,"lods":[]}}`)
	f.Fuzz(func(t *testing.T, layer string) {
		var l Layer
		if json.Unmarshal([]byte(layer), &l) != nil {
			return
		}
		e := &Entry{Key: "k", LayerType: LayerTypeWebTiled, Layer: &l}
		w, _, err := parseWebTiled(e)
		if err != nil {
			return
		}
		if s, err := w.scheme(); err == nil {
			_ = webTileLevels(s, &Parameters{}, e)
		}
		_ = w.format()
		_ = shownTemplate(e)
	})
}
