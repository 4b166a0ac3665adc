package tiles

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/offlined/offlined/internal/atomicfile"
)

// StyleJob takes a MapLibre/Mapbox style (v8) from any server offline:
// every vector, raster and raster-dem source into its own MBTiles, the
// sprites (1x and 2x) and the glyph ranges the labels need under
// ResourceDir, and the style rewritten so every URL it holds names a file
// of the package.
type StyleJob struct {
	// StyleURL is the style's URL; its query string (an API key) is sent
	// as written and never shown.
	StyleURL string
	// Style, when set, is used instead of fetching StyleURL (a bare
	// PMTiles archive's one-source style); relative URLs in it resolve
	// against StyleURL.
	Style Style
	AOI   AOI
	// Levels are the zooms wanted; each source takes those within its
	// TileJSON minzoom/maxzoom.
	Levels []int
	// Store returns the package-relative path of a source's MBTiles and
	// Path its absolute path.
	Store func(source string) string
	Path  func(rel string) string
	// ResourceDir is the absolute directory receiving styles/root.json,
	// sprites/ and fonts/; ResourceRel is its path
	// relative to the package (what the rewritten style names).
	ResourceDir, ResourceRel string
	HTTP                     *http.Client
	Download                 DownloadOptions
	// Progress reports each source's download progress.
	Progress func(source string, p Progress)
}

// StyleSourceResult is one downloaded source.
type StyleSourceResult struct {
	Name, Type, Store string
	Tiles, Absent     int64
	Bytes             int64
}

// StyleResult reports a style download.
type StyleResult struct {
	Sources       []StyleSourceResult
	Fontstacks    []string
	GlyphRanges   []string
	MissingGlyphs []string
}

// FetchStyle GETs and parses a style anonymously.
func FetchStyle(ctx context.Context, hc *http.Client, styleURL string) (Style, []byte, error) {
	raw, err := OpenGet(ctx, hc, styleURL, "", MaxDocumentBytes, false)
	if err != nil {
		return nil, nil, fmt.Errorf("style: %w", err)
	}
	st, err := ParseStyle(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", HideQuery(styleURL), err)
	}
	return st, raw, nil
}

// DownloadStyle runs the job. It resumes: tiles already in a source's
// MBTiles and resources already on disk are not fetched again.
func DownloadStyle(ctx context.Context, job StyleJob) (StyleResult, error) {
	var res StyleResult
	// The style as served is not kept: its URLs may carry an API key.
	style := job.Style
	if style == nil {
		var err error
		if style, _, err = FetchStyle(ctx, job.HTTP, job.StyleURL); err != nil {
			return res, err
		}
	}
	var err error
	names := style.TiledSources()
	if len(names) == 0 {
		return res, ErrNoTiledSources
	}
	stores := map[string]string{}
	zooms := map[string][2]int{}
	var texts []string
	for _, name := range names {
		ss, err := ResolveStyleSource(ctx, job.HTTP, job.StyleURL, style, name)
		if err != nil {
			return res, err
		}
		sr, t, err := downloadStyleSource(ctx, job, ss)
		if err != nil {
			return res, fmt.Errorf("style source %q: %w", name, err)
		}
		res.Sources = append(res.Sources, sr)
		texts = append(texts, t...)
		stores[name] = sr.Store
		zooms[name] = [2]int{ss.MinZoom, ss.MaxZoom}
	}
	// A killed run may have left atomic writes' temporary files.
	removeStaleTemps(job.ResourceDir)
	res.Fontstacks = style.Fontstacks()
	res.GlyphRanges = GlyphRanges(texts)
	if res.MissingGlyphs, err = saveOpenResources(ctx, job, style, res.Fontstacks, res.GlyphRanges); err != nil {
		return res, err
	}
	sdir := filepath.Join(job.ResourceDir, "styles")
	if err := os.MkdirAll(sdir, 0o755); err != nil {
		return res, err
	}
	local, err := json.MarshalIndent(style.PackageStyle(stores, zooms, job.ResourceRel), "", " ")
	if err != nil {
		return res, err
	}
	return res, atomicfile.WriteFile(filepath.Join(sdir, "root.json"), local, 0o644)
}

// downloadStyleSource downloads one source into its MBTiles and returns
// the label texts of its vector tiles.
func downloadStyleSource(ctx context.Context, job StyleJob, ss *StyleSource) (StyleSourceResult, []string, error) {
	sr := StyleSourceResult{Name: ss.Name, Type: ss.Type, Store: job.Store(ss.Name)}
	covers, err := ss.Cover(job.AOI, job.Levels)
	if err != nil {
		return sr, nil, err
	}
	p := job.Path(sr.Store)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return sr, nil, err
	}
	st, err := OpenStoreForBuild(ctx, p)
	if err != nil {
		return sr, nil, err
	}
	defer st.Close()
	if err := st.Plan(ctx, coverCount(covers)); err != nil {
		return sr, nil, err
	}
	if err := st.Configure(ctx, ss.Scheme(), ss.Format); err != nil {
		return sr, nil, err
	}
	opt := job.Download
	if job.Progress != nil {
		opt.Progress = func(pr Progress) { job.Progress(ss.Name, pr) }
	}
	if len(covers) > 0 {
		if _, err := Download(ctx, st, ss.Fetcher(job.HTTP), covers, opt); err != nil {
			return sr, nil, err
		}
	}
	var texts []string
	md := map[string]string{"type": "baselayer"}
	if ss.Attribution != "" {
		md["attribution"] = ss.Attribution
	}
	if ss.Type == "vector" {
		layers, t, err := scanVectorLayers(ctx, st)
		if err != nil {
			return sr, nil, err
		}
		texts = t
		if len(ss.VectorLayers) > 0 {
			layers = ss.VectorLayers
		}
		if layers == nil {
			layers = []map[string]any{}
		}
		meta, _ := json.Marshal(map[string]any{"vector_layers": layers})
		md["json"], md["type"] = string(meta), "overlay"
	}
	if err := st.SetMetadata(ctx, md); err != nil {
		return sr, nil, err
	}
	var bounds *[4]float64
	if b, err := job.AOI.WGS84Bounds(); err == nil {
		bounds = &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}
	}
	if err := st.Finalize(ctx, ss.Name, bounds); err != nil {
		return sr, nil, err
	}
	if sr.Tiles, sr.Absent, err = st.Count(ctx); err != nil {
		return sr, nil, err
	}
	if err := st.Close(); err != nil {
		return sr, nil, err
	}
	if fi, err := os.Stat(p); err == nil {
		sr.Bytes = fi.Size()
	}
	return sr, texts, nil
}

// spriteID keeps sprite ids of a multi-sprite style usable as file names.
var spriteID = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Sprites returns the style's sprites as id → URL: a string sprite is id
// "sprite"; an array of {id, url} keeps its ids (made file-name safe).
func (s Style) Sprites() map[string]string {
	out := map[string]string{}
	switch v := s["sprite"].(type) {
	case string:
		if v != "" {
			out["sprite"] = v
		}
	case []any:
		for _, e := range v {
			m, _ := e.(map[string]any)
			id, _ := m["id"].(string)
			u, _ := m["url"].(string)
			if id = spriteID.ReplaceAllString(id, "_"); id != "" && u != "" {
				out[id] = u
			}
		}
	}
	return out
}

// saveOpenResources downloads the sprites (1x and 2x; a missing 2x is
// skipped) and the glyph ranges of every font stack (ranges the server
// lacks are returned, not failed) under job.ResourceDir.
func saveOpenResources(ctx context.Context, job StyleJob, style Style, fonts, ranges []string) ([]string, error) {
	sdir := filepath.Join(job.ResourceDir, "sprites")
	sprites := style.Sprites()
	ids := make([]string, 0, len(sprites))
	for id := range sprites {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		base := resolveTemplate(job.StyleURL, sprites[id])
		for _, suffix := range []string{".json", ".png", "@2x.json", "@2x.png"} {
			err := saveOpen(ctx, job.HTTP, spriteURL(base, suffix), filepath.Join(sdir, id+suffix), false)
			var se *StatusError
			if errors.As(err, &se) && se.Code == http.StatusNotFound && strings.HasPrefix(suffix, "@2x") {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("sprite %s: %w", id+suffix, err)
			}
		}
	}
	gl, _ := style["glyphs"].(string)
	if gl == "" {
		return nil, nil
	}
	tmpl := resolveTemplate(job.StyleURL, gl)
	var missing []string
	for _, f := range fonts {
		for _, r := range ranges {
			u := strings.NewReplacer("{fontstack}", url.PathEscape(f), "{range}", r).Replace(tmpl)
			err := saveOpen(ctx, job.HTTP, u, filepath.Join(job.ResourceDir, "fonts", f, r+".pbf"), true)
			var se *StatusError
			if errors.As(err, &se) && se.Code == http.StatusNotFound {
				missing = append(missing, f+"/"+r)
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("glyphs %s/%s: %w", f, r, err)
			}
		}
	}
	return missing, nil
}

// spriteURL inserts the suffix before the base URL's query string.
func spriteURL(base, suffix string) string {
	p, q, ok := strings.Cut(base, "?")
	if ok {
		return p + suffix + "?" + q
	}
	return p + suffix
}

// saveOpen downloads u to dest unless dest exists (a resumed job).
func saveOpen(ctx context.Context, hc *http.Client, u, dest string, keepGzip bool) error {
	if _, err := os.Stat(dest); err == nil {
		return nil
	}
	b, err := OpenGet(ctx, hc, u, "", MaxResourceBytes, keepGzip)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(dest, b, 0o644)
}

// PackageStyle returns the style with every URL naming a file of the
// package, relative to the package directory: a downloaded source becomes
// {"type", "url": "mbtiles://<store>", "minzoom", "maxzoom"} (attribution
// and raster tileSize kept), sprites resourceRel/sprites/<id>, glyphs
// resourceRel/fonts/{fontstack}/{range}.pbf. The local API serves the
// same style with its own URLs (LocalAPIStyle).
func (s Style) PackageStyle(stores map[string]string, zooms map[string][2]int, resourceRel string) Style {
	var out Style
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &out)
	srcs := out["sources"].(map[string]any)
	for name, store := range stores {
		old, _ := srcs[name].(map[string]any)
		src := map[string]any{"type": old["type"], "url": "mbtiles://" + store}
		if z, ok := zooms[name]; ok {
			src["minzoom"], src["maxzoom"] = z[0], z[1]
		}
		for _, k := range []string{"attribution", "tileSize", "encoding"} {
			if v, ok := old[k]; ok {
				src[k] = v
			}
		}
		srcs[name] = src
	}
	switch v := out["sprite"].(type) {
	case string:
		if v != "" {
			out["sprite"] = resourceRel + "/sprites/sprite"
		}
	case []any:
		var list []any
		for _, e := range v {
			m, _ := e.(map[string]any)
			id, _ := m["id"].(string)
			if sid := spriteID.ReplaceAllString(id, "_"); sid != "" {
				list = append(list, map[string]any{"id": id, "url": resourceRel + "/sprites/" + sid})
			}
		}
		out["sprite"] = list
	}
	if _, ok := out["glyphs"].(string); ok {
		out["glyphs"] = resourceRel + "/fonts/{fontstack}/{range}.pbf"
	}
	return out
}

// LocalAPIStyle rewrites a package style (PackageStyle) for a server: a
// source "mbtiles://tiles/<name>.mbtiles" becomes tileJSON(name), the
// sprites spriteBase/<id> and the glyphs glyphs (a {fontstack}/{range}
// template).
func (s Style) LocalAPIStyle(tileJSON func(name string) string, spriteBase, glyphs string) Style {
	var out Style
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &out)
	for _, v := range out["sources"].(map[string]any) {
		m, _ := v.(map[string]any)
		u, _ := m["url"].(string)
		if rest, ok := strings.CutPrefix(u, "mbtiles://tiles/"); ok {
			m["url"] = tileJSON(strings.TrimSuffix(rest, ".mbtiles"))
		}
	}
	switch v := out["sprite"].(type) {
	case string:
		if v != "" {
			out["sprite"] = spriteBase + "/" + filepath.Base(v)
		}
	case []any:
		for _, e := range v {
			if m, ok := e.(map[string]any); ok {
				u, _ := m["url"].(string)
				m["url"] = spriteBase + "/" + filepath.Base(u)
			}
		}
	}
	if _, ok := out["glyphs"].(string); ok {
		out["glyphs"] = glyphs
	}
	return out
}

// removeStaleTemps removes the temporary files (".<name>.tmp<n>") an
// interrupted atomic write left under dir.
func removeStaleTemps(dir string) {
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp") {
			_ = os.Remove(p)
		}
		return nil
	})
}
