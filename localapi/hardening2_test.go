package localapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/localapi/localapitest"
)

// Issue 22 item 7: one truncated GeoPackage marks its map broken (with a
// reason and no absolute path); the list, status and other maps work.
func TestBrokenPackageIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	bdir := filepath.Join(e.root, "packages", "broken")
	template.CopyTo(t, bdir)
	gpkg := filepath.Join(bdir, "data", svcName+".gpkg")
	fi, err := os.Stat(gpkg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(gpkg, fi.Size()/3); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bdir, "tiles", localapitest.Basemap+".mbtiles"), []byte("not sqlite at all, not even close to it"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.Register("broken"); err != nil {
		t.Fatal(err)
	}
	noPath := func(what string, r io.Reader) string {
		t.Helper()
		b, _ := io.ReadAll(r)
		if strings.Contains(string(b), e.root) || strings.Contains(string(b), bdir) {
			t.Fatalf("%s shows an absolute path: %s", what, b)
		}
		return string(b)
	}
	r := e.do("GET", "/api/v1/maps", nil)
	if r.StatusCode != 200 {
		t.Fatalf("list with a broken map: %d %s", r.StatusCode, noPath("list", r.Body))
	}
	list := noPath("list", r.Body)
	for _, want := range []string{`"id":"broken"`, `"broken":true`, `data/` + svcName + `.gpkg cannot be used`, `"id":"demo"`} {
		if !strings.Contains(list, want) {
			t.Fatalf("list lacks %s: %s", want, list)
		}
	}
	m := e.jsonOf(e.do("GET", "/api/v1/maps/broken", nil), 200)
	if m["broken"] != true || len(m["services"].([]any)) != 0 {
		t.Fatalf("broken map: %v", m)
	}
	if d := e.jsonOf(e.do("GET", "/api/v1/maps/demo", nil), 200); d["broken"] != false {
		t.Fatalf("healthy map marked broken: %v", d)
	}
	st := e.jsonOf(e.do("GET", "/api/v1/status", nil), 200)
	if st["maps"].(float64) != 2 {
		t.Fatalf("status: %v", st)
	}
	// The healthy map serves features; the broken one answers 409 naming
	// the file, on the native and FeatureServer routes alike.
	e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features?limit=1", nil), 200)
	for _, p := range []string{"/api/v1/maps/broken/layers/0/features", "/api/v1/maps/broken/layers/" + svcName + ".0/features",
		"/arcgis/rest/services/broken/FeatureServer/0/query?where=1%3D1", "/arcgis/rest/services/broken." + svcName + "/FeatureServer",
		"/api/v1/maps/broken/tiles/" + localapitest.Basemap + "/12/0/0"} {
		r := e.do("GET", p, nil)
		body := noPath(p, r.Body)
		if r.StatusCode != 409 || !strings.Contains(body, "brokenPackage") {
			t.Fatalf("%s: %d %s", p, r.StatusCode, body)
		}
	}
	// Its intact tile layer still works, and it can be deleted.
	if r := e.do("GET", "/api/v1/maps/broken/tiles/"+localapitest.Vector+"/0/0/0.pbf", nil); r.StatusCode != 200 {
		t.Fatalf("intact tile layer of a broken map: %d", r.StatusCode)
	}
	e.jsonOf(e.do("DELETE", "/api/v1/maps/broken", nil), 200)
}

// Issue 22 item 10: each font of a stack must stay inside the fonts
// directory (a comma used to let ".." through).
func TestGlyphFontStackConfined(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	res := e.reg.ResourceDir("demo", localapitest.Vector)
	// A file one level up from fonts/ that the bypass reached.
	writeFile(t, filepath.Join(res, "0-255.pbf"), "outside")
	for _, fs := range []string{"Arial%20Regular,..", "x,..", "x,%20..", "x,.hidden", "x,,y", "Arial%20Regular,"} {
		e.wantError(e.do("GET", vectorTiles+"/fonts/"+fs+"/0-255.pbf", nil), 400, "fontstack")
	}
	g := e.do("GET", vectorTiles+"/fonts/Nope,Arial%20Regular/0-255.pbf", nil)
	if b, _ := io.ReadAll(g.Body); g.StatusCode != 200 || !bytes.Equal(b, e.glyphs("Arial Regular")) {
		t.Fatalf("fallback font: %d %.40q", g.StatusCode, b)
	}
}

func FuzzFontStack(f *testing.F) {
	for _, s := range []string{"Arial Regular,Noto Sans", "a,..", "..", "a,/b", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, fs string) {
		fonts, err := fontStack(fs)
		if err != nil {
			return
		}
		for _, font := range fonts {
			if p := filepath.Join("/r/fonts", font, "0-255.pbf"); filepath.Dir(filepath.Dir(p)) != "/r/fonts" {
				t.Fatalf("font %q of %q leaves the fonts directory: %s", font, fs, p)
			}
		}
	})
}

// Issue 22 item 10: lon/lat input outside WGS84 ranges is refused, naming
// the field (lat 95 used to be clamped).
func TestWGS84RangesChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	gid, _ := e.firstFeature()
	feats := "/api/v1/maps/demo/layers/0/features"
	for _, bbox := range []string{"-10,-95,10,10", "-10,10,10,95", "-181,0,0,1", "0,0,181,1"} {
		e.wantError(e.do("GET", feats+"?bbox="+bbox, nil), 400, "bbox")
	}
	e.jsonOf(e.do("GET", feats+"?bbox=-180,-90,180,90", nil), 200)
	e.wantError(e.do("GET", feats+"?geometry="+url.QueryEscape(`{"type":"Point","coordinates":[0,95]}`), nil), 400, "geometry")
	sum := e.storeChecksum()
	r := e.do("POST", feats, strings.NewReader(`{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[200,10]}}`), "Content-Type", "application/json")
	if r.StatusCode != 400 {
		t.Fatalf("feature at lon 200: %d", r.StatusCode)
	}
	r = e.do("PATCH", feats+"/"+url.PathEscape(gid), strings.NewReader(`{"type":"Feature","properties":{},"geometry":{"type":"Point","coordinates":[10,-91]}}`), "Content-Type", "application/json")
	if r.StatusCode != 400 {
		t.Fatalf("update to lat -91: %d", r.StatusCode)
	}
	if e.storeChecksum() != sum {
		t.Fatal("out-of-range geometry stored")
	}
	// The FeatureServer subset checks geometries declared WGS84.
	fsq := "/arcgis/rest/services/demo/FeatureServer/0/query?f=json&inSR=4326&geometry="
	e.wantError(e.do("GET", fsq+url.QueryEscape("0,0,10,95"), nil), 400, "geometry")
	e.jsonOf(e.do("GET", fsq+url.QueryEscape("0,0,10,80"), nil), 200)
	if err := checkAreaLonLat(testutil.Decode[arcgis.Geometry](t, `{"xmin":0,"ymin":0,"xmax":1,"ymax":95,"spatialReference":{"wkid":4326}}`), "areaOfInterest"); err == nil {
		t.Fatal("area with lat 95 accepted")
	}
	if err := checkAreaLonLat(testutil.Decode[arcgis.Geometry](t, `{"xmin":0,"ymin":0,"xmax":1,"ymax":95e5,"spatialReference":{"wkid":3857}}`), "areaOfInterest"); err != nil {
		t.Fatalf("Web Mercator area refused: %v", err)
	}
}

// Issue 22 item 10: a reference basemap path given over the API gets one
// answer whether the file is missing, unreadable, elsewhere or a directory.
func TestBasemapPathRevealsNothing(t *testing.T) {
	t.Parallel()
	ran := false
	e := newEnv(t, envOpts{noMap: true, withPlanner: true, run: func(context.Context, JobInfo, string, JobReporter) error { ran = true; return nil }})
	allowed := filepath.Join(e.root, "basemaps")
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "exists.mbtiles"), "x")
	writeFile(t, filepath.Join(allowed, "locked.mbtiles"), "x")
	if err := os.Chmod(filepath.Join(allowed, "locked.mbtiles"), 0); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(allowed, "dir.mbtiles"), 0o700)
	os.Symlink(filepath.Join(outside, "exists.mbtiles"), filepath.Join(allowed, "link.mbtiles"))
	writeFile(t, filepath.Join(allowed, "notes.txt"), "x")
	var messages []string
	for _, c := range []struct{ dir, file string }{
		{outside, "exists.mbtiles"}, {outside, "missing.mbtiles"}, {allowed, "missing.mbtiles"}, {allowed, "dir.mbtiles"},
		{allowed, "link.mbtiles"}, {allowed, "../../" + filepath.Base(outside) + "/exists.mbtiles"}, {allowed, "notes.txt"},
		{allowed, filepath.Join(outside, "exists.mbtiles")}, {"relative", "x.mbtiles"},
	} {
		p := fmt.Sprintf(`{"source":{"itemId":"abc"},"parameters":{"referenceBasemapDirectory":%q,"referenceBasemapFilename":%q}}`, c.dir, c.file)
		er := e.wantError(e.do("POST", "/api/v1/overrides", strings.NewReader(p)), 422, "parameters.referenceBasemapFilename")
		messages = append(messages, er["code"].(string)+er["message"].(string))
	}
	if os.Geteuid() != 0 {
		p := fmt.Sprintf(`{"source":{"itemId":"abc"},"parameters":{"referenceBasemapDirectory":%q,"referenceBasemapFilename":"locked.mbtiles"}}`, allowed)
		er := e.wantError(e.do("POST", "/api/v1/overrides", strings.NewReader(p)), 422, "parameters.referenceBasemapFilename")
		messages = append(messages, er["code"].(string)+er["message"].(string))
	}
	for _, m := range messages {
		if m != messages[0] {
			t.Fatalf("answers differ:\n%s\n%s", messages[0], m)
		}
	}
	// Overrides given to a job directly are checked the same way.
	job := fmt.Sprintf(`{"source":{"itemId":"abc"},"areaOfInterest":{"xmin":0,"ymin":0,"xmax":1,"ymax":1},"overrides":{"referenceBasemap":{"path":%q,"replaces":[]}}}`, filepath.Join(outside, "exists.mbtiles"))
	e.wantError(e.do("POST", "/api/v1/jobs", strings.NewReader(job)), 422, "overrides.referenceBasemap.path")
	if ran {
		t.Fatal("a job ran with a refused basemap")
	}
	// A readable file in the basemap directory passes the check (and the
	// request goes on to the planner).
	writeFile(t, filepath.Join(allowed, "ok.mbtiles"), "x")
	if _, err := e.srv.checkBasemapFile(filepath.Join(allowed, "ok.mbtiles"), "f"); err != nil {
		t.Fatalf("allowed basemap refused: %v", err)
	}
}
