package tiles

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"
)

// DemoXYZTemplate is the path, under the emulator's root, of its open XYZ
// tile server (the template of the demo web map's WebTiledLayer).
const DemoXYZTemplate = "/xyz/open/{level}/{col}/{row}.png"

// registerXYZ adds an open (non-ArcGIS, anonymous) XYZ raster tile server at
// /xyz/open/{z}/{x}/{y}.png, shaped like tileserver-gl and the CDNs in
// front of OpenStreetMap-style servers: PNG tiles sent Content-Encoding:
// gzip whatever the request asked, a weak ETag and no Cache-Control; a
// tile outside the zoom range or the data bounds answers 404 "Out of
// bounds" (tileserver-gl's body for such requests).
func (s *Tiles) registerXYZ() {
	ms := newMapService(MapServiceOptions{Name: "open"}, s.opts.Seed+7919, s.tiles.opts.CacheTiles)
	s.tiles.xyz = ms
	s.router.HandleFunc("/xyz/open/{z:[0-9]+}/{x:[0-9]+}/{y:[0-9]+}.png", func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		k, err := parseTileKey(v["z"], v["y"], v["x"])
		if err != nil || !ms.exists(k) {
			http.Error(w, "Out of bounds", http.StatusNotFound)
			return
		}
		data, err := ms.render.tile(k)
		if err != nil {
			http.Error(w, "render: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(data)
		_ = zw.Close()
		h := w.Header()
		h.Set("Content-Type", "image/png")
		h.Set("Content-Encoding", "gzip")
		h.Set("ETag", fmt.Sprintf(`W/"%s"`, strconv.FormatUint(tileHash(ms.seed, k), 16)))
		h.Set("Content-Length", strconv.Itoa(buf.Len()))
		if r.Method != http.MethodHead {
			_, _ = w.Write(buf.Bytes())
		}
	})
}

// XYZTileBytes returns the PNG the open XYZ server sends (before content
// encoding) for tile z/x/y, or ok=false when it answers 404.
func (s *Tiles) XYZTileBytes(z, x, y int) (data []byte, ok bool) {
	ms := s.tiles.xyz
	k := tileKey{z, y, x}
	if ms == nil || !ms.exists(k) {
		return nil, false
	}
	data, err := ms.render.tile(k)
	return data, err == nil
}
