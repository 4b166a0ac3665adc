// Package openmaps is an open (non-ArcGIS) map server for tests, shaped
// like tileserver-gl and martin: a MapLibre style v8 with two vector
// sources (TileJSON 3.0.0 documents with bounds, minzoom, maxzoom and
// vector_layers) and one raster source (inline tiles), sprites (1x and 2x)
// and glyph ranges; plus a PMTiles archive behind a plain file server with
// Range support.
//
// Habits of the real servers it copies (each answer as theirs): every
// tile and document is sent Content-Encoding: gzip whatever the request's
// Accept-Encoding (tileserver-gl); an empty vector tile is 204 No Content
// (martin); a tile outside a source's zooms or bounds is 404 "Out of
// bounds" (tileserver-gl's body); ETags are weak; there is no
// Cache-Control; an API key is required in the query string of every URL
// when Options.Key is set (MapTiler-style); Options.Throttle answers 429
// with Retry-After.
package openmaps

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
)

// Options configure a Server.
type Options struct {
	// Key, when set, must be the key= query parameter of every request
	// (else 401); the URLs the server writes carry it.
	Key string
	// Throttle answers the n-th tile request (and every Throttle-th after
	// it) 429 with Retry-After: 1 when > 0.
	Throttle int
	// OnTile, when set, is called before each tile answer (tests cancel a
	// job mid-download from it).
	OnTile func(path string)
}

// Source is a tiled source of the style.
type Source struct {
	Name    string
	Vector  bool
	MinZoom int
	MaxZoom int
	// Bounds is west, south, east, north (WGS84).
	Bounds [4]float64
}

// Sources are the style's sources: two vector, one raster.
var Sources = []Source{
	{Name: "roads", Vector: true, MinZoom: 0, MaxZoom: 14, Bounds: [4]float64{5.9, 45.8, 10.5, 47.8}},
	{Name: "places", Vector: true, MinZoom: 3, MaxZoom: 12, Bounds: [4]float64{7.0, 46.5, 8.0, 47.2}},
	{Name: "hillshade", Vector: false, MinZoom: 0, MaxZoom: 11, Bounds: [4]float64{6.5, 46.0, 9.5, 47.5}},
}

// Server is the open map server. Create it with New; serve it with
// net/http (its base URL is learnt from each request's Host).
type Server struct {
	opt   Options
	mux   *http.ServeMux
	mu    sync.Mutex
	log   []string
	tileN int
	n429  int
	pm    []byte
}

// New returns a server.
func New(opt Options) *Server {
	s := &Server{opt: opt, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /styles/basic/style.json", s.style)
	s.mux.HandleFunc("GET /data/{source}", s.tileJSON)
	s.mux.HandleFunc("GET /data/{source}/{z}/{x}/{y}", s.tile)
	s.mux.HandleFunc("GET /sprites/{file}", s.sprite)
	s.mux.HandleFunc("GET /fonts/{stack}/{range}", s.glyphs)
	s.mux.HandleFunc("GET /files/{file}", s.file)
	return s
}

// ServeHTTP implements http.Handler: the key check, the request log.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, r.URL.RequestURI())
	s.mu.Unlock()
	if s.opt.Key != "" && r.URL.Query().Get("key") != s.opt.Key && !strings.HasPrefix(r.URL.Path, "/files/") {
		http.Error(w, "Invalid key", http.StatusUnauthorized)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Requests returns the request URIs received so far.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Throttled returns how many requests were answered 429.
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n429
}

func (s *Server) q() string {
	if s.opt.Key == "" {
		return ""
	}
	return "?key=" + s.opt.Key
}

func base(r *http.Request) string { return "http://" + r.Host }

// send writes b gzip-compressed (whatever the request asked), with a weak
// ETag and no Cache-Control.
func send(w http.ResponseWriter, ctype string, b []byte) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	h := fnv.New64a()
	_, _ = h.Write(b)
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("ETag", fmt.Sprintf(`W/"%x"`, h.Sum64()))
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
}

// Style returns the style document the server sends for base URL b.
func (s *Server) Style(b string) map[string]any {
	q := s.q()
	return map[string]any{
		"version": 8, "name": "basic",
		"sources": map[string]any{
			"roads":  map[string]any{"type": "vector", "url": b + "/data/roads.json" + q},
			"places": map[string]any{"type": "vector", "url": "/data/places.json" + q},
			"hillshade": map[string]any{"type": "raster", "tileSize": 256, "minzoom": 0, "maxzoom": 11,
				"bounds": Sources[2].Bounds[:], "tiles": []string{b + "/data/hillshade/{z}/{x}/{y}.png" + q}},
		},
		"sprite": b + "/sprites/basic" + q,
		"glyphs": b + "/fonts/{fontstack}/{range}.pbf" + q,
		"layers": []any{
			map[string]any{"id": "hillshade", "type": "raster", "source": "hillshade"},
			map[string]any{"id": "roads", "type": "line", "source": "roads", "source-layer": "roads"},
			map[string]any{"id": "places", "type": "symbol", "source": "places", "source-layer": "places",
				"layout": map[string]any{"text-field": "{name}", "text-font": []any{"Noto Sans Regular"}, "icon-image": "dot"}},
			map[string]any{"id": "road-labels", "type": "symbol", "source": "roads", "source-layer": "roads",
				"layout": map[string]any{"text-field": []any{"get", "ref"}, "text-font": []any{"literal", []any{"Noto Sans Bold", "Noto Sans Regular"}}}},
		},
	}
}

func (s *Server) style(w http.ResponseWriter, r *http.Request) {
	send(w, "application/json", mustJSON(s.Style(base(r))))
}

func source(name string) (Source, bool) {
	for _, src := range Sources {
		if src.Name == name {
			return src, true
		}
	}
	return Source{}, false
}

func (s *Server) tileJSON(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("source"), ".json")
	src, found := source(name)
	if !ok || !found || !src.Vector {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	tj := map[string]any{
		"tilejson": "3.0.0", "name": name, "scheme": "xyz", "format": "pbf",
		"tiles":   []string{base(r) + "/data/" + name + "/{z}/{x}/{y}.pbf" + s.q()},
		"minzoom": src.MinZoom, "maxzoom": src.MaxZoom, "bounds": src.Bounds[:],
		"attribution":   "© test contributors",
		"vector_layers": []any{map[string]any{"id": name, "fields": map[string]any{"name": "String", "ref": "String"}, "minzoom": src.MinZoom, "maxzoom": src.MaxZoom}},
	}
	send(w, "application/json", mustJSON(tj))
}

// InBounds reports whether the server has tile z/x/y of src: within its
// zooms and touching its bounds.
func InBounds(src Source, z, x, y int) bool {
	if z < src.MinZoom || z > src.MaxZoom || x < 0 || y < 0 || x >= 1<<z || y >= 1<<z {
		return false
	}
	b := maptile.New(uint32(x), uint32(y), maptile.Zoom(z)).Bound()
	return b.Min[0] < src.Bounds[2] && b.Max[0] > src.Bounds[0] && b.Min[1] < src.Bounds[3] && b.Max[1] > src.Bounds[1]
}

// Empty reports whether vector tile z/x/y is empty (answered 204): one
// tile in five, chosen by hash.
func Empty(src Source, z, x, y int) bool {
	return src.Vector && tileHash(src.Name, z, x, y)%5 == 0
}

func tileHash(name string, z, x, y int) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%d/%d", name, z, x, y)
	return h.Sum64()
}

func (s *Server) tile(w http.ResponseWriter, r *http.Request) {
	src, ok := source(r.PathValue("source"))
	z, ez := strconv.Atoi(r.PathValue("z"))
	x, ex := strconv.Atoi(r.PathValue("x"))
	ys, _, _ := strings.Cut(r.PathValue("y"), ".")
	y, ey := strconv.Atoi(ys)
	if !ok || ez != nil || ex != nil || ey != nil {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	if s.opt.OnTile != nil {
		s.opt.OnTile(r.URL.Path)
	}
	if s.opt.Throttle > 0 {
		s.mu.Lock()
		s.tileN++
		n := s.tileN
		s.mu.Unlock()
		if n%s.opt.Throttle == 0 {
			s.mu.Lock()
			s.n429++
			s.mu.Unlock()
			w.Header().Set("Retry-After", "1")
			http.Error(w, "Too many requests", http.StatusTooManyRequests)
			return
		}
	}
	if !InBounds(src, z, x, y) {
		http.Error(w, "Out of bounds", http.StatusNotFound)
		return
	}
	if Empty(src, z, x, y) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	b, err := TileBytes(src, z, x, y)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if src.Vector {
		send(w, "application/x-protobuf", b)
		return
	}
	send(w, "image/png", b)
}

// TileBytes returns the tile the server has for src at z/x/y before
// content encoding: plain MVT for vector sources, a PNG for raster ones.
func TileBytes(src Source, z, x, y int) ([]byte, error) {
	t := maptile.New(uint32(x), uint32(y), maptile.Zoom(z))
	if !src.Vector {
		return pngTile(tileHash(src.Name, z, x, y)), nil
	}
	b := t.Bound()
	c := b.Center()
	fc := geojson.NewFeatureCollection()
	f := geojson.NewFeature(orb.LineString{b.Min, c, {b.Max[0], b.Min[1]}})
	f.Properties = geojson.Properties{"ref": fmt.Sprintf("R%d", tileHash(src.Name, z, x, y)%97), "name": "Straße " + strconv.Itoa(z)}
	fc.Append(f)
	p := geojson.NewFeature(c)
	p.Properties = geojson.Properties{"name": fmt.Sprintf("Ort %d/%d/%d — Zürich", z, x, y)}
	fc.Append(p)
	layers := mvt.NewLayers(map[string]*geojson.FeatureCollection{src.Name: fc})
	layers.ProjectToTile(t)
	layers.Clip(mvt.MapboxGLDefaultExtentBound)
	for _, l := range layers {
		l.Version = 2
	}
	return mvt.Marshal(layers)
}

// pngTile is a small deterministic PNG.
func pngTile(seed uint64) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for i := 0; i < 16; i++ {
		for j := 0; j < 16; j++ {
			v := uint8((seed >> (uint(i+j) % 56)) & 0xff)
			img.Set(i, j, color.RGBA{v, uint8(i * 16), uint8(j * 16), 255})
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

// SpriteBytes returns the sprite file the server sends (before encoding).
func SpriteBytes(file string) ([]byte, bool) {
	switch file {
	case "basic.json":
		return []byte(`{"dot":{"x":0,"y":0,"width":8,"height":8,"pixelRatio":1}}`), true
	case "basic@2x.json":
		return []byte(`{"dot":{"x":0,"y":0,"width":16,"height":16,"pixelRatio":2}}`), true
	case "basic.png":
		return pngTile(1), true
	case "basic@2x.png":
		return pngTile(2), true
	}
	return nil, false
}

func (s *Server) sprite(w http.ResponseWriter, r *http.Request) {
	b, ok := SpriteBytes(r.PathValue("file"))
	if !ok {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	ct := "image/png"
	if strings.HasSuffix(r.PathValue("file"), ".json") {
		ct = "application/json"
	}
	send(w, ct, b)
}

// GlyphBytes returns the glyph range the server has for a font stack
// (a stand-in protobuf: field 1 fontstack, with the stack and range as
// its name), ok=false for ranges above U+FFFF.
func GlyphBytes(stack, rng string) ([]byte, bool) {
	a, _, ok := strings.Cut(rng, "-")
	n, err := strconv.Atoi(a)
	if !ok || err != nil || n > 65280 || n%256 != 0 {
		return nil, false
	}
	name := stack + " " + rng
	return append([]byte{0x0a, byte(len(name) + 2), 0x0a, byte(len(name))}, name...), true
}

func (s *Server) glyphs(w http.ResponseWriter, r *http.Request) {
	rng, ok := strings.CutSuffix(r.PathValue("range"), ".pbf")
	b, found := GlyphBytes(r.PathValue("stack"), rng)
	if !ok || !found {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	send(w, "application/x-protobuf", b)
}

// file serves the PMTiles archive as a plain file server does: Range
// requests (206), a strong Last-Modified, no compression.
func (s *Server) file(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("file") != "area.pmtiles" {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if s.opt.OnTile != nil && r.Header.Get("Range") != "" {
		s.opt.OnTile(r.URL.Path)
	}
	s.mu.Lock()
	if s.pm == nil {
		s.pm = mustArchive()
	}
	b := s.pm
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, "area.pmtiles", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), bytes.NewReader(b))
}

// lonLatTile is the XYZ tile of a point at zoom z.
func lonLatTile(lon, lat float64, z int) (x, y int) {
	n := math.Exp2(float64(z))
	x = int((lon + 180) / 360 * n)
	r := lat * math.Pi / 180
	y = int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * n)
	return
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
