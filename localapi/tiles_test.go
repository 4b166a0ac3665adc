package localapi

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestTiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	tj := e.jsonOf(e.do("GET", "/api/v1/maps/demo/tiles/basemap/tilejson", nil), 200)
	tilesURL := tj["tiles"].([]any)[0].(string)
	if !strings.HasPrefix(tilesURL, e.hs.URL+"/api/v1/maps/demo/tiles/basemap/{z}/{x}/{y}") || tj["maxzoom"].(float64) != 2 {
		t.Fatalf("tilejson %v", tj)
	}
	for _, p := range []struct{ z, x, y string }{{"0", "0", "0"}, {"2", "1", "3"}, {"2", "3", "0"}} {
		r := e.do("GET", "/api/v1/maps/demo/tiles/basemap/"+p.z+"/"+p.x+"/"+p.y+".png", nil)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" || !bytes.HasSuffix(b, []byte("tile "+p.z+"/"+p.x+"/"+p.y)) {
			t.Fatalf("tile %v: %d %q %q", p, r.StatusCode, r.Header.Get("Content-Type"), b)
		}
	}
	if r := e.do("GET", "/api/v1/maps/demo/tiles/basemap/2/3/3", nil); r.StatusCode != 204 {
		t.Fatalf("absent tile: %d", r.StatusCode)
	}
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/basemap/2/4/0", nil), 400, "z")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/basemap/2/0/y", nil), 400, "y")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/nope/0/0/0", nil), 404, "tileLayer")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/..%2Fdata/0/0/0", nil), 404, "path")

	// Vector tiles: gzip MVT, style rewritten to this API, sprites, glyphs.
	r := e.do("GET", "/api/v1/maps/demo/tiles/vector/0/0/0.pbf", nil, "Accept-Encoding", "gzip")
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" || r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("vector tile: %d %v", r.StatusCode, r.Header)
	}
	vj := e.jsonOf(e.do("GET", "/api/v1/maps/demo/tiles/vector/tilejson", nil), 200)
	if vj["vector_layers"] == nil || !strings.HasSuffix(vj["tiles"].([]any)[0].(string), "{y}.pbf") {
		t.Fatalf("vector tilejson %v", vj)
	}
	st := e.jsonOf(e.do("GET", "/api/v1/maps/demo/tiles/vector/style", nil), 200)
	base := e.hs.URL + "/api/v1/maps/demo/tiles/vector"
	if !strings.HasPrefix(st["sprite"].(string), base) || !strings.HasPrefix(st["glyphs"].(string), base) {
		t.Fatalf("style not local: sprite %v glyphs %v", st["sprite"], st["glyphs"])
	}
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/basemap/style", nil), 404, "tileLayer")
	sj := e.jsonOf(e.do("GET", "/api/v1/maps/demo/tiles/vector/sprites/sprite.json", nil), 200)
	if sj["dot"] == nil {
		t.Fatalf("sprite json %v", sj)
	}
	if r := e.do("GET", "/api/v1/maps/demo/tiles/vector/sprites/sprite.png", nil); r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("sprite png %d", r.StatusCode)
	}
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/vector/sprites/sprite@2x.png", nil), 404, "sprite")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/vector/sprites/..%2F..%2Fpackage.json", nil), 404, "path")
	g := e.do("GET", "/api/v1/maps/demo/tiles/vector/fonts/Arial%20Regular,Noto%20Sans/0-255.pbf", nil)
	if b, _ := io.ReadAll(g.Body); g.StatusCode != 200 || string(b) != "glyphs-0-255" {
		t.Fatalf("glyphs: %d %q", g.StatusCode, b)
	}
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/vector/fonts/Arial%20Regular/256-511.pbf", nil), 404, "range")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/vector/fonts/Arial%20Regular/1-5.pbf", nil), 400, "range")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/vector/fonts/..%2F..%2F/0-255.pbf", nil), 404, "path")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/vector/fonts/.hidden/0-255.pbf", nil), 400, "fontstack")
}
