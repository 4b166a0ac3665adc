package offline

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator/openmaps"
	"github.com/offlined/offlined/tiles"
)

// styleSecret is the API key the open map server wants in every URL: it
// must never show in logs, errors, progress or package.json.
const styleSecret = "mt-k3y-7"

func newOpenMaps(t testing.TB, opt openmaps.Options) (*openmaps.Server, *httptest.Server) {
	t.Helper()
	s := openmaps.New(opt)
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return s, hs
}

// styleWebMap writes a web map whose basemap is a MapLibre style on the
// open server (two vector sources, one raster) and whose operational
// layer is a PMTiles archive on the same server's file area.
func styleWebMap(t testing.TB, dir, srvURL string) string {
	t.Helper()
	wm := fmt.Sprintf(`{"version":"2.31","spatialReference":{"wkid":102100,"latestWkid":3857},
 "operationalLayers":[{"id":"pm","title":"Area (PMTiles)","layerType":"VectorTileLayer","styleUrl":"%[1]s/files/area.pmtiles"}],
 "baseMap":{"title":"Open style","baseMapLayers":[{"id":"basic","title":"Basic","layerType":"VectorTileLayer",
   "styleUrl":"%[1]s/styles/basic/style.json?key=%[2]s"}]}}`, srvURL, styleSecret)
	return writeWebMap(t, dir, wm)
}

// styleJob prepares the job over an area around Bern/Neuchâtel at zooms
// (nil: the defaults).
func styleJob(t testing.TB, mapPath string, levels []int, opt JobOptions, dir string) (*Job, *Overrides) {
	t.Helper()
	task, p, o, c := mapFileTask(t, mapPath, wgs84Box(7.0, 46.6, 7.6, 47.0))
	if levels != nil {
		for _, sp := range o.StyleTiles {
			sp.LevelIDs = levels
		}
	}
	opt.Client = c
	return task.NewJob(p, o, dir, opt), o
}

var styleZooms = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Fatalf("stored vector tile is not gzip-compressed")
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestStyleJob(t *testing.T) {
	srv, hs := newOpenMaps(t, openmaps.Options{Key: styleSecret, Throttle: 25})
	mapPath := styleWebMap(t, t.TempDir(), hs.URL)
	var logs bytes.Buffer
	var progress []string
	dir := filepath.Join(t.TempDir(), "pkg")
	job, o := styleJob(t, mapPath, styleZooms, JobOptions{
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Progress: func(p Progress) { progress = append(progress, fmt.Sprintf("%+v", p)) },
	}, dir)
	if len(o.StyleTiles) != 2 {
		t.Fatalf("styleTiles overrides %+v", o.StyleTiles)
	}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.State != JobSucceeded || res.HasErrors {
		t.Fatalf("result %+v", res)
	}
	pkg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sk, pk := styleKeys(t, o)
	aoi, _ := tiles.AOIFromGeometry(o.StyleTiles[sk].AreaOfInterest)
	checked := 0
	for _, src := range openmaps.Sources {
		ml := pkg.Layer(sk)
		if ml == nil || ml.Kind != KindStyle || ml.Error != nil || !strings.HasSuffix(ml.Store, "/styles/root.json") {
			t.Fatalf("style layer %+v", ml)
		}
		store := styleStoreOf(ml.Resources, src.Name)
		st, err := tiles.OpenStore(ctx, pkg.Path(store))
		if err != nil {
			t.Fatal(err)
		}
		ss := &tiles.StyleSource{Name: src.Name, Type: "raster", MinZoom: src.MinZoom, MaxZoom: src.MaxZoom, Bounds: &src.Bounds}
		if src.Vector {
			ss.Type = "vector"
		}
		covers, err := ss.Cover(aoi, styleZooms)
		if err != nil {
			t.Fatal(err)
		}
		// Per zoom: every tile of the cover is stored with the server's
		// bytes (vector: gzip MVT whose content is the server's; raster:
		// decoded PNG), empty ones (204) absent; no zoom outside the
		// source's range.
		for _, cv := range covers {
			var want, got int64
			cv.Each(func(row, col int) bool {
				b, err := st.TileByKey(ctx, tiles.TileKey{Level: cv.Level, Row: row, Col: col})
				if openmaps.Empty(src, cv.Level, col, row) {
					if err == nil && b != nil {
						t.Errorf("%s %d/%d/%d: empty tile stored", src.Name, cv.Level, col, row)
					}
					return true
				}
				want++
				server, _ := openmaps.TileBytes(src, cv.Level, col, row)
				if err != nil {
					t.Errorf("%s %d/%d/%d: %v", src.Name, cv.Level, col, row, err)
					return true
				}
				if src.Vector {
					b = gunzip(t, b)
				}
				if !bytes.Equal(b, server) {
					t.Errorf("%s %d/%d/%d: stored bytes differ from the server's", src.Name, cv.Level, col, row)
				}
				got++
				return true
			})
			n := countLevel(t, pkg.Path(store), cv.Level)
			if n != got || got != want {
				t.Errorf("%s zoom %d: %d stored, %d in the cover (%d present)", src.Name, cv.Level, n, cv.Count(), want)
			}
			checked += int(got)
		}
		st.Close()
		if gdal, err := exec.LookPath("gdalinfo"); err == nil && !src.Vector {
			if out, err := exec.Command(gdal, pkg.Path(store)).CombinedOutput(); err != nil {
				t.Errorf("gdalinfo %s: %v\n%s", store, err, out)
			}
		}
		// Vector stores: GDAL's MVT driver reads them as vector layers.
		if ogr, err := exec.LookPath("ogrinfo"); err == nil && src.Vector {
			if out, err := exec.Command(ogr, "-ro", "-so", "-al", pkg.Path(store)).CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Layer name:")) {
				t.Errorf("ogrinfo %s: %v\n%s", store, err, out)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no tiles checked")
	}
	// 429 answers were waited out (Retry-After), not failures.
	if srv.Throttled() == 0 {
		t.Error("the server never throttled: the 429 path is untested")
	}
	// No request outside a source's zooms or bounds.
	for _, u := range srv.Requests() {
		var name string
		var z, x, y int
		if n, _ := fmt.Sscanf(strings.NewReplacer("/", " ", ".", " ").Replace(strings.TrimPrefix(u, "/data/")), "%s %d %d %d", &name, &z, &x, &y); n == 4 {
			for _, src := range openmaps.Sources {
				if src.Name == name && !openmaps.InBounds(src, z, x, y) {
					t.Errorf("request outside the source's zooms or bounds: %s", tiles.HideQuery(u))
				}
			}
		}
	}
	// Sprites 1x and 2x and the glyph ranges the labels need (Latin, and
	// Latin-1 for ü/ß, General Punctuation for the dash) for each stack.
	res0 := pkg.Path(pkg.Layer(sk).Resources)
	for _, f := range []string{"sprite.json", "sprite.png", "sprite@2x.json", "sprite@2x.png"} {
		b, err := os.ReadFile(filepath.Join(res0, "sprites", f))
		want, _ := openmaps.SpriteBytes(strings.Replace(f, "sprite", "basic", 1))
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("sprite %s: %v (%d bytes, want %d)", f, err, len(b), len(want))
		}
	}
	for _, stack := range []string{"Noto Sans Regular", "Noto Sans Bold,Noto Sans Regular"} {
		for _, r := range []string{"0-255", "8192-8447"} {
			if _, err := os.Stat(filepath.Join(res0, "fonts", stack, r+".pbf")); err != nil {
				t.Errorf("glyphs %s %s: %v", stack, r, err)
			}
		}
	}
	// The PMTiles layer: only the area's tiles, bytes equal the archive's.
	pm := pkg.Layer(pk)
	if pm == nil || pm.Kind != KindStyle || pm.Tiles == 0 {
		t.Fatalf("pmtiles layer %+v", pm)
	}
	checkArchiveStore(t, pkg.Path(styleStoreOf(pm.Resources, "pmtiles")), aoi, styleZooms)
	if ogr, err := exec.LookPath("ogrinfo"); err == nil {
		if out, err := exec.Command(ogr, "-ro", "-so", "-al", pkg.Path(styleStoreOf(pm.Resources, "pmtiles"))).CombinedOutput(); err != nil || !bytes.Contains(out, []byte("Layer name:")) {
			t.Errorf("ogrinfo on the PMTiles extract: %v\n%s", err, out)
		}
	}
	// The API key shows nowhere, not even in the package's files.
	_ = filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(styleSecret)) {
				t.Errorf("%s holds the API key", p)
			}
		}
		return nil
	})
	b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	mb, _ := os.ReadFile(filepath.Join(dir, "map.json"))
	for what, s := range map[string]string{"logs": logs.String(), "package.json": string(b), "map.json": string(mb), "progress": strings.Join(progress, "\n")} {
		if strings.Contains(s, styleSecret) {
			t.Errorf("%s shows the style's API key", what)
		}
	}
}

// checkArchiveStore checks a PMTiles extract: per zoom the stored tiles
// are exactly the archive's tiles in the area's cover, with its bytes.
func checkArchiveStore(t *testing.T, path string, aoi tiles.AOI, zooms []int) {
	t.Helper()
	ctx := context.Background()
	st, err := tiles.OpenStore(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := openmaps.Archive
	ss := &tiles.StyleSource{Name: a.Name, Type: "vector", MinZoom: a.MinZoom, MaxZoom: a.MaxZoom, Bounds: &a.Bounds}
	covers, err := ss.Cover(aoi, zooms)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, cv := range covers {
		var want int64
		cv.Each(func(row, col int) bool {
			server, ok := openmaps.ArchiveTile(cv.Level, col, row)
			b, err := st.TileByKey(ctx, tiles.TileKey{Level: cv.Level, Row: row, Col: col})
			switch {
			case !ok && err == nil && b != nil:
				t.Errorf("pmtiles %d/%d/%d stored, the archive has none", cv.Level, col, row)
			case ok && (err != nil || !bytes.Equal(gunzip(t, b), server)):
				t.Errorf("pmtiles %d/%d/%d: stored bytes differ from the archive's (%v)", cv.Level, col, row, err)
			}
			if ok {
				want++
			}
			return true
		})
		if n := countLevel(t, path, cv.Level); n != want {
			t.Errorf("pmtiles zoom %d: %d stored, %d in the archive over the area", cv.Level, n, want)
		}
		total += int(want)
	}
	if total == 0 {
		t.Fatal("no archive tiles over the area")
	}
}

// countLevel counts the tiles an MBTiles file holds at a zoom.
func countLevel(t testing.TB, path string, z int) int64 {
	t.Helper()
	db := openReadOnly(t, path)
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM tiles WHERE zoom_level = ?`, z).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// styleKeys returns the keys of the style layer and the PMTiles layer.
func styleKeys(t testing.TB, o *Overrides) (style, pm Key) {
	t.Helper()
	for k := range o.StyleTiles {
		if strings.HasSuffix(string(k), ".pmtiles") {
			pm = k
		} else {
			style = k
		}
	}
	if style == "" || pm == "" {
		t.Fatalf("styleTiles overrides %v", o.StyleTiles)
	}
	return style, pm
}

func TestStyleCap(t *testing.T) {
	srv, hs := newOpenMaps(t, openmaps.Options{Key: styleSecret})
	mapPath := styleWebMap(t, t.TempDir(), hs.URL)
	job, o := styleJob(t, mapPath, nil, JobOptions{}, filepath.Join(t.TempDir(), "pkg"))
	for _, p := range o.StyleTiles {
		p.MaxTiles = 500
	}
	_, err := job.Run(context.Background())
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Code != ErrTileLimit || !strings.Contains(ve.Message, "drop levels") || !strings.Contains(ve.Message, "styleTiles maxTiles") {
		t.Fatalf("err %v, want a tile limit naming the levels to drop", err)
	}
	for _, u := range srv.Requests() {
		if strings.HasPrefix(u, "/data/") && strings.Count(u, "/") > 3 {
			t.Fatalf("tile request %s before the cap refused the job", tiles.HideQuery(u))
		}
	}
}

// The child half of TestStyleResumeAfterKill: run the style job of
// OFFLINED_TEST_STYLE_MAP into OFFLINED_TEST_DIR, killing itself at the
// second tile batch when OFFLINED_TEST_KILL is set.
func TestStyleChild(t *testing.T) {
	mapPath := os.Getenv("OFFLINED_TEST_STYLE_MAP")
	if mapPath == "" {
		t.Skip("child process of TestStyleResumeAfterKill")
	}
	job, _ := styleJob(t, mapPath, styleZooms, JobOptions{TileConcurrency: 2, Hook: killAtBatch(2)}, os.Getenv("OFFLINED_TEST_DIR"))
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A job killed mid-download (style sources and the PMTiles archive)
// resumes into the same package as an uninterrupted run.
func TestStyleResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	_, hs := newOpenMaps(t, openmaps.Options{Key: styleSecret})
	mapPath := styleWebMap(t, t.TempDir(), hs.URL)
	// Killed twice (each run dies at its second tile batch, so the second
	// kill lands further on: in a style source or the PMTiles archive),
	// then resumed.
	checkResumeAfterKill(t, "TestStyleChild", "OFFLINED_TEST_STYLE_MAP", mapPath, 2, styleDigest)
}

// styleDigest is packageDigest plus every MBTiles of the style layers and
// their resources.
func styleDigest(t testing.TB, dir string) map[string]string {
	out := packageDigest(t, dir)
	_ = filepath.Walk(filepath.Join(dir, TilesDir), func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() || strings.HasSuffix(p, ".mbtiles") {
			return nil
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fmt.Sprintf("%x", b)
		return nil
	})
	return out
}

// A .pmtiles file on the device is accepted as a reference basemap beside
// .mbtiles, .tpkx and .vtpk: the archive's tiles over the area (only
// those) are extracted into tiles/referenceBasemap.mbtiles.
func TestReferenceBasemapPMTiles(t *testing.T) {
	srv, hs := newOpenMaps(t, openmaps.Options{Key: styleSecret})
	mapPath := styleWebMap(t, t.TempDir(), hs.URL)
	dev := t.TempDir()
	if err := os.WriteFile(filepath.Join(dev, "area.pmtiles"), srv.ArchiveBytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	task, p, o, c := mapFileTask(t, mapPath, wgs84Box(7.3, 46.8, 7.6, 47.0), func(p *Parameters) {
		p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename = dev, "area.pmtiles"
	})
	if o.ReferenceBasemap == nil {
		t.Fatal("the .pmtiles reference basemap was not taken")
	}
	o.StyleTiles = nil // the PMTiles layer is checked elsewhere
	dir := filepath.Join(t.TempDir(), "pkg")
	res, err := task.NewJob(p, o, dir, JobOptions{Client: c}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ml := manifestLayerOfKind(res.Manifest, KindReferenceBasemap)
	if ml == nil || ml.Store != "tiles/referenceBasemap.mbtiles" {
		t.Fatalf("reference basemap entry %+v", ml)
	}
	aoi, _ := tiles.AOIFromGeometry(p.AreaOfInterest)
	all := make([]int, 13)
	for i := range all {
		all[i] = i
	}
	checkArchiveStore(t, filepath.Join(dir, "tiles", "referenceBasemap.mbtiles"), aoi, all)
}

// The estimate before the job: per style layer the exact cover counts of
// all its sources (clipped to their zooms and bounds; the tiles the
// server answers 204 are counted, as they cannot be known before) and
// bytes from sampled tiles.
func TestStyleEstimate(t *testing.T) {
	_, hs := newOpenMaps(t, openmaps.Options{Key: styleSecret})
	mapPath := styleWebMap(t, t.TempDir(), hs.URL)
	job, o := styleJob(t, mapPath, styleZooms, JobOptions{}, filepath.Join(t.TempDir(), "pkg"))
	sk, pk := styleKeys(t, o)
	est, err := job.task.Estimate(context.Background(), job.p, o, EstimateOptions{Client: job.opt.Client})
	if err != nil {
		t.Fatal(err)
	}
	aoi, _ := tiles.AOIFromGeometry(o.StyleTiles[sk].AreaOfInterest)
	want := map[Key]int64{}
	for _, src := range openmaps.Sources {
		ss := &tiles.StyleSource{Name: src.Name, Type: "vector", MinZoom: src.MinZoom, MaxZoom: src.MaxZoom, Bounds: &src.Bounds}
		cv, _ := ss.Cover(aoi, styleZooms)
		for _, c := range cv {
			want[sk] += c.Count()
		}
	}
	a := openmaps.Archive
	ss := &tiles.StyleSource{Name: a.Name, Type: "vector", MinZoom: a.MinZoom, MaxZoom: a.MaxZoom, Bounds: &a.Bounds}
	cv, _ := ss.Cover(aoi, styleZooms)
	for _, c := range cv {
		want[pk] += c.Count()
	}
	found := 0
	for _, le := range est.Layers {
		w, ok := want[le.Key]
		if !ok {
			continue
		}
		found++
		if le.Tiles != w || le.Data.Bytes <= 0 || le.Data.Method != EstimateSampled || len(le.Levels) == 0 {
			t.Errorf("%s: estimate %d tiles (%+v), want %d and sampled bytes", le.Key, le.Tiles, le.Data, w)
		}
	}
	if found != 2 {
		t.Fatalf("estimate layers %+v", est.Layers)
	}
}
