package offline

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/offlined/offlined/tiles"
)

// xyzSecret is the API key in the test template's query string: it must
// never show in logs, errors, progress or package.json.
const xyzSecret = "s3cr3t-key-42"

// xyzTile is the raster tile the test server sends for z/x/y.
func xyzTile(z, x, y int) []byte {
	return append([]byte("\x89PNG\r\n\x1a\n"), fmt.Sprintf("tile %d/%d/%d", z, x, y)...)
}

// xyzServer behaves like the open tile servers a web map names:
//   - every tile is sent Content-Encoding: gzip whatever Accept-Encoding
//     said (as tileserver-gl and CDNs in front of OSM tile servers do);
//   - beyond maxZoom it answers 404 "Out of bounds" (tileserver-gl's
//     src/serve_data.js answers exactly that body for z/x/y outside the
//     data's zoom range or bounds);
//   - tile 3/0/0 is 204 No Content (martin answers 204 for an empty tile);
//   - weak ETags, no Cache-Control;
//   - the first request of tile 2/1/1 is 429 with Retry-After: 0;
//   - requests without the API key get 403.
type xyzServer struct {
	*httptest.Server
	maxZoom int
	mu      sync.Mutex
	seen429 bool
	hits    int
}

func newXYZServer(t *testing.T, maxZoom int) *xyzServer {
	s := &xyzServer{maxZoom: maxZoom}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *xyzServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits++
	s.mu.Unlock()
	if r.URL.Query().Get("api_key") != xyzSecret {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 5 || (parts[0] != "a" && parts[0] != "b") || parts[1] != "world" {
		http.NotFound(w, r)
		return
	}
	z, _ := strconv.Atoi(parts[2])
	x, _ := strconv.Atoi(parts[3])
	y, _ := strconv.Atoi(strings.TrimSuffix(parts[4], ".png"))
	if z > s.maxZoom {
		http.Error(w, "Out of bounds", http.StatusNotFound)
		return
	}
	if z == 3 && x == 0 && y == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if z == 2 && x == 1 && y == 1 {
		s.mu.Lock()
		first := !s.seen429
		s.seen429 = true
		s.mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
			return
		}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(xyzTile(z, x, y))
	zw.Close()
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Encoding", "gzip")
	w.Header().Set("ETag", fmt.Sprintf(`W/"%d-%d-%d"`, z, x, y))
	w.Write(buf.Bytes())
}

// xyzWebMap writes a web map whose basemap is a WebTiledLayer on srv and
// whose operational layer is a WMS (left out).
func xyzWebMap(t testing.TB, dir, srvURL string) string {
	t.Helper()
	wm := fmt.Sprintf(`{"version":"2.31","spatialReference":{"wkid":102100,"latestWkid":3857},
 "operationalLayers":[{"id":"wms","title":"Weather","layerType":"WMS","url":"%[1]s/wms"}],
 "baseMap":{"title":"Open","baseMapLayers":[{"id":"osm","title":"Open tiles","layerType":"WebTiledLayer",
   "templateUrl":"%[1]s/{subDomain}/world/{level}/{col}/{row}.png?api_key=%[2]s","subDomains":["a","b"]}]}}`, srvURL, xyzSecret)
	return writeWebMap(t, dir, wm)
}

// xyzJob prepares the job of the XYZ web map over a band across the
// antimeridian (an envelope from lon -170 to 170 is read the short way) at
// levels (nil: the defaults).
func xyzJob(t testing.TB, mapPath string, levels []int, opt JobOptions, dir string) (*Job, *Overrides) {
	t.Helper()
	task, p, o, c := mapFileTask(t, mapPath, wgs84Box(-170, -80, 170, 80))
	if levels != nil {
		for _, wp := range o.WebTiles {
			wp.LevelIDs = levels
		}
	}
	opt.Client = c
	return task.NewJob(p, o, dir, opt), o
}

func TestWebTilesJob(t *testing.T) {
	srv := newXYZServer(t, 4)
	mapPath := xyzWebMap(t, t.TempDir(), srv.URL)
	var logs bytes.Buffer
	var progress []string
	dir := filepath.Join(t.TempDir(), "pkg")
	job, o := xyzJob(t, mapPath, []int{0, 1, 2, 3, 4, 5}, JobOptions{
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Progress: func(p Progress) { progress = append(progress, fmt.Sprintf("%+v", p)) },
	}, dir)
	var key Key
	for k := range o.WebTiles {
		key = k
	}
	if key == "" || len(o.WebTiles) != 1 {
		t.Fatalf("webTiles overrides %+v", o.WebTiles)
	}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The WMS is left out: listed with its reason, and an error.
	if res.State != JobSucceeded || !res.HasErrors || len(jobErrors(res.LayerErrors)) != 0 {
		t.Fatalf("result %+v", res)
	}
	var wmsErr *LayerError
	for _, le := range res.LayerErrors {
		wmsErr = le
	}
	if wmsErr == nil || wmsErr.Reason != ReasonUnsupportedLayerType || !strings.Contains(wmsErr.Message, "WMS") || wmsErr.Call != "capabilities" {
		t.Errorf("WMS error %+v", wmsErr)
	}
	pkg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wms *ManifestLayer
	for _, ml := range pkg.All() {
		if ml.Kind == KindNone {
			wms = ml
		}
	}
	if wms == nil || wms.Reason != ReasonUnsupportedLayerType || wms.Error == nil || wms.Title != "Weather" {
		t.Errorf("left-out WMS in package.json: %+v", wms)
	}
	ml := pkg.Layer(key)
	if ml == nil || ml.Kind != KindRasterTiles || !strings.HasSuffix(ml.Store, ".mbtiles") || ml.Error != nil {
		t.Fatalf("web tiles layer %+v", ml)
	}
	// Tile counts per level equal the cover; bytes equal the server's after
	// content decoding; 404 beyond maxZoom and the 204 tile are absent.
	w, _, err := parseWebTiled(job.task.Entry(key))
	if err != nil {
		t.Fatal(err)
	}
	covers, _, err := webTilesCover(w, o.WebTiles[key])
	if err != nil {
		t.Fatal(err)
	}
	st, err := pkg.OpenTiles(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var want int64
	for _, cv := range covers {
		cv.Each(func(row, col int) bool {
			b, err := st.TileByKey(context.Background(), tiles.TileKey{Level: cv.Level, Row: row, Col: col})
			absent := cv.Level > 4 || (cv.Level == 3 && row == 0 && col == 0)
			switch {
			case absent && (b != nil && err == nil):
				t.Errorf("tile %d/%d/%d stored, the server had none", cv.Level, col, row)
			case !absent && (err != nil || !bytes.Equal(b, xyzTile(cv.Level, col, row))):
				t.Errorf("tile %d/%d/%d: %q %v", cv.Level, col, row, b, err)
			}
			if !absent {
				want++
			}
			return true
		})
	}
	if ml.Tiles != want || want == 0 {
		t.Errorf("package says %d tiles, the cover has %d present", ml.Tiles, want)
	}
	md, _ := st.Metadata(context.Background())
	if md["format"] != "png" {
		t.Errorf("format %q", md["format"])
	}
	// The API key shows nowhere.
	b, _ := os.ReadFile(filepath.Join(dir, ManifestFile))
	for what, s := range map[string]string{"logs": logs.String(), "package.json": string(b), "progress": strings.Join(progress, "\n")} {
		if strings.Contains(s, xyzSecret) {
			t.Errorf("%s shows the template's API key", what)
		}
	}
	if gdal, err := exec.LookPath("gdalinfo"); err == nil {
		if out, err := exec.Command(gdal, pkg.Path(ml.Store)).CombinedOutput(); err != nil {
			t.Errorf("gdalinfo: %v\n%s", err, out)
		}
	}
}

func TestWebTilesCap(t *testing.T) {
	srv := newXYZServer(t, 19)
	mapPath := xyzWebMap(t, t.TempDir(), srv.URL)
	job, _ := xyzJob(t, mapPath, nil, JobOptions{}, filepath.Join(t.TempDir(), "pkg"))
	_, err := job.Run(context.Background())
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Code != ErrTileLimit || !strings.Contains(ve.Message, "drop levels") || !strings.Contains(ve.Message, "100000") {
		t.Fatalf("err %v, want a tile limit naming the levels to drop", err)
	}
	if srv.hits != 0 {
		t.Errorf("%d tile requests before the cap refused the job", srv.hits)
	}
}

// The child half of TestWebTilesResumeAfterKill: run the XYZ job of
// OFFLINED_TEST_XYZ_MAP into OFFLINED_TEST_DIR, killing itself at the
// first tile batch when OFFLINED_TEST_KILL is set.
func TestWebTilesChild(t *testing.T) {
	mapPath := os.Getenv("OFFLINED_TEST_XYZ_MAP")
	if mapPath == "" {
		t.Skip("child process of TestWebTilesResumeAfterKill")
	}
	job, _ := xyzJob(t, mapPath, []int{0, 1, 2, 3, 4, 5}, JobOptions{TileConcurrency: 2, Hook: killAtBatch(1)}, os.Getenv("OFFLINED_TEST_DIR"))
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestWebTilesResumeAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess kill test")
	}
	srv := newXYZServer(t, 5)
	mapPath := xyzWebMap(t, t.TempDir(), srv.URL)
	checkResumeAfterKill(t, "TestWebTilesChild", "OFFLINED_TEST_XYZ_MAP", mapPath, 1, packageDigest)
}
