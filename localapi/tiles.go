package localapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/tiles"
)

// Header values of tile answers, shared by every answer (net/http only
// reads them; a Set replaces the slice): no allocation per tile.
var (
	tileContentTypes = map[string][]string{
		"png": {"image/png"}, "jpg": {"image/jpeg"}, "jpeg": {"image/jpeg"}, "webp": {"image/webp"},
		"pbf": {"application/vnd.mapbox-vector-tile"}, "mvt": {"application/vnd.mapbox-vector-tile"},
	}
	tileOctetStream  = []string{"application/octet-stream"}
	tileGzip         = []string{"gzip"}
	tileCacheControl = []string{"private, max-age=86400"}
)

// baseURL is the absolute URL prefix of the request's host.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// tileStore returns the route's tile layer store and its format.
func (s *Server) tileStore(r *http.Request) (*tiles.Store, string, error) {
	v := mux.Vars(r)
	return s.tileStoreOf(r.Context(), v["map"], v["tileLayer"])
}

// tileStoreOf returns tile layer layer of map mapID and its format.
func (s *Server) tileStoreOf(ctx context.Context, mapID, layer string) (*tiles.Store, string, error) {
	st, err := s.reg.TileStore(ctx, mapID, layer)
	if err != nil {
		return nil, "", err
	}
	format, err := st.Format(ctx)
	return st, format, err
}

func (s *Server) getTileJSON(w http.ResponseWriter, r *http.Request) error {
	st, format, err := s.tileStore(r)
	if err != nil {
		return err
	}
	v := mux.Vars(r)
	ext := format
	if ext == "" {
		ext = "png"
	}
	u := fmt.Sprintf("%s/api/v1/maps/%s/tiles/%s/{z}/{x}/{y}.%s", baseURL(r), v["map"], v["tileLayer"], ext)
	tj, err := st.TileJSON(r.Context(), u)
	return respond(w, 200, tj, err)
}

// tileRef is a tile request's route variables.
type tileRef struct{ mapID, layer, z, x, y string }

// getTile serves z/x/y (XYZ, y from the top; an extension is optional).
func (s *Server) getTile(w http.ResponseWriter, r *http.Request) error {
	v := mux.Vars(r)
	return s.serveTile(w, r, tileRef{mapID: v["map"], layer: v["tileLayer"], z: v["z"], x: v["x"], y: v["y"]})
}

// serveTile answers the tile ref names.
func (s *Server) serveTile(w http.ResponseWriter, r *http.Request, ref tileRef) error {
	z, _ := strconv.Atoi(ref.z)
	x, _ := strconv.Atoi(ref.x)
	ystr, _, _ := strings.Cut(ref.y, ".")
	y, err := strconv.Atoi(ystr)
	if err != nil || y < 0 {
		return badRequest("y", "y must be a non-negative integer")
	}
	if z > 30 || x >= 1<<z || y >= 1<<z {
		return badRequest("z", "tile %d/%d/%d is outside the grid", z, x, y)
	}
	bp := s.tileBufs.get()
	defer s.tileBufs.put(bp, maxPooledTileBuf)
	data, format, err := s.readTile(r.Context(), *bp, ref, z, x, y)
	*bp = data
	if errors.Is(err, tiles.ErrTileNotFound) {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	h := w.Header()
	if ct := tileContentTypes[format]; ct != nil {
		h["Content-Type"] = ct
	} else {
		h["Content-Type"] = tileOctetStream
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		h["Content-Encoding"] = tileGzip
	}
	h["Content-Length"] = []string{strconv.Itoa(len(data))}
	h["Cache-Control"] = tileCacheControl
	w.Write(data) // net/http keeps nothing of data: the buffer goes back
	return nil
}

// maxPooledTileBuf is the largest tile buffer kept for reuse; a larger
// tile's buffer is left to the GC.
const maxPooledTileBuf = 256 << 10

// readTile appends tile z/x/y of ref's tile layer to buf and returns it
// with the layer's format. The read waits for a slot
// (Options.TileConcurrency), freed when it returns (or panics), before
// the answer goes out, so a client slow to read holds none. The SQLite
// read itself runs without the request's cancellation: it takes
// microseconds, and database/sql and the driver each start a watcher per
// statement for a context that can end.
func (s *Server) readTile(ctx context.Context, buf []byte, ref tileRef, z, x, y int) ([]byte, string, error) {
	if err := s.tileGate.enter(ctx); err != nil {
		return buf, "", err
	}
	defer s.tileGate.leave()
	st, format, err := s.tileStoreOf(ctx, ref.mapID, ref.layer)
	if err != nil {
		return buf, "", err
	}
	data, err := st.AppendTile(context.WithoutCancel(ctx), buf, z, x, y)
	return data, format, err
}

// getStyle serves the vector tile layer's style with its sources, sprite and
// glyphs pointing at this API.
func (s *Server) getStyle(w http.ResponseWriter, r *http.Request) error {
	st, _, err := s.tileStore(r)
	if err != nil {
		return err
	}
	v := mux.Vars(r)
	b, err := os.ReadFile(filepath.Join(s.reg.ResourceDir(v["map"], v["tileLayer"]), "styles", "root.json"))
	if errors.Is(err, os.ErrNotExist) {
		return notFound("tileLayer", "tile layer %q has no style (not a vector tile layer)", v["tileLayer"])
	}
	if err != nil {
		return err
	}
	style, err := tiles.ParseStyle(b)
	if err != nil {
		return err
	}
	md, err := st.Metadata(r.Context())
	if err != nil {
		return err
	}
	minz, _ := strconv.Atoi(md["minzoom"])
	maxz, err := strconv.Atoi(md["maxzoom"])
	if err != nil {
		maxz = 22
	}
	base := fmt.Sprintf("%s/api/v1/maps/%s/tiles/%s", baseURL(r), v["map"], v["tileLayer"])
	writeJSON(w, 200, style.LocalStyle(base, minz, maxz))
	return nil
}

var spriteName = regexp.MustCompile(`^sprite(@[1-4]x)?\.(json|png)$`)

func (s *Server) getSprite(w http.ResponseWriter, r *http.Request) error {
	v := mux.Vars(r)
	if _, err := s.reg.TileStore(r.Context(), v["map"], v["tileLayer"]); err != nil {
		return err
	}
	name := v["sprite"]
	if !spriteName.MatchString(name) {
		return notFound("sprite", "no sprite %q (sprite[.@2x].json|png)", name)
	}
	return s.serveResource(w, filepath.Join(s.reg.ResourceDir(v["map"], v["tileLayer"]), "sprites", name), "sprite")
}

var glyphRange = regexp.MustCompile(`^([0-9]+)-([0-9]+)\.pbf$`)

func (s *Server) getGlyphs(w http.ResponseWriter, r *http.Request) error {
	v := mux.Vars(r)
	if _, err := s.reg.TileStore(r.Context(), v["map"], v["tileLayer"]); err != nil {
		return err
	}
	return s.serveGlyphs(w, r, filepath.Join(s.reg.ResourceDir(v["map"], v["tileLayer"]), "fonts"))
}

// serveGlyphs serves the route's {range} of its {fontstack} from fontsDir.
// A stack "A,B" is served from the first font that has the range (the
// whole stack first: resources may hold a combined stack directory).
func (s *Server) serveGlyphs(w http.ResponseWriter, r *http.Request, fontsDir string) error {
	v := mux.Vars(r)
	m := glyphRange.FindStringSubmatch(v["range"])
	if m == nil {
		return badRequest("range", "glyph range must look like 0-255.pbf")
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	if a%256 != 0 || b != a+255 || a > 65280 {
		return badRequest("range", "glyph range must be a 256-codepoint block")
	}
	fonts, err := fontStack(v["fontstack"])
	if err != nil {
		return err
	}
	for _, font := range fonts {
		p := filepath.Join(fontsDir, font, v["range"])
		if _, err := os.Stat(p); err == nil { // a font that cannot be read is skipped
			return s.serveResource(w, p, "range")
		}
	}
	return notFound("range", "no glyphs %s for %q", v["range"], v["fontstack"])
}

// fontStack returns the directory names to try for a font stack: the
// whole stack, then each font of it. Each must be a plain directory name (no
// separator, NUL or leading dot), so no element can leave the fonts
// directory.
func fontStack(fs string) ([]string, error) {
	bad := badRequest("fontstack", "invalid font stack")
	plain := func(name string) bool {
		return name != "" && len(name) <= 255 && !strings.ContainsAny(name, "/\\\x00") && !strings.HasPrefix(name, ".")
	}
	if !plain(fs) {
		return nil, bad
	}
	out := []string{fs}
	for _, font := range strings.Split(fs, ",") {
		font = strings.TrimSpace(font)
		if !plain(font) {
			return nil, bad
		}
		out = append(out, font)
	}
	return out, nil
}

func (s *Server) serveResource(w http.ResponseWriter, p, field string) error {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return notFound(field, "no such resource")
	}
	if err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(p, ".json"):
		if !json.Valid(b) {
			return fmt.Errorf("resource %s is not valid JSON", filepath.Base(p))
		}
		w.Header().Set("Content-Type", "application/json")
	case strings.HasSuffix(p, ".png"):
		w.Header().Set("Content-Type", "image/png")
	default:
		w.Header().Set("Content-Type", "application/x-protobuf")
		if bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			w.Header().Set("Content-Encoding", "gzip")
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Write(b)
	return nil
}
