package tiles

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Template is a parsed tile URL template. It understands the ArcGIS
// WebTiledLayer tokens {level} {col} {row} {subDomain}, the XYZ tokens {z} {x}
// {y} {s}, and {-y} (TMS row, counted from the bottom; XYZ grids only).
type Template struct {
	raw        string
	parts      []tmplPart
	subDomains []string
	fn         func(TileKey) string // FuncTemplate
}

type tmplPart struct {
	lit string
	tok string // "", "z", "x", "y", "-y", "s"
}

// TemplateError reports a tile URL template that cannot be used.
type TemplateError struct {
	Template string
	Reason   string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("tile URL template %q: %s", e.Template, e.Reason)
}

// ParseTemplate parses and validates a tile URL template. It must be an
// absolute http(s) URL with exactly one level, one column and one row token;
// {subDomain}/{s} needs subDomains.
func ParseTemplate(tmpl string, subDomains []string) (*Template, error) {
	bad := func(format string, a ...any) error {
		return &TemplateError{Template: tmpl, Reason: fmt.Sprintf(format, a...)}
	}
	t := &Template{raw: tmpl, subDomains: subDomains}
	seen := map[string]int{}
	rest := tmpl
	for rest != "" {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: rest})
			break
		}
		if rest[i] == '}' {
			return nil, bad("unbalanced '}' at byte %d", len(tmpl)-len(rest)+i)
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, bad("unclosed '{'")
		}
		name := rest[i+1 : i+j]
		var tok string
		switch strings.ToLower(name) {
		case "level", "z", "zoom":
			tok = "z"
		case "col", "x":
			tok = "x"
		case "row", "y":
			tok = "y"
		case "-y":
			tok = "-y"
		case "subdomain", "s":
			tok = "s"
		default:
			return nil, bad("unknown token {%s} (known: {level} {col} {row} {z} {x} {y} {-y} {subDomain} {s})", name)
		}
		key := tok
		if tok == "-y" {
			key = "y"
		}
		seen[key]++
		t.parts = append(t.parts, tmplPart{tok: tok})
		rest = rest[i+j+1:]
	}
	for _, k := range []struct{ key, what string }{{"z", "level ({level} or {z})"}, {"x", "column ({col} or {x})"}, {"y", "row ({row}, {y} or {-y})"}} {
		switch seen[k.key] {
		case 0:
			return nil, bad("no %s token", k.what)
		case 1:
		default:
			return nil, bad("%s token appears %d times", k.what, seen[k.key])
		}
	}
	if seen["s"] > 0 && len(subDomains) == 0 {
		return nil, bad("uses {subDomain} but the layer lists no subDomains")
	}
	probe := t.expand(0, 0, 0, "a")
	u, err := url.Parse(probe)
	if err != nil {
		return nil, bad("not a URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, bad("not an absolute http(s) URL")
	}
	return t, nil
}

// String returns the template as given.
func (t *Template) String() string { return t.raw }

// TemplateFormat is the MBTiles format a raster URL template's path
// extension names: jpg, webp, else png.
func TemplateFormat(tmpl string) string {
	p := tmpl
	if u, err := url.Parse(strings.NewReplacer("{", "", "}", "").Replace(tmpl)); err == nil {
		p = u.Path
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".jpg", ".jpeg":
		return "jpg"
	case ".webp":
		return "webp"
	}
	return "png"
}

// URL returns the tile URL for an XYZ/ArcGIS grid key (level, row from top, col).
// Subdomains rotate by tile so requests spread over hosts deterministically.
func (t *Template) URL(k TileKey) string {
	if t.fn != nil {
		return t.fn(k)
	}
	s := ""
	if len(t.subDomains) > 0 {
		s = t.subDomains[(k.Row+k.Col)%len(t.subDomains)]
	}
	return t.expand(k.Level, k.Row, k.Col, s)
}

func (t *Template) expand(z, row, col int, sub string) string {
	// One allocation per URL: the builder is sized up front and numbers
	// are formatted into a stack buffer.
	n := 0
	for _, p := range t.parts {
		n += len(p.lit) + 20
	}
	var b strings.Builder
	b.Grow(n + len(sub))
	var num [20]byte
	for _, p := range t.parts {
		switch p.tok {
		case "":
			b.WriteString(p.lit)
		case "z":
			b.Write(strconv.AppendInt(num[:0], int64(z), 10))
		case "x":
			b.Write(strconv.AppendInt(num[:0], int64(col), 10))
		case "y":
			b.Write(strconv.AppendInt(num[:0], int64(row), 10))
		case "-y":
			b.Write(strconv.AppendInt(num[:0], int64((1<<uint(z&31))-1-row), 10))
		case "s":
			b.WriteString(sub)
		}
	}
	return b.String()
}

// ArcGISTileTemplate returns the template of a cached MapServer/ImageServer:
// serviceURL/tile/{level}/{row}/{col}.
func ArcGISTileTemplate(serviceURL string) (*Template, error) {
	return ParseTemplate(strings.TrimRight(serviceURL, "/")+"/tile/{level}/{row}/{col}", nil)
}

// VectorTileTemplate returns the template of a VectorTileServer: its root
// JSON "tiles" entry (default "tile/{z}/{y}/{x}.pbf") resolved against serviceURL.
func VectorTileTemplate(serviceURL string, tiles []string) (*Template, error) {
	rel := "tile/{z}/{y}/{x}.pbf"
	if len(tiles) > 0 && tiles[0] != "" {
		rel = tiles[0]
	}
	return ParseTemplate(resolveTemplate(strings.TrimRight(serviceURL, "/")+"/", rel), nil)
}

// resolveTemplate resolves ref against base without escaping template braces.
func resolveTemplate(base, ref string) string {
	if strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://") {
		return ref
	}
	const lb, rb = "__LB__", "__RB__"
	esc := strings.NewReplacer("{", lb, "}", rb)
	bu, err1 := url.Parse(esc.Replace(base))
	ru, err2 := url.Parse(esc.Replace(ref))
	if err1 != nil || err2 != nil {
		return base + ref
	}
	out := bu.ResolveReference(ru).String()
	return strings.NewReplacer(lb, "{", rb, "}").Replace(out)
}

// TileJSON is the subset of a TileJSON document (or a MapLibre style source)
// that a download needs.
type TileJSON struct {
	TileJSON     string           `json:"tilejson,omitempty"`
	Name         string           `json:"name,omitempty"`
	Tiles        []string         `json:"tiles"`
	MinZoom      *int             `json:"minzoom,omitempty"`
	MaxZoom      *int             `json:"maxzoom,omitempty"`
	Bounds       []float64        `json:"bounds,omitempty"`
	Scheme       string           `json:"scheme,omitempty"`
	Attribution  string           `json:"attribution,omitempty"`
	VectorLayers []map[string]any `json:"vector_layers,omitempty"`
}

// ParseTileJSON parses and checks a TileJSON document: at least one tile URL,
// zooms within 0..30 and min ≤ max, bounds of four numbers, scheme xyz or tms.
func ParseTileJSON(b []byte) (*TileJSON, error) {
	var tj TileJSON
	if err := json.Unmarshal(b, &tj); err != nil {
		return nil, fmt.Errorf("tilejson: %w", err)
	}
	if len(tj.Tiles) == 0 {
		return nil, errors.New("tilejson: no tiles URLs")
	}
	for _, z := range []*int{tj.MinZoom, tj.MaxZoom} {
		if z != nil && (*z < 0 || *z > 30) {
			return nil, fmt.Errorf("tilejson: zoom %d out of range 0..30", *z)
		}
	}
	if tj.MinZoom != nil && tj.MaxZoom != nil && *tj.MinZoom > *tj.MaxZoom {
		return nil, fmt.Errorf("tilejson: minzoom %d > maxzoom %d", *tj.MinZoom, *tj.MaxZoom)
	}
	if tj.Bounds != nil && len(tj.Bounds) != 4 {
		return nil, fmt.Errorf("tilejson: bounds has %d numbers, want 4", len(tj.Bounds))
	}
	switch tj.Scheme {
	case "", "xyz", "tms":
	default:
		return nil, fmt.Errorf("tilejson: scheme %q is not xyz or tms", tj.Scheme)
	}
	return &tj, nil
}

// Template returns the download template of the TileJSON's first tiles URL,
// resolved against the document's own URL; a tms scheme flips rows.
func (tj *TileJSON) Template(docURL string) (*Template, error) {
	raw := resolveTemplate(docURL, tj.Tiles[0])
	if tj.Scheme == "tms" {
		raw = strings.Replace(raw, "{y}", "{-y}", 1)
	}
	return ParseTemplate(raw, nil)
}
