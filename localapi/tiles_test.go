package localapi

import (
	"bytes"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/localapi/localapitest"
	"github.com/offlined/offlined/tiles"
)

// The demo package's tile layers (localapitest.Basemap, .Vector).
const (
	basemapTiles = "/api/v1/maps/demo/tiles/" + localapitest.Basemap
	vectorTiles  = "/api/v1/maps/demo/tiles/" + localapitest.Vector
)

// storedTile reads tile z/x/y of the demo map's tile layer from its
// MBTiles file.
func (e *env) storedTile(layer string, z, x, y int) []byte {
	e.t.Helper()
	st, err := tiles.OpenStore(e.t.Context(), filepath.Join(e.root, "packages", "demo", "tiles", layer+".mbtiles"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	b, err := st.Tile(e.t.Context(), z, x, y)
	if err != nil {
		e.t.Fatalf("stored tile %s/%d/%d/%d: %v", layer, z, x, y, err)
	}
	return b
}

func TestTiles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	// The template's basemap has levels 12-13 over the demo area.
	tj := e.jsonOf(e.do("GET", basemapTiles+"/tilejson", nil), 200)
	tilesURL := tj["tiles"].([]any)[0].(string)
	if !strings.HasPrefix(tilesURL, e.hs.URL+basemapTiles+"/{z}/{x}/{y}") || tj["minzoom"].(float64) != 12 || tj["maxzoom"].(float64) != 13 {
		t.Fatalf("tilejson %v", tj)
	}
	bounds := tj["bounds"].([]any)
	w, s, east, n := bounds[0].(float64), bounds[1].(float64), bounds[2].(float64), bounds[3].(float64)
	for _, p := range []struct {
		z        int
		lon, lat float64
	}{{12, (w + east) / 2, (s + n) / 2}, {13, (w + east) / 2, (s + n) / 2}, {13, w + 0.001, n - 0.001}} {
		x, y := lonLatTile(p.lon, p.lat, p.z)
		r := e.do("GET", fmt.Sprintf("%s/%d/%d/%d.png", basemapTiles, p.z, x, y), nil)
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" || !bytes.Equal(b, e.storedTile(localapitest.Basemap, p.z, x, y)) {
			t.Fatalf("tile %d/%d/%d: %d %q, not the stored tile", p.z, x, y, r.StatusCode, r.Header.Get("Content-Type"))
		}
	}
	if r := e.do("GET", basemapTiles+"/13/0/0", nil); r.StatusCode != 204 { // far outside the area
		t.Fatalf("absent tile: %d", r.StatusCode)
	}
	e.wantError(e.do("GET", basemapTiles+"/2/4/0", nil), 400, "z")
	e.wantError(e.do("GET", basemapTiles+"/2/0/y", nil), 400, "y")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/nope/0/0/0", nil), 404, "tileLayer")
	e.wantError(e.do("GET", "/api/v1/maps/demo/tiles/..%2Fdata/0/0/0", nil), 404, "path")

	// Vector tiles: gzip MVT, style rewritten to this API, sprites, glyphs.
	r := e.do("GET", vectorTiles+"/0/0/0.pbf", nil, "Accept-Encoding", "gzip")
	if r.StatusCode != 200 || r.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" || r.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("vector tile: %d %v", r.StatusCode, r.Header)
	}
	vj := e.jsonOf(e.do("GET", vectorTiles+"/tilejson", nil), 200)
	if vj["vector_layers"] == nil || !strings.HasSuffix(vj["tiles"].([]any)[0].(string), "{y}.pbf") {
		t.Fatalf("vector tilejson %v", vj)
	}
	st := e.jsonOf(e.do("GET", vectorTiles+"/style", nil), 200)
	base := e.hs.URL + vectorTiles
	if !strings.HasPrefix(st["sprite"].(string), base) || !strings.HasPrefix(st["glyphs"].(string), base) {
		t.Fatalf("style not local: sprite %v glyphs %v", st["sprite"], st["glyphs"])
	}
	e.wantError(e.do("GET", basemapTiles+"/style", nil), 404, "tileLayer")
	sj := e.jsonOf(e.do("GET", vectorTiles+"/sprites/sprite.json", nil), 200)
	if sj["inspection-point"] == nil {
		t.Fatalf("sprite json %v", sj)
	}
	if r := e.do("GET", vectorTiles+"/sprites/sprite.png", nil); r.StatusCode != 200 || r.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("sprite png %d", r.StatusCode)
	}
	e.wantError(e.do("GET", vectorTiles+"/sprites/sprite@3x.png", nil), 404, "sprite")
	e.wantError(e.do("GET", vectorTiles+"/sprites/..%2F..%2Fpackage.json", nil), 404, "path")
	g := e.do("GET", vectorTiles+"/fonts/Arial%20Regular,Noto%20Sans/0-255.pbf", nil)
	if b, _ := io.ReadAll(g.Body); g.StatusCode != 200 || !bytes.Equal(b, e.glyphs("Arial Regular")) {
		t.Fatalf("glyphs: %d %.40q", g.StatusCode, b)
	}
	e.wantError(e.do("GET", vectorTiles+"/fonts/Arial%20Regular/256-511.pbf", nil), 404, "range")
	e.wantError(e.do("GET", vectorTiles+"/fonts/Arial%20Regular/1-5.pbf", nil), 400, "range")
	e.wantError(e.do("GET", vectorTiles+"/fonts/..%2F..%2F/0-255.pbf", nil), 404, "path")
	e.wantError(e.do("GET", vectorTiles+"/fonts/.hidden/0-255.pbf", nil), 400, "fontstack")
}

// glyphs returns the demo vector layer's stored 0-255 glyphs of font.
func (e *env) glyphs(font string) []byte {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.reg.ResourceDir("demo", localapitest.Vector), "fonts", font, "0-255.pbf"))
	if err != nil || len(b) == 0 {
		e.t.Fatalf("stored glyphs of %s: %v", font, err)
	}
	return b
}

// eachStoredTile calls f with the XYZ address and bytes of every tile
// stored in the MBTiles file at path (rows without data are skipped) and
// returns how many there were.
func eachStoredTile(t *testing.T, path string, f func(z, x, y int, data []byte)) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), `SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles WHERE tile_data IS NOT NULL`)
	if err != nil {
		t.Fatalf("store %s: %v", path, err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var z, x, tmsY int
		var data []byte
		if err := rows.Scan(&z, &x, &tmsY, &data); err != nil {
			t.Fatal(err)
		}
		f(z, x, (1<<z)-1-tmsY, data)
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
