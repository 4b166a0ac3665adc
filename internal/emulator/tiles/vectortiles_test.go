package tiles

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/offlined/offlined/internal/arcgis"
)

const vectorSvc = "/arcgis/rest/services/Demo_Vector/VectorTileServer"

func TestVectorTileServerRootMatchesFixture(t *testing.T) {
	_, base := tlStart(t, nil)
	got := tlJSON(t, base+vectorSvc+"?f=json")
	want := tlFixture(t, "vectortileserver-root.docs-example.json")
	if miss := tlMissingKeys(want, got); len(miss) > 0 {
		t.Errorf("root lacks fixture keys %v", miss)
	}
	for _, k := range []string{"tileInfo", "resourceInfo"} {
		if miss := tlMissingKeys(want[k].(map[string]any), got[k].(map[string]any)); len(miss) > 0 {
			t.Errorf("%s lacks fixture keys %v", k, miss)
		}
	}
	if got["tiles"].([]any)[0] != "tile/{z}/{y}/{x}.pbf" || got["type"] != "indexedVector" || got["capabilities"] != "TilesOnly" {
		t.Errorf("root %v %v %v", got["tiles"], got["type"], got["capabilities"])
	}
	gl, wl := got["tileInfo"].(map[string]any)["lods"].([]any), want["tileInfo"].(map[string]any)["lods"].([]any)
	if len(gl) != 17 {
		t.Errorf("%d lods, want 0-16", len(gl))
	}
	for i := range gl {
		if fmt.Sprint(gl[i]) != fmt.Sprint(wl[i]) {
			t.Errorf("lod %d = %v, fixture %v", i, gl[i], wl[i])
		}
	}
	// the trailing-slash form the style's "../../" resolves to
	if slash := tlJSON(t, base+vectorSvc+"/"); slash["name"] != "Demo_Vector" {
		t.Errorf("root with slash: %v", slash)
	}
}

// demoVectorTile returns the z/x/y tile holding the demo area's centre.
func demoVectorTile(z int) maptile.Tile {
	return maptile.At(DemoBounds().Center(), maptile.Zoom(z))
}

func TestVectorTilesAreGzipMVT(t *testing.T) {
	em, base := tlStart(t, nil)
	for _, z := range []int{0, 8, 12, 16} {
		tile := demoVectorTile(z)
		u := fmt.Sprintf("%s%s/tile/%d/%d/%d.pbf", base, vectorSvc, z, tile.Y, tile.X)
		resp, body := tlGet(t, u)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Fatalf("z%d: %d %q %q", z, resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Content-Type"))
		}
		if len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
			t.Fatalf("z%d: body is not gzip", z)
		}
		layers, err := mvt.UnmarshalGzipped(body)
		if err != nil {
			t.Fatalf("z%d: %v", z, err)
		}
		features := 0
		known := map[string]bool{"Inspections": true, "Pipes": true, "Parcels": true, gridLayerName: true}
		for _, l := range layers {
			if !known[l.Name] || len(l.Features) == 0 {
				t.Errorf("z%d: layer %q with %d features (the style knows %v)", z, l.Name, len(l.Features), known)
			}
			if l.Version != 2 || l.Extent != 4096 {
				t.Errorf("z%d layer %s version %d extent %d", z, l.Name, l.Version, l.Extent)
			}
			features += len(l.Features)
		}
		if features == 0 {
			t.Errorf("z%d tile has no features (layers %d)", z, len(layers))
		}
		// features decode back inside (or at the buffered edge of) the tile
		layers.ProjectToWGS84(tile)
		b := tile.Bound(0.1)
		for _, l := range layers {
			for _, f := range l.Features {
				if f.Geometry != nil && !b.Intersects(f.Geometry.Bound()) {
					t.Errorf("z%d layer %s feature %v outside tile %v", z, l.Name, f.Geometry.Bound(), b)
				}
			}
		}
		if again, ok, err := em.VectorTileBytes("Demo_Vector", z, int(tile.Y), int(tile.X)); err != nil || !ok || !bytes.Equal(again, body) {
			t.Errorf("z%d: tile not deterministic (%v %v)", z, ok, err)
		}
	}
	// a client that lets net/http decompress sees plain MVT
	tile := demoVectorTile(10)
	resp, err := http.Get(fmt.Sprintf("%s%s/tile/10/%d/%d.pbf", base, vectorSvc, tile.Y, tile.X))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if _, err := mvt.Unmarshal(plain); err != nil || !resp.Uncompressed {
		t.Errorf("transparent decompression: uncompressed=%v err=%v", resp.Uncompressed, err)
	}
	for _, p := range []string{"/tile/12/0/0.pbf", "/tile/17/0/0.pbf", "/tile/3/9/9.pbf"} {
		if resp, _ := tlGet(t, base+vectorSvc+p); resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestVectorTilesWithoutContentEncoding(t *testing.T) {
	_, base := tlStart(t, &TileOptions{VectorServices: []VectorServiceOptions{{Name: "Raw", NoContentEncoding: true}}})
	tile := demoVectorTile(9)
	resp, body := tlGet(t, fmt.Sprintf("%s/arcgis/rest/services/Raw/VectorTileServer/tile/9/%d/%d.pbf", base, tile.Y, tile.X))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	if _, err := mvt.UnmarshalGzipped(body); err != nil {
		t.Errorf("body: %v", err)
	}
}

func TestVectorTilemapMatchesTiles(t *testing.T) {
	_, base := tlStart(t, nil)
	tile := demoVectorTile(14)
	top, left, w, h := int(tile.Y)-4, int(tile.X)-4, 9, 9
	tm := tlJSON(t, fmt.Sprintf("%s%s/tilemap/14/%d/%d/%d/%d", base, vectorSvc, top, left, w, h))
	data := tm["data"].([]any)
	ones := 0
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			resp, _ := tlGet(t, fmt.Sprintf("%s%s/tile/14/%d/%d.pbf", base, vectorSvc, top+i, left+j))
			if (data[i*w+j] == 1.0) != (resp.StatusCode == 200) {
				t.Errorf("14/%d/%d: tilemap %v, tile %d", top+i, left+j, data[i*w+j], resp.StatusCode)
			}
			if data[i*w+j] == 1.0 {
				ones++
			}
		}
	}
	if ones == 0 || ones == w*h {
		t.Errorf("tilemap window has %d of %d tiles; want some in and some out", ones, w*h)
	}
}

func TestVectorStyleSpritesGlyphs(t *testing.T) {
	_, base := tlStart(t, nil)
	styleURL := base + vectorSvc + "/resources/styles/root.json"
	style := tlJSON(t, styleURL+"?f=json")
	tlGolden(t, "vectortileserver-style.json", "", style)
	if style["version"] != 8.0 || style["sprite"] != "../sprites/sprite" || style["glyphs"] != "../fonts/{fontstack}/{range}.pbf" {
		t.Errorf("style header %v %v %v", style["version"], style["sprite"], style["glyphs"])
	}
	esri := style["sources"].(map[string]any)["esri"].(map[string]any)
	if esri["url"] != "../../" || esri["type"] != "vector" {
		t.Errorf("source %v", esri)
	}
	su, _ := url.Parse(styleURL)
	resolve := func(ref string) string { r, _ := url.Parse(ref); return su.ResolveReference(r).String() }
	if root := tlJSON(t, resolve("../../")); root["tiles"] == nil {
		t.Errorf("source url does not resolve to the service: %v", root)
	}
	known := map[string]bool{"Inspections": true, "Pipes": true, "Parcels": true, gridLayerName: true}
	fonts := map[string]bool{}
	for _, l := range style["layers"].([]any) {
		lm := l.(map[string]any)
		if lm["type"] == "background" {
			continue
		}
		if lm["source"] != "esri" || !known[fmt.Sprint(lm["source-layer"])] {
			t.Errorf("layer %v", lm)
		}
		if lay, ok := lm["layout"].(map[string]any); ok {
			if tf, ok := lay["text-font"].([]any); ok {
				for _, f := range tf {
					fonts[f.(string)] = true
				}
			}
		}
	}
	if len(fonts) != 2 {
		t.Errorf("font stacks used: %v", fonts)
	}
	// sprites: JSON entries lie inside the PNG, 2x is twice the size
	var sizes [2][2]int
	for i, suffix := range []string{"", "@2x"} {
		var index map[string]map[string]float64
		_, jb := tlGet(t, resolve("../sprites/sprite"+suffix+".json"))
		if err := json.Unmarshal(jb, &index); err != nil || len(index) < 3 {
			t.Fatalf("sprite%s.json: %v %s", suffix, err, jb)
		}
		resp, pb := tlGet(t, resolve("../sprites/sprite"+suffix+".png"))
		img, err := png.Decode(bytes.NewReader(pb))
		if err != nil || resp.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("sprite%s.png: %v", suffix, err)
		}
		sizes[i] = [2]int{img.Bounds().Dx(), img.Bounds().Dy()}
		for name, e := range index {
			if e["x"]+e["width"] > float64(img.Bounds().Dx()) || e["y"]+e["height"] > float64(img.Bounds().Dy()) || e["pixelRatio"] != float64(i+1) {
				t.Errorf("sprite%s %s %v outside %v", suffix, name, e, img.Bounds())
			}
			if _, _, _, a := img.At(int(e["x"]+e["width"]/2), int(e["y"]+e["height"]/2)).RGBA(); a == 0 && name != "parcel-hatch" {
				t.Errorf("sprite%s %s is blank at its centre", suffix, name)
			}
		}
	}
	if sizes[1][0] != 2*sizes[0][0] || sizes[1][1] != 2*sizes[0][1] {
		t.Errorf("sprite sizes %v", sizes)
	}
	if name, _ := tlJSON(t, base+vectorSvc+"/resources/sprites/sprite.json")["inspection-point"].(map[string]any); name == nil {
		t.Error("style icon inspection-point not in the sprite")
	}
	// glyphs: each font stack, two ranges
	for f := range fonts {
		for _, rg := range [][2]int{{0, 255}, {256, 511}} {
			u := resolve(strings.NewReplacer("{fontstack}", url.PathEscape(f), "{range}", fmt.Sprintf("%d-%d", rg[0], rg[1])).Replace("../fonts/{fontstack}/{range}.pbf"))
			resp, b := tlGet(t, u)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", u, resp.StatusCode)
			}
			name, rng, glyphs := tlDecodeGlyphs(t, b)
			if name != f || rng != fmt.Sprintf("%d-%d", rg[0], rg[1]) {
				t.Errorf("%s: fontstack %q range %q", u, name, rng)
			}
			if rg[0] == 0 && len(glyphs) != 95+96 {
				t.Errorf("%s: %d glyphs", u, len(glyphs))
			}
			for _, g := range glyphs {
				if g.id < rg[0] || g.id > rg[1] || (g.w > 0 && len(g.bitmap) != (g.w+6)*(g.h+6)) {
					t.Errorf("%s: glyph %d %dx%d bitmap %d", u, g.id, g.w, g.h, len(g.bitmap))
				}
			}
		}
	}
	for _, p := range []string{"/resources/fonts/Arial%20Regular/0-100.pbf", "/resources/fonts/Comic%20Sans/0-255.pbf", "/resources/sprites/other.png"} {
		if resp, _ := tlGet(t, base+vectorSvc+p); resp.StatusCode != 404 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

type tlGlyph struct {
	id, w, h int
	bitmap   []byte
}

// tlDecodeGlyphs decodes a glyphs PBF: fontstack name, range and glyphs.
func tlDecodeGlyphs(t *testing.T, b []byte) (string, string, []tlGlyph) {
	t.Helper()
	fields := func(b []byte) (out [][2]any) {
		for len(b) > 0 {
			key, n := binary.Uvarint(b)
			if n <= 0 {
				t.Fatalf("bad key")
			}
			b = b[n:]
			switch key & 7 {
			case 0:
				v, n := binary.Uvarint(b)
				if n <= 0 {
					t.Fatalf("bad varint")
				}
				out, b = append(out, [2]any{int(key >> 3), v}), b[n:]
			case 2:
				l, n := binary.Uvarint(b)
				if n <= 0 || int(l) > len(b)-n {
					t.Fatalf("bad length")
				}
				out, b = append(out, [2]any{int(key >> 3), b[n : n+int(l)]}), b[n+int(l):]
			default:
				t.Fatalf("wire type %d", key&7)
			}
		}
		return out
	}
	top := fields(b)
	if len(top) != 1 || top[0][0] != 1 {
		t.Fatalf("glyphs message: %d fields", len(top))
	}
	var name, rng string
	var glyphs []tlGlyph
	for _, f := range fields(top[0][1].([]byte)) {
		switch f[0] {
		case 1:
			name = string(f[1].([]byte))
		case 2:
			rng = string(f[1].([]byte))
		case 3:
			var g tlGlyph
			for _, gf := range fields(f[1].([]byte)) {
				switch gf[0] {
				case 1:
					g.id = int(gf[1].(uint64))
				case 2:
					g.bitmap = gf[1].([]byte)
				case 3:
					g.w = int(gf[1].(uint64))
				case 4:
					g.h = int(gf[1].(uint64))
				}
			}
			glyphs = append(glyphs, g)
		}
	}
	return name, rng, glyphs
}

func TestVectorExportVTPK(t *testing.T) {
	em, base := tlStart(t, nil)
	params := url.Values{"levels": {"8-11"}, "exportBy": {"levelId"}, "exportExtent": {"DEFAULT"}}
	job, data := tlExportPackage(t, base, vectorSvc, params, ".vtpk")
	if !strings.HasSuffix(job["jobId"].(string), "_et") {
		t.Errorf("job id %v", job["jobId"])
	}
	entries := tlZipEntries(t, data)
	for _, n := range []string{"esriinfo/iteminfo.xml", "p12/root.json", "p12/resources/styles/root.json",
		"p12/resources/sprites/sprite.json", "p12/resources/sprites/sprite@2x.png", "p12/resources/fonts/Arial Bold/0-255.pbf", "p12/tilemap/root.json"} {
		if entries[n] == nil {
			t.Errorf("vtpk lacks %s", n)
		}
	}
	tiles := 0
	for name, b := range entries {
		rest, ok := strings.CutPrefix(name, "p12/tile/")
		if !ok {
			continue
		}
		var level, r0, c0 int
		if _, err := fmt.Sscanf(rest, "L%02d/R%04xC%04x.bundle", &level, &r0, &c0); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for rc, tile := range tlBundleTiles(t, name, b) {
			if _, err := mvt.UnmarshalGzipped(tile); err != nil {
				t.Errorf("%s tile %v: %v", name, rc, err)
			}
			served, ok, err := em.VectorTileBytes("Demo_Vector", level, r0+rc[0], c0+rc[1])
			if err != nil || !ok || !bytes.Equal(served, tile) {
				t.Errorf("%s tile %v differs from the served tile", name, rc)
			}
			tiles++
		}
	}
	// the tilemap quadtree leads to exactly the level-11 tiles in the bundles
	var tm struct{ Index any }
	if err := json.Unmarshal(entries["p12/tilemap/root.json"], &tm); err != nil {
		t.Fatalf("tilemap: %v", err)
	}
	leaves := map[[2]int]bool{}
	var walk func(n any, z, row, col int)
	walk = func(n any, z, row, col int) {
		switch v := n.(type) {
		case float64:
			if v == 1 {
				if z != 11 {
					t.Errorf("leaf 1 at level %d", z)
				}
				leaves[[2]int{row, col}] = true
			}
		case []any:
			if len(v) != 4 {
				t.Fatalf("node with %d children", len(v))
			}
			for i, c := range v {
				walk(c, z+1, 2*row+i/2, 2*col+i%2)
			}
		}
	}
	walk(tm.Index, 0, 0, 0)
	vs := em.tiles.vectors["Demo_Vector"]
	r0, r1, c0, c1, _ := vs.grid.tileRange(11, vs.data)
	if len(leaves) != (r1-r0+1)*(c1-c0+1) {
		t.Errorf("tilemap has %d level-11 tiles, want %d", len(leaves), (r1-r0+1)*(c1-c0+1))
	}
	for k := range leaves {
		if k[0] < r0 || k[0] > r1 || k[1] < c0 || k[1] > c1 {
			t.Errorf("tilemap tile %v outside %d-%d/%d-%d", k, r0, r1, c0, c1)
		}
	}
	want := 0
	for z := 8; z <= 11; z++ {
		r0, r1, c0, c1, _ := vs.grid.tileRange(z, vs.data)
		want += (r1 - r0 + 1) * (c1 - c0 + 1)
	}
	if tiles != want {
		t.Errorf("vtpk has %d tiles, want %d", tiles, want)
	}
	// over maxExportTilesCount the job fails with ArcGIS's message
	_, base2 := tlStart(t, &TileOptions{VectorServices: []VectorServiceOptions{{Name: "V", ExportTilesAllowed: true, MaxExportTilesCount: 100}}})
	v2 := base2 + "/arcgis/rest/services/V/VectorTileServer"
	id := tlSubmit(t, v2+"/exportTiles?levels=0-14&f=json&exportExtent="+url.QueryEscape(`{"xmin":-118,"ymin":33,"xmax":-116,"ymax":35,"spatialReference":{"wkid":4326}}`))
	if j := tlPollJob(t, v2+"/jobs/"+id); j["jobStatus"] != arcgis.JobSucceeded {
		msgs, _ := json.Marshal(j["messages"])
		if !strings.Contains(string(msgs), "ERROR 001564") {
			t.Errorf("over-limit vector export: %s", msgs)
		}
	} else {
		t.Errorf("vector export over the limit succeeded")
	}
}
