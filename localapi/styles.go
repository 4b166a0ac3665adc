package localapi

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/tiles"
)

// Style layers (package kind "style": a MapLibre style from any server, or
// a PMTiles archive) keep their rewritten style, sprites and glyphs under
// tiles/<style>/ and each source's tiles in tiles/<style>.<source>.mbtiles.
// The style is served with every URL pointing at this API: sources at the
// tile layers' TileJSON (GET …/tiles/{tileLayer}/tilejson), sprites and
// glyphs at the routes below.

// routesStyles registers the style layer routes.
func (s *Server) routesStyles() {
	const st = "/api/v1/maps/{map}/styles/{style}"
	s.handle("GET", st, s.getOpenStyle)
	s.handle("GET", st+"/sprites/{sprite}", s.getOpenSprite)
	s.handle("GET", st+"/fonts/{fontstack}/{range}", s.getOpenGlyphs)
}

// styleDir returns the directory of a style layer, or a 404 naming the
// field.
func (s *Server) styleDir(r *http.Request) (string, error) {
	v := mux.Vars(r)
	mi, err := s.reg.Get(r.Context(), v["map"])
	if err != nil {
		return "", err
	}
	if !validID.MatchString(v["style"]) {
		return "", notFound("style", "no style %q in map %q", v["style"], v["map"])
	}
	dir := filepath.Join(mi.Dir, "tiles", v["style"])
	if fi, err := os.Stat(filepath.Join(dir, "styles", "root.json")); err != nil || !fi.Mode().IsRegular() {
		return "", notFound("style", "no style %q in map %q", v["style"], v["map"])
	}
	return dir, nil
}

// getOpenStyle serves a style layer's style with its URLs on this API.
func (s *Server) getOpenStyle(w http.ResponseWriter, r *http.Request) error {
	dir, err := s.styleDir(r)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(dir, "styles", "root.json"))
	if err != nil {
		return err
	}
	style, err := tiles.ParseStyle(b)
	if err != nil {
		return fmt.Errorf("style layer %s: %w", mux.Vars(r)["style"], err)
	}
	v := mux.Vars(r)
	m := fmt.Sprintf("%s/api/v1/maps/%s", baseURL(r), v["map"])
	out := style.LocalAPIStyle(func(name string) string { return m + "/tiles/" + name + "/tilejson" },
		m+"/styles/"+v["style"]+"/sprites", m+"/styles/"+v["style"]+"/fonts/{fontstack}/{range}.pbf")
	writeJSON(w, 200, out)
	return nil
}

var openSpriteName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}(@[1-4]x)?\.(json|png)$`)

func (s *Server) getOpenSprite(w http.ResponseWriter, r *http.Request) error {
	dir, err := s.styleDir(r)
	if err != nil {
		return err
	}
	name := mux.Vars(r)["sprite"]
	if !openSpriteName.MatchString(name) {
		return notFound("sprite", "no sprite %q (<id>[@2x].json|png)", name)
	}
	return s.serveResource(w, filepath.Join(dir, "sprites", name), "sprite")
}

func (s *Server) getOpenGlyphs(w http.ResponseWriter, r *http.Request) error {
	dir, err := s.styleDir(r)
	if err != nil {
		return err
	}
	return s.serveGlyphs(w, r, filepath.Join(dir, "fonts"))
}
