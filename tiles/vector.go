package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Style is a MapLibre / Mapbox GL style document (Esri's VectorTileServer
// styles are too).
type Style map[string]any

// ParseStyle parses and checks a style: version 8, a sources object and a layers array.
func ParseStyle(b []byte) (Style, error) {
	var s Style
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("style: %w", err)
	}
	if v, _ := s["version"].(float64); v != 8 {
		return nil, fmt.Errorf("style: version %v, want 8", s["version"])
	}
	if _, ok := s["sources"].(map[string]any); !ok {
		return nil, errors.New("style: no sources object")
	}
	layers, ok := s["layers"].([]any)
	if !ok {
		return nil, errors.New("style: no layers array")
	}
	for i, l := range layers {
		if _, ok := l.(map[string]any); !ok {
			return nil, fmt.Errorf("style: layer %d is not an object", i)
		}
	}
	return s, nil
}

// VectorSources returns the names of the style's vector sources, sorted.
func (s Style) VectorSources() []string {
	var out []string
	for name, v := range s["sources"].(map[string]any) {
		if m, ok := v.(map[string]any); ok && m["type"] == "vector" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Fontstacks returns the font stacks ("Arial Regular,Noto Sans") the style's
// layers use in text-font, literal or inside expressions.
func (s Style) Fontstacks() []string {
	set := map[string]bool{}
	for _, l := range s["layers"].([]any) {
		lay, _ := l.(map[string]any)["layout"].(map[string]any)
		if tf, ok := lay["text-font"]; ok {
			collectFontstacks(tf, set)
		}
	}
	if len(set) == 0 {
		// MapLibre's default text-font.
		set["Open Sans Regular,Arial Unicode MS Regular"] = true
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

var styleOperators = map[string]bool{"literal": true, "step": true, "match": true, "case": true, "coalesce": true,
	"get": true, "interpolate": true, "zoom": true, "==": true, "!=": true, "has": true, "all": true, "any": true}

func collectFontstacks(v any, set map[string]bool) {
	switch t := v.(type) {
	case []any:
		var names []string
		for _, e := range t {
			if s, ok := e.(string); ok {
				names = append(names, s)
			}
		}
		if len(names) == len(t) && len(names) > 0 && !styleOperators[names[0]] {
			set[strings.Join(names, ",")] = true
			return
		}
		for _, e := range t {
			collectFontstacks(e, set)
		}
	case map[string]any: // legacy function {"stops": [[z, [fonts]]]}
		for _, e := range t {
			collectFontstacks(e, set)
		}
	}
}

// GlyphRanges returns the 256-codepoint glyph ranges ("0-255", "256-511", …)
// needed to draw texts; 0-255 is always included.
func GlyphRanges(texts []string) []string {
	set := map[rune]bool{0: true}
	for _, t := range texts {
		for _, r := range t {
			set[r/256*256] = true
		}
	}
	starts := make([]int, 0, len(set))
	for r := range set {
		starts = append(starts, int(r))
	}
	sort.Ints(starts)
	out := make([]string, len(starts))
	for i, s := range starts {
		out[i] = fmt.Sprintf("%d-%d", s, s+255)
	}
	return out
}

// LocalStyle returns the style with its vector sources, sprite and glyphs
// pointing at base (e.g. http://127.0.0.1:PORT/v1/tiles/<layer>):
// base/{z}/{x}/{y}.pbf, base/sprites/sprite and base/fonts/{fontstack}/{range}.pbf.
func (s Style) LocalStyle(base string, minzoom, maxzoom int) Style {
	var out Style
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &out)
	base = strings.TrimRight(base, "/")
	srcs := out["sources"].(map[string]any)
	for _, name := range s.VectorSources() {
		old := srcs[name].(map[string]any)
		src := map[string]any{"type": "vector", "tiles": []string{base + "/{z}/{x}/{y}.pbf"}, "minzoom": minzoom, "maxzoom": maxzoom, "scheme": "xyz"}
		if a, ok := old["attribution"]; ok {
			src["attribution"] = a
		}
		srcs[name] = src
	}
	if _, ok := out["sprite"]; ok {
		out["sprite"] = base + "/sprites/sprite"
	}
	if _, ok := out["glyphs"]; ok {
		out["glyphs"] = base + "/fonts/{fontstack}/{range}.pbf"
	}
	return out
}

// VectorTileLayerJob takes a vector tile layer offline.
type VectorTileLayerJob struct {
	// StyleURL is the VectorTileLayer's style (styleUrl); when empty,
	// ServiceURL + /resources/styles/root.json is used.
	StyleURL   string
	ServiceURL string
	AOI        AOI
	// Levels to download; when nil, the scale range picks them (0/0 = all).
	Levels             []int
	MinScale, MaxScale float64
	Store              *Store
	// ResourceDir receives styles/root.json, sprites/ and fonts/.
	ResourceDir string
	HTTP        *http.Client
	// Tokens gives the token for each URL the layer and its style name:
	// none for hosts the credential was not issued for (a CDN serving
	// sprites or glyphs, another host named by the style).
	Tokens   TokenSource
	Download DownloadOptions
}

// VectorResult reports a vector tile layer download.
type VectorResult struct {
	Progress      Progress
	Levels        []int
	Fontstacks    []string
	GlyphRanges   []string
	MissingGlyphs []string
	VectorLayers  []map[string]any
}

// DownloadVectorTileLayer downloads a vector tile layer: the style's vector
// source tiles (VectorTileServer root or TileJSON) into the MBTiles store as
// gzip MVT with json.vector_layers, and the style, sprites (1x/2x) and the
// glyph ranges its fonts need for the labels found in the tiles.
func DownloadVectorTileLayer(ctx context.Context, job VectorTileLayerJob) (VectorResult, error) {
	var res VectorResult
	hc := job.HTTP
	if hc == nil {
		hc = &http.Client{Transport: NewTransport(job.Download.Concurrency)}
	}
	styleURL := job.StyleURL
	if styleURL == "" {
		if job.ServiceURL == "" {
			return res, errors.New("vector tile layer: neither a style URL nor a service URL")
		}
		styleURL = strings.TrimRight(job.ServiceURL, "/") + "/resources/styles/root.json"
	}
	raw, err := getBytes(ctx, hc, styleURL, job.Tokens)
	if err != nil {
		return res, fmt.Errorf("vector tile layer style: %w", err)
	}
	style, err := ParseStyle(raw)
	if err != nil {
		return res, fmt.Errorf("%s: %w", styleURL, err)
	}
	srcs := style.VectorSources()
	if len(srcs) != 1 {
		return res, fmt.Errorf("vector tile layer style %s: %d vector sources; one is supported", styleURL, len(srcs))
	}
	scheme, tmpl, err := resolveVectorSource(ctx, hc, styleURL, style["sources"].(map[string]any)[srcs[0]].(map[string]any), job.ServiceURL, job.Tokens)
	if err != nil {
		return res, fmt.Errorf("vector tile layer %s source %q: %w", styleURL, srcs[0], err)
	}
	levels := job.Levels
	if levels == nil {
		lo, hi, err := scheme.LevelRange(job.MinScale, job.MaxScale)
		if err != nil {
			return res, err
		}
		for _, l := range scheme.Levels() {
			if l >= lo && l <= hi {
				levels = append(levels, l)
			}
		}
	}
	res.Levels = levels
	covers, err := Cover(scheme, job.AOI, levels, CoverOptions{})
	if err != nil {
		return res, err
	}
	if err := job.Store.Plan(ctx, coverCount(covers)); err != nil {
		return res, err
	}
	if err := job.Store.Configure(ctx, scheme, "pbf"); err != nil {
		return res, err
	}
	f := &gzipFetcher{TileFetcher: &HTTPFetcher{Client: hc, Template: tmpl, Tokens: job.Tokens}}
	if res.Progress, err = Download(ctx, job.Store, f, covers, job.Download); err != nil {
		return res, err
	}
	layers, texts, err := scanVectorLayers(ctx, job.Store)
	if err != nil {
		return res, err
	}
	res.VectorLayers = layers
	meta, _ := json.Marshal(map[string]any{"vector_layers": layers})
	if err := job.Store.SetMetadata(ctx, map[string]string{"json": string(meta), "type": "overlay"}); err != nil {
		return res, err
	}
	b, _ := job.AOI.WGS84Bounds()
	if err := job.Store.Finalize(ctx, srcs[0], &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}); err != nil {
		return res, err
	}
	res.Fontstacks = style.Fontstacks()
	res.GlyphRanges = GlyphRanges(texts)
	res.MissingGlyphs, err = saveStyleResources(ctx, hc, job.Tokens, styleURL, raw, style, job.ResourceDir, res.Fontstacks, res.GlyphRanges)
	return res, err
}

// inlineTileJSON reads the TileJSON of a style source that lists its
// tiles inline (inline false: it has none; its url names the TileJSON).
func inlineTileJSON(src map[string]any) (tj *TileJSON, inline bool, err error) {
	if _, ok := src["tiles"]; !ok {
		return nil, false, nil
	}
	b, _ := json.Marshal(src)
	tj, err = ParseTileJSON(b)
	return tj, true, err
}

// resolveVectorSource finds the grid and tile template of a style source:
// inline tiles, a TileJSON url, or an Esri VectorTileServer root url.
func resolveVectorSource(ctx context.Context, hc *http.Client, styleURL string, src map[string]any, serviceURL string, tokens TokenSource) (*Scheme, *Template, error) {
	docURL := styleURL
	tj, inline, err := inlineTileJSON(src)
	if err != nil {
		return nil, nil, err
	}
	if !inline {
		u, _ := src["url"].(string)
		if u == "" {
			return nil, nil, errors.New("source has neither tiles nor url")
		}
		docURL = resolveTemplate(styleURL, u)
		b, err := getBytes(ctx, hc, docURL, tokens)
		if err != nil {
			return nil, nil, err
		}
		var root PackageRoot
		if json.Unmarshal(b, &root) == nil && len(root.TileInfo.LODs) > 0 {
			// Esri VectorTileServer root: tileInfo + relative tiles.
			sc, err := NewScheme(root.TileInfo)
			if err != nil {
				return nil, nil, err
			}
			base := docURL
			if serviceURL != "" {
				base = serviceURL
			}
			t, err := VectorTileTemplate(base, root.Tiles)
			return sc, t, err
		}
		if tj, err = ParseTileJSON(b); err != nil {
			return nil, nil, err
		}
	}
	t, err := tj.Template(docURL)
	if err != nil {
		return nil, nil, err
	}
	lo, hi := 0, 14
	if tj.MinZoom != nil {
		lo = *tj.MinZoom
	}
	if tj.MaxZoom != nil {
		hi = *tj.MaxZoom
	}
	return WebMercatorScheme(512, lo, hi), t, nil
}

// gzipFetcher makes sure vector tiles are stored gzip-compressed (the
// MBTiles pbf format), whatever the server's Content-Encoding did.
type gzipFetcher struct {
	TileFetcher
	// writers keeps gzip writers between tiles: each holds ~800 KB of
	// compressor state, too much to allocate per tile.
	writers sync.Pool
}

func (g *gzipFetcher) FetchTile(ctx context.Context, k TileKey) ([]byte, bool, error) {
	b, absent, err := g.TileFetcher.FetchTile(ctx, k)
	if err != nil || absent || (len(b) > 1 && b[0] == 0x1f && b[1] == 0x8b) {
		return b, absent, err
	}
	var buf bytes.Buffer
	zw, _ := g.writers.Get().(*gzip.Writer)
	if zw == nil {
		zw = gzip.NewWriter(&buf)
	} else {
		zw.Reset(&buf)
	}
	zw.Write(b)
	zw.Close()
	g.writers.Put(zw)
	g.RecycleTile(b) // compressed into buf
	return buf.Bytes(), false, nil
}

// RecycleTile implements TileRecycler: the tile's buffer goes to the
// wrapped fetcher's pool (it takes any buffer by its capacity).
func (g *gzipFetcher) RecycleTile(b []byte) { RecycleTile(g.TileFetcher, b) }

// RecycleTile hands b, a tile f fetched, back to f when f recycles tile
// buffers (a TileRecycler); fetchers that wrap another pass theirs on
// with it.
func RecycleTile(f TileFetcher, b []byte) {
	if rc, ok := f.(TileRecycler); ok {
		rc.RecycleTile(b)
	}
}

// maxSchemaScan bounds how many tiles are read for vector_layers and labels.
const maxSchemaScan = 2000

// scanVectorLayers builds vector_layers from the store's tiles (up to
// maxSchemaScan of them, shallow levels first) and collects label strings.
func scanVectorLayers(ctx context.Context, st *Store) ([]map[string]any, []string, error) {
	rows, err := st.db.QueryContext(ctx, `SELECT zoom_level, tile_data FROM tiles ORDER BY zoom_level LIMIT ?`, maxSchemaScan)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	type acc struct {
		fields   map[string]string
		min, max int
	}
	layers := map[string]*acc{}
	textSet := map[string]bool{}
	for rows.Next() {
		var z int
		var b []byte
		if err := rows.Scan(&z, &b); err != nil {
			return nil, nil, err
		}
		ls, err := DecodeMVTSchema(b)
		if err != nil {
			return nil, nil, fmt.Errorf("vector tile at zoom %d: %w", z, err)
		}
		for _, l := range ls {
			a := layers[l.Name]
			if a == nil {
				a = &acc{fields: map[string]string{}, min: z, max: z}
				layers[l.Name] = a
			}
			a.min, a.max = min(a.min, z), max(a.max, z)
			for k, t := range l.Fields {
				if old, ok := a.fields[k]; ok && old != t {
					t = "String"
				}
				a.fields[k] = t
			}
			for _, s := range l.Strings {
				textSet[s] = true
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	names := make([]string, 0, len(layers))
	for n := range layers {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]map[string]any, 0, len(names))
	for _, n := range names {
		a := layers[n]
		out = append(out, map[string]any{"id": n, "fields": a.fields, "minzoom": a.min, "maxzoom": a.max})
	}
	texts := make([]string, 0, len(textSet))
	for t := range textSet {
		texts = append(texts, t)
	}
	sort.Strings(texts)
	return out, texts, nil
}

// saveStyleResources writes styles/root.json (as served), sprites and glyphs
// under dir. Glyph ranges the server lacks are returned, not failed.
func saveStyleResources(ctx context.Context, hc *http.Client, tokens TokenSource, styleURL string, raw []byte, style Style, dir string, fonts, ranges []string) ([]string, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Join(dir, "styles"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "styles", "root.json"), raw, 0o644); err != nil {
		return nil, err
	}
	if sp, ok := style["sprite"].(string); ok && sp != "" {
		base := resolveTemplate(styleURL, sp)
		if err := os.MkdirAll(filepath.Join(dir, "sprites"), 0o755); err != nil {
			return nil, err
		}
		for _, suffix := range []string{".json", ".png", "@2x.json", "@2x.png"} {
			err := downloadFile(ctx, hc, tokens, base+suffix, filepath.Join(dir, "sprites", "sprite"+suffix), MaxResourceBytes)
			var se *StatusError
			if errors.As(err, &se) && se.Code == 404 && strings.HasPrefix(suffix, "@2x") {
				continue // no high-DPI sprite
			}
			if err != nil {
				return nil, fmt.Errorf("sprite %s: %w", base+suffix, err)
			}
		}
	}
	var missing []string
	if gl, ok := style["glyphs"].(string); ok && gl != "" {
		tmpl := resolveTemplate(styleURL, gl)
		for _, f := range fonts {
			fdir := filepath.Join(dir, "fonts", f)
			if err := os.MkdirAll(fdir, 0o755); err != nil {
				return nil, err
			}
			for _, r := range ranges {
				u := strings.NewReplacer("{fontstack}", url.PathEscape(f), "{range}", r).Replace(tmpl)
				err := downloadFile(ctx, hc, tokens, u, filepath.Join(fdir, r+".pbf"), MaxResourceBytes)
				var se *StatusError
				if errors.As(err, &se) && se.Code == 404 {
					missing = append(missing, f+"/"+r)
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("glyphs %s: %w", u, err)
				}
			}
		}
	}
	return missing, nil
}

// resourceAttempts bounds the tries of one style/TileJSON/sprite/glyph GET.
const resourceAttempts = 4

// getBytes GETs a vector tile resource (style, TileJSON, sprite, glyph
// range) as JSON or bytes. Passing failures (connection errors, HTTP 5xx and
// 429, and ArcGIS 5xx/429 error bodies) are retried with backoff, honouring
// Retry-After up to 10 s; other errors return at once.
func getBytes(ctx context.Context, hc *http.Client, u string, tokens TokenSource) ([]byte, error) {
	delay := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		b, err := getBytesOnce(ctx, hc, u, tokens)
		if err == nil || attempt == resourceAttempts || ctx.Err() != nil || !passingFailure(err) {
			return b, err
		}
		wait := delay + time.Duration(rand.Int64N(int64(delay)))
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > 0 {
			wait = min(se.RetryAfter, 10*time.Second)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		delay *= 2
	}
}

// passingFailure reports whether err may go away if the request is repeated.
func passingFailure(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code >= 500 || se.Code == http.StatusTooManyRequests || se.Code == http.StatusRequestTimeout
	}
	var ae *ServiceError
	if errors.As(err, &ae) {
		return ae.Code >= 500 || ae.Code == http.StatusTooManyRequests
	}
	return !refusedByPolicy(err) // transport errors: reset, timeout, truncated body
}

func getBytesOnce(ctx context.Context, hc *http.Client, u string, tokens TokenSource) ([]byte, error) {
	q := u
	if !strings.Contains(q, "f=") && !strings.HasSuffix(strings.SplitN(q, "?", 2)[0], ".json") {
		q = appendQuery(q, "f=json")
	}
	req, err := authGet(ctx, tokens, q)
	if err != nil {
		return nil, err
	}
	resp, err := do(hc, tokens, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readCapped(resp.Body, MaxDocumentBytes, "GET", u)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		se := &StatusError{URL: u, Code: resp.StatusCode}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			se.RetryAfter = time.Duration(s) * time.Second
		}
		return nil, se
	}
	if se := bodyError(b, u); se != nil {
		return nil, se
	}
	return b, nil
}
