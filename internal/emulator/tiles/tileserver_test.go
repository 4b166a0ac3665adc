package tiles

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/paulmach/orb"
)

const basemap = "/arcgis/rest/services/Demo_Basemap/MapServer"

func TestMapServerJSONMatchesFixture(t *testing.T) {
	_, url := tlStart(t, nil)
	got := tlJSON(t, url+basemap+"?f=json")
	want := tlFixture(t, "mapserver-tiled.arcrestgo.json")
	// id and server are arcrestgo template fields real services do not send.
	if miss := tlMissingKeys(want, got, "id", "server"); len(miss) > 0 {
		t.Errorf("MapServer JSON lacks fixture keys %v", miss)
	}
	gti, wti := got["tileInfo"].(map[string]any), want["tileInfo"].(map[string]any)
	if miss := tlMissingKeys(wti, gti); len(miss) > 0 {
		t.Errorf("tileInfo lacks fixture keys %v", miss)
	}
	for _, k := range []string{"storageInfo", "tileServers"} {
		if got[k] == nil {
			t.Errorf("missing %s", k)
		}
	}
	if got["singleFusedMapCache"] != true || got["capabilities"] != "Map,Query,Data,Tilemap" ||
		got["exportTilesAllowed"] != true || got["maxExportTilesCount"] != 100000.0 {
		t.Errorf("flags: %v %v %v %v", got["singleFusedMapCache"], got["capabilities"], got["exportTilesAllowed"], got["maxExportTilesCount"])
	}
	// Esri's standard LODs: the fixture rounds them; ours must agree to 1e-9 relative.
	gl, wl := gti["lods"].([]any), wti["lods"].([]any)
	if len(gl) != len(wl) {
		t.Fatalf("%d lods, fixture has %d", len(gl), len(wl))
	}
	for i := range wl {
		g, w := gl[i].(map[string]any), wl[i].(map[string]any)
		for _, k := range []string{"level", "resolution", "scale"} {
			a, b := g[k].(float64), w[k].(float64)
			if math.Abs(a-b) > 1e-9*math.Max(1, b) && math.Abs(a-b) > 1e-6 {
				t.Errorf("lod %d %s = %v, fixture %v", i, k, a, b)
			}
		}
	}
	tlGolden(t, "mapserver-demo-basemap.json", strings.TrimPrefix(url, "http://"), got)
}

func TestDynamicMapServerHasNoCache(t *testing.T) {
	_, url := tlStart(t, nil)
	got := tlJSON(t, url+"/arcgis/rest/services/Dynamic_Layers/MapServer?f=json")
	if got["singleFusedMapCache"] != false || got["tileInfo"] != nil || got["exportTilesAllowed"] != false {
		t.Errorf("dynamic service looks cached: %v", got)
	}
	if miss := tlMissingKeys(tlFixture(t, "mapserver-tiled.arcrestgo.json"), got, "id", "server", "tileInfo"); len(miss) > 0 {
		t.Errorf("dynamic MapServer lacks keys %v", miss)
	}
	for _, p := range []string{"/tile/1/0/0", "/exportTiles?levels=1&f=json", "/tilemap/1/0/0/2/2"} {
		m := tlJSON(t, url+"/arcgis/rest/services/Dynamic_Layers/MapServer"+p)
		if m["error"] == nil {
			t.Errorf("%s on a dynamic service: %v", p, m)
		}
	}
}

func TestEsriStandardLODs(t *testing.T) {
	for _, size := range []int{256, 512} {
		lods := EsriWebMercatorLODs(size, 30)
		top := 2 * webMercatorHalf / float64(size)
		for i, l := range lods {
			if l.Level != i {
				t.Fatalf("%dpx level %d at %d", size, l.Level, i)
			}
			wantRes := top / math.Exp2(float64(i))
			if math.Abs(l.Resolution-wantRes)/wantRes > 1e-8 {
				t.Errorf("%dpx level %d resolution %v, want ≈%v", size, i, l.Resolution, wantRes)
			}
			// scale = resolution × dpi / Esri's metres per inch
			if s := l.Resolution * 96 / esriMetersPerInch; math.Abs(l.Scale-s)/s > 1e-6 {
				t.Errorf("%dpx level %d scale %v, want ≈%v", size, i, l.Scale, s)
			}
		}
	}
	if n := len(EsriWebMercatorLODs(256, 19)); n != 20 {
		t.Errorf("levels 0-19: %d", n)
	}
	geo := GeographicTileInfo(5, "PNG")
	if geo.Origin != (arcgis.Point2D{X: -180, Y: 90}) || geo.LODs[0].Resolution != 0.703125 || geo.SpatialReference.EPSG() != 4326 {
		t.Errorf("geographic scheme %+v", geo)
	}
}

// demoTiles lists existing tiles of Demo_Basemap at levels lo..hi.
func demoTiles(em *testTiles, svc string, lo, hi int) []tileKey {
	ms := em.tiles.cached(svc)
	var out []tileKey
	for z := lo; z <= hi; z++ {
		r0, r1, c0, c1, ok := ms.grid.tileRange(z, ms.data)
		if !ok {
			continue
		}
		for r := r0; r <= r1; r++ {
			for c := c0; c <= c1; c++ {
				if ms.exists(tileKey{z, r, c}) {
					out = append(out, tileKey{z, r, c})
				}
			}
		}
	}
	return out
}

func TestTilesDeterministicAndDistinct(t *testing.T) {
	em, url := tlStart(t, nil)
	tiles := demoTiles(em, "Demo_Basemap", 0, 12)
	if len(tiles) < 20 {
		t.Fatalf("only %d tiles", len(tiles))
	}
	seen := map[[32]byte]tileKey{}
	for _, k := range tiles {
		u := fmt.Sprintf("%s%s/tile/%d/%d/%d", url, basemap, k.level, k.row, k.col)
		resp, b := tlGet(t, u)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("%v: %d %s", k, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() != 256 || img.Bounds().Dy() != 256 {
			t.Fatalf("%v: not a 256px PNG: %v", k, err)
		}
		h := sha256.Sum256(b)
		if prev, dup := seen[h]; dup {
			t.Errorf("tiles %v and %v are identical", prev, k)
		}
		seen[h] = k
		// a fresh renderer (no cache) produces the same bytes
		fresh, err := newTileRenderer(256, "PNG", 0, 1, 1).render(k)
		if err != nil || !bytes.Equal(fresh, b) {
			t.Errorf("%v: re-render differs", k)
		}
		if k == tiles[len(tiles)-1] {
			resp2, _ := tlGet(t, u, "If-None-Match", resp.Header.Get("ETag"))
			if resp2.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: %d", resp2.StatusCode)
			}
		}
	}
	// a different seed changes content
	other, err := newTileRenderer(256, "PNG", 0, 2, 1).render(tiles[0])
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := em.TileBytes("Demo_Basemap", tiles[0].level, tiles[0].row, tiles[0].col); bytes.Equal(other, d) {
		t.Error("seed does not change tile content")
	}
}

func TestTilesOutsideDataExtent404(t *testing.T) {
	_, url := tlStart(t, nil)
	for _, p := range []string{"/tile/12/0/0", "/tile/20/0/0", "/tile/3/7/7", "/tile/99/1/1"} {
		resp, b := tlGet(t, url+basemap+p)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		if resp.StatusCode != 404 || m["error"] == nil {
			t.Errorf("%s: status %d body %.100s", p, resp.StatusCode, b)
		}
	}
}

func TestTilemapMatchesTiles(t *testing.T) {
	opts := &TileOptions{MapServices: []MapServiceOptions{{Name: "Holes", HoleRate: 0.3, ExportTilesAllowed: true}}}
	em, url := tlStart(t, opts)
	ms := em.tiles.maps["Holes"]
	for _, z := range []int{3, 11, 13} {
		r0, r1, c0, c1, _ := ms.grid.tileRange(z, ms.data)
		top, left := r0-1, c0-1
		w, h := c1-c0+3, r1-r0+3
		tm := tlJSON(t, fmt.Sprintf("%s/arcgis/rest/services/Holes/MapServer/tilemap/%d/%d/%d/%d/%d?f=json", url, z, top, left, w, h))
		loc := tm["location"].(map[string]any)
		if loc["left"] != float64(left) || loc["top"] != float64(top) || loc["width"] != float64(w) || loc["height"] != float64(h) || tm["adjusted"] != false {
			t.Fatalf("tilemap location %v", tm)
		}
		data := tm["data"].([]any)
		if len(data) != w*h {
			t.Fatalf("tilemap has %d cells, want %d", len(data), w*h)
		}
		ones, zerosInside := 0, 0
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				resp, _ := tlGet(t, fmt.Sprintf("%s/arcgis/rest/services/Holes/MapServer/tile/%d/%d/%d", url, z, top+i, left+j))
				bit := data[i*w+j].(float64)
				if (bit == 1) != (resp.StatusCode == 200) {
					t.Errorf("level %d tile %d/%d: tilemap %v, tile status %d", z, top+i, left+j, bit, resp.StatusCode)
				}
				if bit == 1 {
					ones++
				} else if i > 0 && j > 0 && i < h-1 && j < w-1 {
					zerosInside++
				}
			}
		}
		if ones == 0 {
			t.Errorf("level %d: no tiles", z)
		}
		if z >= 11 && zerosInside == 0 {
			t.Errorf("level %d: HoleRate 0.3 made no holes", z)
		}
	}
	// no Tilemap capability
	_, url2 := tlStart(t, &TileOptions{MapServices: []MapServiceOptions{{Name: "NoMap", NoTilemap: true}}})
	if caps := tlJSON(t, url2+"/arcgis/rest/services/NoMap/MapServer?f=json")["capabilities"]; caps != "Map,Query,Data" {
		t.Errorf("capabilities %v", caps)
	}
	if resp, _ := tlGet(t, url2+"/arcgis/rest/services/NoMap/MapServer/tilemap/1/0/0/2/2"); resp.StatusCode != 404 {
		t.Errorf("tilemap without capability: %d", resp.StatusCode)
	}
	if m := tlJSON(t, url+"/arcgis/rest/services/Holes/MapServer/tilemap/1/0/0/100000/100000"); m["error"] == nil {
		t.Errorf("huge tilemap accepted")
	}
}

func TestGeographicMapServer(t *testing.T) {
	em, url := tlStart(t, nil)
	svc := url + "/arcgis/rest/services/Demo_Geographic/MapServer"
	m := tlJSON(t, svc+"?f=json")
	ti := m["tileInfo"].(map[string]any)
	origin := ti["origin"].(map[string]any)
	if origin["x"] != -180.0 || origin["y"] != 90.0 || ti["format"] != "JPEG" || m["units"] != "esriDecimalDegrees" {
		t.Fatalf("geographic tileInfo %v", ti)
	}
	full := m["fullExtent"].(map[string]any)
	if full["xmin"] != DemoBounds().Min[0] || full["ymax"] != DemoBounds().Max[1] {
		t.Errorf("fullExtent %v", full)
	}
	// level 0 has two 180° tiles: the demo area is in the western one
	if resp, b := tlGet(t, svc+"/tile/0/0/0"); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("0/0/0: %d", resp.StatusCode)
	} else if img, err := jpeg.Decode(bytes.NewReader(b)); err != nil || img.Bounds() != image.Rect(0, 0, 256, 256) {
		t.Errorf("0/0/0 not a 256px JPEG: %v", err)
	}
	if resp, _ := tlGet(t, svc+"/tile/0/0/1"); resp.StatusCode != 404 {
		t.Errorf("0/0/1: %d", resp.StatusCode)
	}
	// the tile containing a demo point at level 10
	g := em.tiles.maps["Demo_Geographic"].grid
	p := orb.Point{-117.2, 34.05}
	s := g.span(10)
	col, row := int((p[0]+180)/s), int((90-p[1])/s)
	if !em.TileExists("Demo_Geographic", 10, row, col) {
		t.Errorf("tile of %v at level 10 missing", p)
	}
}

func TestMapServer512AndJPEGOptions(t *testing.T) {
	em, base := tlStart(t, &TileOptions{MapServices: []MapServiceOptions{
		{Name: "Big", TileInfo: WebMercatorTileInfo(512, 17, ""), ExportTilesAllowed: true},
		{Name: "Photo", Format: "JPEG", CompressionQuality: 40, Seed: 99},
	}})
	m := tlJSON(t, base+"/arcgis/rest/services/Big/MapServer?f=json")
	ti := m["tileInfo"].(map[string]any)
	if ti["rows"] != 512.0 || ti["cols"] != 512.0 || len(ti["lods"].([]any)) != 18 || ti["format"] != "PNG" {
		t.Fatalf("512 tileInfo %v", ti)
	}
	k := demoTiles(em, "Big", 12, 12)[0]
	resp, b := tlGet(t, fmt.Sprintf("%s/arcgis/rest/services/Big/MapServer/tile/%d/%d/%d", base, k.level, k.row, k.col))
	if img, err := png.Decode(bytes.NewReader(b)); resp.StatusCode != 200 || err != nil || img.Bounds().Dx() != 512 {
		t.Fatalf("512 tile: %d %v", resp.StatusCode, err)
	}
	// 512 px level z covers the ground of XYZ level z: the same tile indices as 256 px level z
	g256 := newGrid(WebMercatorTileInfo(256, 19, "PNG"))
	ms := em.tiles.maps["Big"]
	if a, b := ms.grid.tileRect(12, k.row, k.col), g256.tileRect(12, k.row, k.col); math.Abs(a.xmin-b.xmin) > 1e-3 || math.Abs(a.ymax-b.ymax) > 1e-3 {
		t.Errorf("512 level 12 tile %v at %v, 256 level 12 at %v", k, a, b)
	}
	p := tlJSON(t, base+"/arcgis/rest/services/Photo/MapServer?f=json")
	if pt := p["tileInfo"].(map[string]any); pt["format"] != "JPEG" || pt["compressionQuality"] != 40.0 || p["exportTilesAllowed"] != false {
		t.Errorf("JPEG service %v", pt)
	}
	k = demoTiles(em, "Photo", 10, 10)[0]
	req, _ := http.NewRequest(http.MethodHead, fmt.Sprintf("%s/arcgis/rest/services/Photo/MapServer/tile/%d/%d/%d", base, k.level, k.row, k.col), nil)
	hr, err := tlClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	hr.Body.Close()
	data, _ := em.TileBytes("Photo", k.level, k.row, k.col)
	if hr.StatusCode != 200 || hr.Header.Get("Content-Type") != "image/jpeg" || hr.ContentLength != int64(len(data)) {
		t.Errorf("HEAD: %d %s %d (tile %d bytes)", hr.StatusCode, hr.Header.Get("Content-Type"), hr.ContentLength, len(data))
	}
}

func BenchmarkRenderTile(b *testing.B) {
	r := newTileRenderer(256, "PNG", 0, 1, 1)
	for i := 0; b.Loop(); i++ {
		data, err := r.render(tileKey{18, i / 512, i % 512})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
	}
}

func TestConcurrentTilesAndExport(t *testing.T) {
	em, base := tlStart(t, &TileOptions{CacheTiles: 16, MapServices: []MapServiceOptions{{Name: "Demo_Basemap", ExportTilesAllowed: true}}})
	tiles := demoTiles(em, "Demo_Basemap", 10, 13)
	id := tlSubmit(t, base+basemap+"/exportTiles?levels=12-13&tilePackage=true&f=json")
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		go func() {
			for i := w; i < len(tiles); i += 4 {
				k := tiles[i]
				resp, err := tlClient.Get(fmt.Sprintf("%s%s/tile/%d/%d/%d", base, basemap, k.level, k.row, k.col))
				if err != nil {
					errs <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("tile %v: %d", k, resp.StatusCode)
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < 4; w++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if j := tlPollJob(t, base+basemap+"/exportTiles/jobs/"+id); j["jobStatus"] != arcgis.JobSucceeded {
		t.Errorf("export during tile traffic: %v", j)
	}
}

func TestCachedImageServer(t *testing.T) {
	em, base := tlStart(t, &TileOptions{ImageServices: []MapServiceOptions{{Name: "Ortho", Format: "JPEG", ExportTilesAllowed: true, MaxExportTilesCount: 5}}})
	svc := base + "/arcgis/rest/services/Ortho/ImageServer"
	m := tlJSON(t, svc+"?f=json")
	if m["type"] != "ImageServer" || m["singleFusedMapCache"] != true || m["tileInfo"] == nil || m["bandCount"] != 3.0 || m["exportTilesAllowed"] != true {
		t.Fatalf("ImageServer JSON %v", m)
	}
	k := demoTiles(em, "Ortho", 11, 11)[0]
	resp, b := tlGet(t, fmt.Sprintf("%s/tile/%d/%d/%d", svc, k.level, k.row, k.col))
	if d, ok := em.TileBytes("Ortho", k.level, k.row, k.col); resp.StatusCode != 200 || !ok || !bytes.Equal(d, b) {
		t.Errorf("ImageServer tile %v: %d", k, resp.StatusCode)
	}
	if tm := tlJSON(t, fmt.Sprintf("%s/tilemap/%d/%d/%d/1/1", svc, k.level, k.row, k.col)); fmt.Sprint(tm["data"]) != "[1]" {
		t.Errorf("tilemap %v", tm)
	}
	id := tlSubmit(t, svc+"/exportTiles?levels=13&tilePackage=true&f=json")
	j := tlPollJob(t, svc+"/exportTiles/jobs/"+id)
	msgs, _ := json.Marshal(j["messages"])
	if j["jobStatus"] != arcgis.JobFailed || !strings.Contains(string(msgs), "service Ortho:ImageServer") {
		t.Errorf("ImageServer export over limit: %s", msgs)
	}
	if m := tlJSON(t, base+"/arcgis/rest/services/Ortho/MapServer?f=json"); m["error"] == nil {
		t.Errorf("ImageServer also answers as MapServer: %v", m)
	}
}
