package tiles

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// Font stacks the demo style uses (glyph ranges are served for these).
var fontStacks = []string{"Arial Regular", "Arial Bold"}

// styleJSON is the service's Mapbox GL style v8 (resources/styles/root.json)
// with Esri's relative URLs: source "../../", sprite "../sprites/sprite",
// glyphs "../fonts/{fontstack}/{range}.pbf".
func (vs *vectorService) styleJSON() map[string]any {
	src := func(id, layer, typ string, extra map[string]any) map[string]any {
		m := map[string]any{"id": id, "type": typ, "source": "esri", "source-layer": layer}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	return map[string]any{
		"version": 8,
		"name":    vs.name,
		"sprite":  "../sprites/sprite",
		"glyphs":  "../fonts/{fontstack}/{range}.pbf",
		"sources": map[string]any{
			"esri": map[string]any{"type": "vector", "url": "../../", "attribution": "offlined emulator"},
		},
		"layers": []any{
			map[string]any{"id": "background", "type": "background", "paint": map[string]any{"background-color": "#f2efe9"}},
			src("demo_grid/extent", gridLayerName, "line", map[string]any{"paint": map[string]any{"line-color": "#9a9a9a", "line-width": 1}}),
			src("Parcels", "Parcels", "fill", map[string]any{"paint": map[string]any{"fill-color": "#e3d6b8", "fill-outline-color": "#8c7b5a"}}),
			src("Pipes", "Pipes", "line", map[string]any{"paint": map[string]any{"line-color": "#2f6fb0", "line-width": 2}}),
			src("Inspections", "Inspections", "symbol", map[string]any{"layout": map[string]any{
				"icon-image": "inspection-point", "icon-allow-overlap": true,
			}}),
			src("Parcels/label", "Parcels", "symbol", map[string]any{"layout": map[string]any{
				"text-field": "{OBJECTID}", "text-font": []string{"Arial Bold"}, "text-size": 11,
			}}),
			src("Inspections/label", "Inspections", "symbol", map[string]any{"layout": map[string]any{
				"text-field": "{OBJECTID}", "text-font": []string{"Arial Regular"}, "text-size": 10, "text-offset": []float64{0, 1.2},
			}}),
			src("demo_grid/label", gridLayerName, "symbol", map[string]any{"layout": map[string]any{
				"text-field": "{label}", "text-font": []string{"Arial Regular"}, "text-size": 10,
			}}),
		},
	}
}

// spriteIcon is one icon of the demo sprite sheet.
type spriteIcon struct {
	name string
	draw func(x, y, n int) bool // pixel (x,y) of an n×n icon is set
	col  color.RGBA
}

var spriteIcons = []spriteIcon{
	{"inspection-point", func(x, y, n int) bool {
		c := float64(n-1) / 2
		dx, dy := float64(x)-c, float64(y)-c
		return dx*dx+dy*dy <= c*c
	}, color.RGBA{200, 60, 40, 255}},
	{"pipe-valve", func(x, y, n int) bool { return x >= n/4 && x < n-n/4 && y >= n/4 && y < n-n/4 }, color.RGBA{47, 111, 176, 255}},
	{"parcel-hatch", func(x, y, n int) bool { return (x+y)%(n/4) == 0 }, color.RGBA{140, 123, 90, 255}},
}

type spriteSheet struct {
	json []byte
	png  []byte
}

// spriteSheets returns the 1x and 2x sprite sheets, built once per emulator
// (they are constant).
func (st *tileState) spriteSheets() (map[int]spriteSheet, error) {
	st.spriteOnce.Do(func() { st.sprites, st.spriteErr = buildSprites() })
	return st.sprites, st.spriteErr
}

// buildSprites draws the sprite sheets (pixel ratio → sheet).
func buildSprites() (map[int]spriteSheet, error) {
	sheets := map[int]spriteSheet{}
	{
		for _, ratio := range []int{1, 2} {
			n := 16 * ratio
			img := image.NewNRGBA(image.Rect(0, 0, n*len(spriteIcons), n))
			index := map[string]any{}
			for i, ic := range spriteIcons {
				for y := 0; y < n; y++ {
					for x := 0; x < n; x++ {
						if ic.draw(x, y, n) {
							img.SetNRGBA(i*n+x, y, color.NRGBA(ic.col))
						}
					}
				}
				index[ic.name] = map[string]int{"x": i * n, "y": 0, "width": n, "height": n, "pixelRatio": ratio}
			}
			var buf bytes.Buffer
			if err := png.Encode(&buf, img); err != nil {
				return nil, fmt.Errorf("encode sprite: %w", err)
			}
			js, err := json.Marshal(index)
			if err != nil {
				return nil, fmt.Errorf("encode sprite index: %w", err)
			}
			sheets[ratio] = spriteSheet{json: js, png: buf.Bytes()}
		}
	}
	return sheets, nil
}

// serveSprite serves sprite.json, sprite.png, sprite@2x.json, sprite@2x.png.
func (st *tileState) serveSprite(w http.ResponseWriter, r *http.Request) {
	file := mux.Vars(r)["file"]
	sheets, err := st.spriteSheets()
	if err != nil {
		rest.WriteError(w, http.StatusInternalServerError, 500, "Sprite unavailable", err.Error())
		return
	}
	ratio := 1
	name := file
	if strings.HasPrefix(name, "sprite@2x.") {
		ratio, name = 2, "sprite."+strings.TrimPrefix(name, "sprite@2x.")
	}
	switch name {
	case "sprite.json":
		serveTileBytes(w, r, "application/json", sheets[ratio].json)
	case "sprite.png":
		serveTileBytes(w, r, "image/png", sheets[ratio].png)
	default:
		rest.WriteError(w, http.StatusNotFound, 404, "Resource not found", file)
	}
}

// serveGlyphs serves resources/fonts/{fontstack}/{start}-{end}.pbf: a
// glyphs protobuf (Mapbox glyph PBF) for known font stacks.
func serveGlyphs(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	start, end, ok := parseGlyphRange(v["range"])
	if !ok {
		rest.WriteError(w, http.StatusNotFound, 404, "Resource not found", "invalid glyph range "+v["range"])
		return
	}
	stack := v["fontstack"]
	for _, part := range strings.Split(stack, ",") {
		if !knownFont(strings.TrimSpace(part)) {
			rest.WriteError(w, http.StatusNotFound, 404, "Resource not found", "unknown font stack "+stack)
			return
		}
	}
	serveTileBytes(w, r, "application/x-protobuf", glyphPBF(stack, start, end))
}

func knownFont(name string) bool {
	for _, f := range fontStacks {
		if f == name {
			return true
		}
	}
	return false
}

// parseGlyphRange parses "{start}-{end}" where start is a multiple of 256
// and end = start+255, at most 65535.
func parseGlyphRange(s string) (int, int, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.Atoi(a)
	end, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || start < 0 || start%256 != 0 || end != start+255 || end > 65535 {
		return 0, 0, false
	}
	return start, end, true
}

// glyphPBF encodes a glyphs message: one fontstack{name, range, glyphs}
// with a glyph{id, bitmap, width, height, left, top, advance} per printable
// code point of the range (SDF bitmaps of (w+6)×(h+6) bytes, 3 px buffer).
func glyphPBF(stack string, start, end int) []byte {
	bold := strings.Contains(stack, "Bold")
	var fs []byte
	fs = pbString(fs, 1, stack)
	fs = pbString(fs, 2, fmt.Sprintf("%d-%d", start, end))
	for id := start; id <= end; id++ {
		if id < 32 || (id >= 127 && id < 160) {
			continue
		}
		width, height := 8, 12
		if bold {
			width = 9
		}
		if id == 32 {
			width, height = 0, 0
		}
		var g []byte
		g = pbVarint(g, 1, uint64(id))
		if width > 0 {
			bw, bh := width+6, height+6
			bm := make([]byte, bw*bh)
			for y := 0; y < bh; y++ {
				for x := 0; x < bw; x++ {
					// a box glyph whose inner pattern depends on the code point
					inside := x >= 3 && x < bw-3 && y >= 3 && y < bh-3
					if inside && (x+y+id)%3 != 0 {
						bm[y*bw+x] = 192
					} else if inside {
						bm[y*bw+x] = 160
					}
				}
			}
			g = pbBytes(g, 2, bm)
		}
		g = pbVarint(g, 3, uint64(width))
		g = pbVarint(g, 4, uint64(height))
		g = pbVarint(g, 5, zigzag(1))
		g = pbVarint(g, 6, zigzag(-2))
		g = pbVarint(g, 7, uint64(width+2))
		fs = pbBytes(fs, 3, g)
	}
	return pbBytes(nil, 1, fs)
}

func zigzag(v int64) uint64 { return uint64((v << 1) ^ (v >> 63)) }

func pbKey(b []byte, field, wire int) []byte {
	return binary.AppendUvarint(b, uint64(field<<3|wire))
}

func pbVarint(b []byte, field int, v uint64) []byte {
	return binary.AppendUvarint(pbKey(b, field, 0), v)
}

func pbBytes(b []byte, field int, v []byte) []byte {
	b = binary.AppendUvarint(pbKey(b, field, 2), uint64(len(v)))
	return append(b, v...)
}

func pbString(b []byte, field int, s string) []byte { return pbBytes(b, field, []byte(s)) }
