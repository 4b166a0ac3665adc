package tiles

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

func TestTemplates(t *testing.T) {
	good := []struct {
		tmpl   string
		subs   []string
		want   string
		format string // TemplateFormat's (raster tiles)
	}{
		{"https://{subDomain}.tiles.example.com/{level}/{col}/{row}.png", []string{"a", "b", "c"}, "https://a.tiles.example.com/3/7/5.png", "png"},
		{"https://e.com/{z}/{x}/{y}.png", nil, "https://e.com/3/7/5.png", "png"},
		{"https://e.com/tile/{z}/{y}/{x}.pbf", nil, "https://e.com/tile/3/5/7.pbf", "png"},
		{"https://e.com/{z}/{x}/{-y}.png", nil, "https://e.com/3/7/2.png", "png"},
		{"https://{s}.e.com/{Level}/{Row}/{Col}", []string{"x", "y"}, "https://x.e.com/3/5/7", "png"},
		{"https://e.com/{z}/{x}/{y}.jpg?key=K", nil, "https://e.com/3/7/5.jpg?key=K", "jpg"},
		{"https://e.com/{z}/{x}/{y}.JPEG", nil, "https://e.com/3/7/5.JPEG", "jpg"},
		{"https://e.com/{z}/{x}/{y}.webp#f", nil, "https://e.com/3/7/5.webp#f", "webp"},
		{"https://e.com/{z}/{x}/{y}?f=img.jpg", nil, "https://e.com/3/7/5?f=img.jpg", "png"},
	}
	for _, g := range good {
		tm, err := ParseTemplate(g.tmpl, g.subs)
		if err != nil {
			t.Fatalf("%s: %v", g.tmpl, err)
		}
		k := TileKey{Level: 3, Row: 5, Col: 7} // subdomain index (5+7) % len(subs) = 0
		if got := tm.URL(k); got != g.want {
			t.Errorf("%s: %s, want %s", g.tmpl, got, g.want)
		}
		if got := TemplateFormat(g.tmpl); got != g.format {
			t.Errorf("%s: format %s, want %s", g.tmpl, got, g.format)
		}
	}
	bad := []struct {
		tmpl string
		subs []string
		want string
	}{
		{"https://e.com/{z}/{x}.png", nil, "no row"},
		{"https://e.com/{level}/{col}/{row}/{z}", nil, "appears 2 times"},
		{"https://e.com/{z}/{x}/{y}/{quadkey}", nil, "unknown token {quadkey}"},
		{"https://{subDomain}.e.com/{z}/{x}/{y}", nil, "lists no subDomains"},
		{"https://e.com/{z}/{x}/{y", nil, "unclosed"},
		{"https://e.com/z}/{x}/{y}", nil, "unbalanced"},
		{"/tiles/{z}/{x}/{y}", nil, "absolute http(s)"},
		{"ftp://e.com/{z}/{x}/{y}", nil, "absolute http(s)"},
	}
	for _, b := range bad {
		_, err := ParseTemplate(b.tmpl, b.subs)
		var te *TemplateError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), b.want) || !strings.Contains(err.Error(), b.tmpl) {
			t.Errorf("%s: got %v, want %q", b.tmpl, err, b.want)
		}
	}
	tj, err := ParseTileJSON([]byte(`{"tiles":["../t/{z}/{x}/{y}.png"],"scheme":"tms","minzoom":2,"maxzoom":5}`))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := tj.Template("https://e.com/a/tiles.json")
	if err != nil || tm.URL(TileKey{Level: 2, Row: 0, Col: 1}) != "https://e.com/t/2/1/3.png" {
		t.Fatalf("tms template %v %v", tm, err)
	}
	for _, b := range []string{`{"tiles":[]}`, `{"tiles":["x"],"minzoom":5,"maxzoom":2}`, `{"tiles":["x"],"bounds":[1,2]}`, `{"tiles":["x"],"scheme":"quad"}`} {
		if _, err := ParseTileJSON([]byte(b)); err == nil {
			t.Errorf("bad TileJSON %s accepted", b)
		}
	}
	if vt, _ := VectorTileTemplate("https://e.com/arcgis/rest/services/V/VectorTileServer", nil); vt.URL(TileKey{1, 0, 1}) != "https://e.com/arcgis/rest/services/V/VectorTileServer/tile/1/0/1.pbf" {
		t.Fatalf("vector template %s", vt.URL(TileKey{1, 0, 1}))
	}
}

// fmtTime shows t to the microsecond ("never" when nil).
func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format("15:04:05.000000")
}

// TestEmulatorBasemapDownloadResume downloads Demo_Basemap through its tile
// and tilemap resources, cancels, resumes, and checks the emulator's request
// log: no tile requested twice, absent tiles never requested.
func TestEmulatorBasemapDownloadResume(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true, Tiles: &emulator.TileOptions{
		MapServices: []emulator.MapServiceOptions{{Name: "Demo_Basemap", ExportTilesAllowed: true, HoleRate: 0.15}},
		WorkDir:     t.TempDir(), JobStep: 5 * time.Millisecond,
	}})
	svc := em.ServicesURL + "/Demo_Basemap/MapServer"
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 10, 16)
	tm, _ := ArcGISTileTemplate(svc)
	dir := t.TempDir()
	st := openTestStore(t, dir, "basemap.mbtiles", s)
	ctx, cancel := context.WithCancel(context.Background())
	var cancelledAt atomic.Pointer[time.Time]
	opt := DownloadOptions{Concurrency: 4, Tilemap: &HTTPTilemap{ServiceURL: svc}, BatchSize: 32,
		Progress: func(p Progress) {
			if p.Fetched > 300 {
				if cancelledAt.Load() == nil {
					now := time.Now()
					cancelledAt.Store(&now)
				}
				cancel()
			}
		}}
	if _, err := Download(ctx, st, NewHTTPFetcher(tm, nil, 4), covers, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("want cancel, got %v", err)
	}
	opt.Progress = nil
	p, err := Download(context.Background(), st, NewHTTPFetcher(tm, nil, 4), covers, opt)
	if err != nil {
		t.Fatal(err)
	}
	if p.Skipped == 0 || p.Absent == 0 {
		t.Fatalf("resume progress %+v", p.LevelProgress)
	}
	counts := map[string]int{}
	entries := em.Log().Matching("/MapServer/tile/")
	for _, e := range entries {
		counts[e.Path]++
		if counts[e.Path] > 1 {
			// Each request of the path (when, answer, bytes) and when the
			// first run was cancelled tell a tile fetched and not stored
			// from a retry after a failed request.
			var seen []string
			for _, o := range entries {
				if o.Path == e.Path {
					seen = append(seen, fmt.Sprintf("%s status %d, %d bytes", fmtTime(&o.Time), o.Status, o.Bytes))
				}
			}
			t.Fatalf("%s requested twice (first run cancelled at %s): %s", e.Path, fmtTime(cancelledAt.Load()), strings.Join(seen, "; "))
		}
		if e.Status == 404 {
			t.Fatalf("%s requested although the tilemap says it is absent", e.Path)
		}
	}
	tiles, absent, _ := st.Count(context.Background())
	var planned int64
	for _, c := range covers {
		planned += c.Count()
	}
	if tiles+absent != planned || int64(len(counts)) != tiles {
		t.Fatalf("%d tiles + %d absent of %d planned, %d requests", tiles, absent, planned, len(counts))
	}
	st.Close()
	gdalOpens(t, "gdalinfo", filepath.Join(dir, "basemap.mbtiles"), "Driver: MBTiles")
}
