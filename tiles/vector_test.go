package tiles

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

func TestVectorTileServerOffline(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true})
	svc := em.ServicesURL + "/Demo_Vector/VectorTileServer"
	dir := t.TempDir()
	st, err := OpenStore(context.Background(), filepath.Join(dir, "vector.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := DownloadVectorTileLayer(context.Background(), VectorTileLayerJob{
		ServiceURL: svc, AOI: demoAOI, Levels: []int{10, 11, 12, 13},
		Store: st, ResourceDir: filepath.Join(dir, "resources"), Download: DownloadOptions{Concurrency: 4},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.Fetched == 0 || len(res.VectorLayers) == 0 {
		t.Fatalf("result %+v", res)
	}
	md, _ := st.Metadata(context.Background())
	var j struct {
		VectorLayers []struct {
			ID     string            `json:"id"`
			Fields map[string]string `json:"fields"`
		} `json:"vector_layers"`
	}
	if md["format"] != "pbf" || json.Unmarshal([]byte(md["json"]), &j) != nil || len(j.VectorLayers) == 0 || len(j.VectorLayers[0].Fields) == 0 {
		t.Fatalf("metadata %v", md)
	}
	// Every stored tile is gzip MVT that decodes.
	tj, _ := st.TileJSON(context.Background(), "http://127.0.0.1/t/{z}/{x}/{y}.pbf")
	if tj["vector_layers"] == nil || tj["minzoom"] != 10 || tj["maxzoom"] != 13 {
		t.Fatalf("tilejson %v", tj)
	}
	// Fonts of the style and the ranges for the labels; sprites 1x and 2x.
	if !slices.Contains(res.Fontstacks, "Arial Regular") || !slices.Contains(res.GlyphRanges, "0-255") {
		t.Fatalf("fonts %v ranges %v", res.Fontstacks, res.GlyphRanges)
	}
	for _, f := range []string{"styles/root.json", "sprites/sprite.json", "sprites/sprite.png", "sprites/sprite@2x.json", "sprites/sprite@2x.png", "fonts/Arial Regular/0-255.pbf"} {
		if fi, err := os.Stat(filepath.Join(dir, "resources", f)); err != nil || fi.Size() == 0 {
			t.Fatalf("resource %s: %v", f, err)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "resources", "styles", "root.json"))
	style, err := ParseStyle(raw)
	if err != nil {
		t.Fatal(err)
	}
	local := style.LocalStyle("http://127.0.0.1:9/v1/tiles/demo", 10, 13)
	b, _ := json.Marshal(local)
	if strings.Contains(string(b), em.URL) || !strings.Contains(string(b), `"http://127.0.0.1:9/v1/tiles/demo/{z}/{x}/{y}.pbf"`) ||
		local["glyphs"] != "http://127.0.0.1:9/v1/tiles/demo/fonts/{fontstack}/{range}.pbf" {
		t.Fatalf("local style still points at the server or lacks local URLs: %s", b)
	}
	st.Close()
	gdalOpens(t, "ogrinfo", filepath.Join(dir, "vector.mbtiles"), "MBTiles")
}

func TestTileJSONStyleSource(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true})
	vts := em.ServicesURL + "/Demo_Vector/VectorTileServer"
	// A MapLibre style whose source is a TileJSON URL on another server.
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/style.json":
			fmt.Fprintf(w, `{"version":8,"sources":{"osm":{"type":"vector","url":"%s/tiles.json"}},"layers":[{"id":"a","type":"symbol","source":"osm","source-layer":"x","layout":{"text-font":["literal",["Noto Sans Regular"]]}}]}`, srv.URL)
		case "/tiles.json":
			fmt.Fprintf(w, `{"tilejson":"3.0.0","tiles":["%s/tile/{z}/{y}/{x}.pbf"],"minzoom":10,"maxzoom":12}`, vts)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	st, err := OpenStore(context.Background(), filepath.Join(dir, "tj.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := DownloadVectorTileLayer(context.Background(), VectorTileLayerJob{StyleURL: srv.URL + "/style.json", AOI: demoAOI, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Levels, []int{10, 11, 12}) || res.Progress.Fetched == 0 || !slices.Equal(res.Fontstacks, []string{"Noto Sans Regular"}) {
		t.Fatalf("levels %v fetched %d fonts %v", res.Levels, res.Progress.Fetched, res.Fontstacks)
	}
}

func TestStyleHelpers(t *testing.T) {
	b, _ := os.ReadFile("testdata/style-expressions.json")
	s, err := ParseStyle(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Arial Bold", "Noto Sans Regular,Arial Unicode MS Regular", "Open Sans Italic"}
	if got := s.Fontstacks(); !slices.Equal(got, want) {
		t.Fatalf("fontstacks %v, want %v", got, want)
	}
	// Ω is U+03A9, 京 U+4EAC, 東 U+6771.
	if got := GlyphRanges([]string{"abc", "Ωmega", "東京"}); !slices.Equal(got, []string{"0-255", "768-1023", "19968-20223", "26368-26623"}) {
		t.Fatalf("ranges %v", got)
	}
	for _, bad := range []string{`{}`, `{"version":7,"sources":{},"layers":[]}`, `{"version":8,"layers":[]}`, `{"version":8,"sources":{},"layers":[1]}`} {
		if _, err := ParseStyle([]byte(bad)); err == nil {
			t.Errorf("bad style %s accepted", bad)
		}
	}
}

func TestVectorExportVTPKImport(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true, Tiles: &emulator.TileOptions{
		VectorServices: []emulator.VectorServiceOptions{{Name: "Demo_Vector", ExportTilesAllowed: true}},
		WorkDir:        t.TempDir(), JobStep: 5 * time.Millisecond,
	}})
	svc := em.ServicesURL + "/Demo_Vector/VectorTileServer"
	dir := t.TempDir()
	st, err := OpenStore(context.Background(), filepath.Join(dir, "vtpk.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := ExportAndImport(context.Background(), &HTTPJobClient{}, svc, ExportRequest{Levels: []int{10, 11, 12}, AOI: demoAOI, Vector: true}, dir, st, ExportOptions{Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	md, _ := st.Metadata(context.Background())
	if n == 0 || md["format"] != "pbf" || !strings.Contains(md["json"], "vector_layers") {
		t.Fatalf("imported %d, metadata %v", n, md)
	}
	st.Close()
	pk, err := OpenPackage(filepath.Join(dir, "Demo_Vector.vtpk"))
	if err != nil {
		t.Fatal(err)
	}
	defer pk.Close()
	if pk.Kind != "vtpk" {
		t.Fatalf("kind %s", pk.Kind)
	}
	nres, err := pk.ExtractResources(filepath.Join(dir, "resources"))
	if err != nil || nres == 0 {
		t.Fatalf("extracted %d resources: %v", nres, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "resources", "styles", "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseStyle(raw); err != nil {
		t.Fatal(err)
	}
	gdalOpens(t, "ogrinfo", filepath.Join(dir, "vtpk.mbtiles"), "MBTiles")
}
