package localapi

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator/openmaps"
	"github.com/offlined/offlined/offline"
)

// buildStylePackage takes a web map whose basemap is a MapLibre style on
// an open server (two vector sources, a raster source, sprites, glyphs)
// offline into dir.
func buildStylePackage(t *testing.T, dir string) {
	t.Helper()
	hs := httptest.NewServer(openmaps.New(openmaps.Options{Key: "k"}))
	t.Cleanup(hs.Close)
	wm := fmt.Sprintf(`{"version":"2.31","spatialReference":{"wkid":102100,"latestWkid":3857},"operationalLayers":[],
 "baseMap":{"title":"Open style","baseMapLayers":[{"id":"basic","title":"Basic","layerType":"VectorTileLayer","styleUrl":"%s/styles/basic/style.json?key=k"}]}}`, hs.URL)
	buildWebMapFile(t, wm, [4]float64{7.2, 46.7, 7.5, 46.9}, dir, func(o *offline.Overrides) {
		for _, sp := range o.StyleTiles {
			sp.LevelIDs = []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
		}
	})
}

// TestStyleServed walks the style the local API serves for a style layer
// and fetches every URL in it — each source's TileJSON and every tile of
// its MBTiles, the sprites (1x, 2x) and a glyph range of each font stack —
// from the local API alone, comparing bytes with the package's files.
func TestStyleServed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an offline job")
	}
	dir := filepath.Join(t.TempDir(), "styled")
	buildStylePackage(t, dir)
	pkg, err := offline.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ml *offline.ManifestLayer
	for _, l := range pkg.All() {
		if l.Kind == offline.KindStyle {
			ml = l
		}
	}
	if ml == nil {
		t.Fatal("no style layer in the package")
	}
	e := newEnv(t, envOpts{noMap: true, packages: map[string]string{"styled": dir}})
	local := func(u string) string {
		t.Helper()
		if !strings.HasPrefix(u, e.hs.URL+"/api/v1/") {
			t.Fatalf("URL %q does not point at the local API", u)
		}
		return strings.TrimPrefix(u, e.hs.URL)
	}
	get := func(path string) []byte {
		t.Helper()
		r := e.do("GET", path, nil)
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, r.StatusCode, b)
		}
		return b
	}
	style := e.jsonOf(e.do("GET", "/api/v1/maps/styled/styles/"+filepath.Base(ml.Resources), nil), 200)
	srcs, _ := style["sources"].(map[string]any)
	if len(srcs) != 3 {
		t.Fatalf("sources %v", srcs)
	}
	fetched := 0
	for name, v := range srcs {
		src := v.(map[string]any)
		tj := e.jsonOf(e.do("GET", local(src["url"].(string)), nil), 200)
		tmpl := local(tj["tiles"].([]any)[0].(string))
		layer, _, _ := strings.Cut(strings.TrimPrefix(tmpl, "/api/v1/maps/styled/tiles/"), "/")
		store := pkg.Path("tiles/" + layer + ".mbtiles")
		n := eachStoredTile(t, store, func(z, x, y int, data []byte) {
			p := strings.NewReplacer("{z}", fmt.Sprint(z), "{x}", fmt.Sprint(x), "{y}", fmt.Sprint(y)).Replace(tmpl)
			// The HTTP client decodes the gzip Content-Encoding of vector tiles.
			if b := get(p); !bytes.Equal(b, data) && !bytes.Equal(b, gunzipped(t, data)) {
				t.Fatalf("source %s tile %d/%d/%d: bytes differ from the store's", name, z, x, y)
			}
		})
		if n == 0 {
			t.Errorf("source %s: no tiles", name)
		}
		fetched += n
	}
	sprite := local(style["sprite"].(string))
	for _, suffix := range []string{".json", ".png", "@2x.json", "@2x.png"} {
		want, err := os.ReadFile(filepath.Join(pkg.Path(ml.Resources), "sprites", "sprite"+suffix))
		if err != nil {
			t.Fatal(err)
		}
		if b := get(sprite + suffix); !bytes.Equal(b, want) {
			t.Errorf("sprite%s differs from the package's", suffix)
		}
	}
	glyphs := local(style["glyphs"].(string))
	stacks := 0
	for _, l := range style["layers"].([]any) {
		lay, _ := l.(map[string]any)["layout"].(map[string]any)
		tf, ok := lay["text-font"].([]any)
		if !ok {
			continue
		}
		if len(tf) == 2 && tf[0] == "literal" {
			tf = tf[1].([]any)
		}
		var names []string
		for _, f := range tf {
			names = append(names, f.(string))
		}
		p := strings.NewReplacer("{fontstack}", url.PathEscape(strings.Join(names, ",")), "{range}", "0-255").Replace(glyphs)
		if len(get(p)) == 0 {
			t.Errorf("glyphs %s empty", p)
		}
		stacks++
	}
	if stacks != 2 || fetched == 0 {
		t.Errorf("walked %d font stacks and %d tiles", stacks, fetched)
	}
	// map.json points the layer at the package's style.
	var wm struct {
		BaseMap struct {
			BaseMapLayers []struct {
				StyleURL string `json:"styleUrl"`
			} `json:"baseMapLayers"`
		} `json:"baseMap"`
	}
	mb, err := os.ReadFile(filepath.Join(dir, "map.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &wm); err != nil {
		t.Fatal(err)
	}
	if l := wm.BaseMap.BaseMapLayers; len(l) != 1 || l[0].StyleURL != ml.Resources+"/styles/root.json" {
		t.Errorf("map.json basemap %+v", l)
	}
	// Unknown styles, sprites and ranges are 4xx with the field named.
	for path, field := range map[string]string{
		"/api/v1/maps/styled/styles/nope":                                                        "style",
		"/api/v1/maps/styled/styles/" + filepath.Base(ml.Resources) + "/sprites/x.txt":           "sprite",
		"/api/v1/maps/styled/styles/" + filepath.Base(ml.Resources) + "/fonts/A/1-2.pbf":         "range",
		"/api/v1/maps/styled/styles/" + filepath.Base(ml.Resources) + "/fonts/.hidden/0-255.pbf": "fontstack",
	} {
		r := e.do("GET", path, nil)
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode < 400 || r.StatusCode >= 500 || !strings.Contains(string(b), `"field":"`+field+`"`) {
			t.Errorf("GET %s: %d %s (want a 4xx naming %s)", path, r.StatusCode, b, field)
		}
	}
}

func gunzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
