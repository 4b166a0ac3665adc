package tiles

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
)

// tlBundleTiles parses a Compact Cache V2 bundle, checking its header, and
// returns its tiles keyed by (row%128, col%128).
func tlBundleTiles(t *testing.T, name string, b []byte) map[[2]int][]byte {
	t.Helper()
	le := binary.LittleEndian
	if len(b) < bundleDataStart {
		t.Fatalf("%s: %d bytes", name, len(b))
	}
	want := map[int]uint32{0: 3, 4: 16384, 12: 5, 40: 131092, 44: 3, 48: 16, 52: 16384, 56: 5, 60: 131072}
	for off, v := range want {
		if got := le.Uint32(b[off:]); got != v {
			t.Errorf("%s: header @%d = %d, want %d", name, off, got, v)
		}
	}
	if le.Uint64(b[32:]) != 40 || le.Uint64(b[24:]) != uint64(len(b)) || le.Uint64(b[16:]) != 0 {
		t.Errorf("%s: header user offset %d, file size %d (len %d)", name, le.Uint64(b[32:]), le.Uint64(b[24:]), len(b))
	}
	maxSize := uint32(0)
	out := map[[2]int][]byte{}
	for i := 0; i < bundleDim*bundleDim; i++ {
		v := le.Uint64(b[64+8*i:])
		off, size := int(v&(1<<40-1)), int(v>>40)
		if size == 0 {
			continue
		}
		if off < bundleDataStart+4 || off+size > len(b) {
			t.Fatalf("%s: entry %d offset %d size %d outside file", name, i, off, size)
		}
		if got := int(le.Uint32(b[off-4:])); got != size {
			t.Errorf("%s: entry %d size prefix %d, index size %d", name, i, got, size)
		}
		maxSize = max(maxSize, uint32(size))
		out[[2]int{i / bundleDim, i % bundleDim}] = b[off : off+size]
	}
	if le.Uint32(b[8:]) != maxSize {
		t.Errorf("%s: max tile size %d, largest tile %d", name, le.Uint32(b[8:]), maxSize)
	}
	return out
}

// tlZipEntries reads a stored zip into memory (small test packages only).
func tlZipEntries(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		if f.Method != zip.Store {
			t.Errorf("%s is compressed (method %d), want stored", f.Name, f.Method)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		out[f.Name] = b
	}
	return out
}

// tlExportPackage runs exportTiles on svc (a MapServer or VectorTileServer
// path) and returns the finished job and the downloaded package.
func tlExportPackage(t *testing.T, base, svcPath string, params url.Values, ext string) (map[string]any, []byte) {
	t.Helper()
	params.Set("f", "json")
	id := tlSubmit(t, base+svcPath+"/exportTiles?"+params.Encode())
	job := tlPollJob(t, base+svcPath+"/exportTiles/jobs/"+id)
	if job["jobStatus"] != arcgis.JobSucceeded {
		t.Fatalf("export job: %v", job)
	}
	seen := job["_seen"].(map[string]bool)
	if !seen[arcgis.JobSucceeded] {
		t.Errorf("statuses seen %v", seen)
	}
	// the generic jobs/ path answers the same job
	if j2 := tlJSON(t, base+svcPath+"/jobs/"+id+"?f=json"); j2["jobStatus"] != arcgis.JobSucceeded {
		t.Errorf("…/jobs/%s: %v", id, j2)
	}
	res := job["results"].(map[string]any)["out_service_url"].(map[string]any)
	if res["paramUrl"] != "results/out_service_url" {
		t.Fatalf("results %v", job["results"])
	}
	param := tlJSON(t, base+svcPath+"/exportTiles/jobs/"+id+"/"+res["paramUrl"].(string)+"?f=json")
	folder, _ := param["value"].(string)
	if param["paramName"] != "out_service_url" || !strings.HasPrefix(folder, base) {
		t.Fatalf("result param %v", param)
	}
	listing := tlJSON(t, folder+"?f=json")
	files := listing["files"].([]any)
	if len(files) != 1 {
		t.Fatalf("folder %v", listing)
	}
	f := files[0].(map[string]any)
	if !strings.HasSuffix(f["name"].(string), ext) {
		t.Fatalf("file %v, want %s", f, ext)
	}
	resp, data := tlGet(t, f["url"].(string))
	if resp.StatusCode != 200 || int(f["size"].(float64)) != len(data) {
		t.Fatalf("download: %d, %d bytes, listed %v", resp.StatusCode, len(data), f["size"])
	}
	return job, data
}

func TestExportTilesTPKX(t *testing.T) {
	em, base := tlStart(t, &TileOptions{MapServices: []MapServiceOptions{{Name: "Demo_Basemap", ExportTilesAllowed: true, HoleRate: 0.05}}})
	params := url.Values{"levels": {"10-12,14"}, "tilePackage": {"true"}, "exportBy": {"LevelID"},
		"exportExtent": {"DEFAULT"}, "storageFormatType": {"CompactV2"}}
	_, data := tlExportPackage(t, base, basemap, params, ".tpkx")
	entries := tlZipEntries(t, data)
	for _, n := range []string{"root.json", "iteminfo.json"} {
		if entries[n] == nil {
			t.Fatalf("no %s in %v", n, keysOf(entries))
		}
	}
	var root map[string]any
	if err := json.Unmarshal(entries["root.json"], &root); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "version", "tileBundlesPath", "minLOD", "maxLOD", "minScale", "maxScale", "fullExtent", "spatialReference", "tileInfo", "storageInfo", "tileImageInfo"} {
		if root[k] == nil {
			t.Errorf("root.json lacks %s", k)
		}
	}
	if root["minLOD"] != 10.0 || root["maxLOD"] != 14.0 {
		t.Errorf("LOD range %v-%v", root["minLOD"], root["maxLOD"])
	}
	var item map[string]any
	_ = json.Unmarshal(entries["iteminfo.json"], &item)
	if item["type"] != "Compact Tile Package" {
		t.Errorf("iteminfo type %v", item["type"])
	}
	// every packaged tile equals the served tile; every existing tile is packaged
	got := map[tileKey]bool{}
	for name, b := range entries {
		if !strings.HasPrefix(name, "tile/") {
			continue
		}
		var level, r0, c0 int
		if _, err := fmt.Sscanf(name, "tile/L%02d/R%04xC%04x.bundle", &level, &r0, &c0); err != nil || r0%128 != 0 || c0%128 != 0 || bundleName(bundleKey{level, r0, c0}) != strings.TrimPrefix(name, "tile/") {
			t.Fatalf("bundle name %s: %v", name, err)
		}
		for rc, tile := range tlBundleTiles(t, name, b) {
			k := tileKey{level, r0 + rc[0], c0 + rc[1]}
			served, ok := em.TileBytes("Demo_Basemap", k.level, k.row, k.col)
			if !ok || !bytes.Equal(served, tile) {
				t.Errorf("tile %v in package differs from served tile (exists %v)", k, ok)
			}
			got[k] = true
		}
	}
	want := 0
	for _, k := range demoTiles(em, "Demo_Basemap", 10, 14) {
		if k.level == 13 {
			continue
		}
		want++
		if !got[k] {
			t.Errorf("tile %v missing from package", k)
		}
	}
	if len(got) != want || want < 50 {
		t.Errorf("package has %d tiles, service %d", len(got), want)
	}
	tlCheckGDALCompactCache(t, entries, em.tiles.maps["Demo_Basemap"], 14)
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEstimateMatchesExport(t *testing.T) {
	em, base := tlStart(t, nil)
	ms := em.tiles.maps["Demo_Basemap"]
	// a triangle in WGS84 inside the demo area: polygon cover, not its bbox
	poly := `{"rings":[[[-117.24,33.99],[-117.11,33.99],[-117.24,34.09],[-117.24,33.99]]],"spatialReference":{"wkid":4326}}`
	params := url.Values{"levels": {"[13,14,15]"}, "polygon": {poly}, "f": {"json"}}
	id := tlSubmit(t, base+basemap+"/estimateExportTilesSize?"+params.Encode())
	job := tlPollJob(t, base+basemap+"/estimateExportTilesSize/jobs/"+id)
	if job["jobStatus"] != arcgis.JobSucceeded {
		t.Fatalf("estimate: %v", job)
	}
	v := tlJSON(t, base+basemap+"/estimateExportTilesSize/jobs/"+id+"/results/out_service_size?f=json")["value"].(map[string]any)
	total, size := int(v["totalTilesToExport"].(float64)), int64(v["totalSize"].(float64))
	// brute force over the bbox of the triangle
	area, err := parseExportArea(ms.grid, poly, "", "", ms.data)
	if err != nil {
		t.Fatal(err)
	}
	brute, bbox := 0, 0
	for _, z := range []int{13, 14, 15} {
		r0, r1, c0, c1, _ := ms.grid.tileRange(z, area.bound())
		for r := r0; r <= r1; r++ {
			for c := c0; c <= c1; c++ {
				bbox++
				if ms.exists(tileKey{z, r, c}) && bruteIntersects(area, ms.grid.tileRect(z, r, c)) {
					brute++
				}
			}
		}
	}
	if total != brute || total >= bbox*3/4 {
		t.Errorf("estimate %d tiles, brute force %d (bbox %d)", total, brute, bbox)
	}
	// the export of the same request has that many tiles and about that size
	params.Set("tilePackage", "true")
	_, data := tlExportPackage(t, base, basemap, params, ".tpkx")
	n := 0
	var bundleBytes int64
	for name, b := range tlZipEntries(t, data) {
		if strings.HasPrefix(name, "tile/") {
			n += len(tlBundleTiles(t, name, b))
			bundleBytes += int64(len(b))
		}
	}
	if n != total {
		t.Errorf("export has %d tiles, estimate %d", n, total)
	}
	if ratio := float64(size) / float64(bundleBytes); ratio < 0.8 || ratio > 1.25 {
		t.Errorf("estimated %d bytes, bundles are %d", size, bundleBytes)
	}
}

func TestExportTilesLimitExceeded(t *testing.T) {
	_, base := tlStart(t, &TileOptions{MapServices: []MapServiceOptions{{Name: "Small", ExportTilesAllowed: true, MaxExportTilesCount: 50}}})
	svc := "/arcgis/rest/services/Small/MapServer"
	id := tlSubmit(t, base+svc+"/exportTiles?levels=12-14&tilePackage=true&f=json")
	job := tlPollJob(t, base+svc+"/exportTiles/jobs/"+id)
	if job["jobStatus"] != arcgis.JobFailed {
		t.Fatalf("job %v", job)
	}
	msgs, _ := json.Marshal(job["messages"])
	if !strings.Contains(string(msgs), "ERROR 001564: Requested tile count(") || !strings.Contains(string(msgs), "maximum allowed number of tiles(50)") {
		t.Errorf("messages %s", msgs)
	}
	if m := tlJSON(t, base+svc+"/exportTiles/jobs/"+id+"/results/out_service_url?f=json"); m["error"] == nil {
		t.Errorf("failed job has a result: %v", m)
	}
	// the estimate still answers, with the count
	id = tlSubmit(t, base+svc+"/estimateExportTilesSize?levels=12-14&f=json")
	if j := tlPollJob(t, base+svc+"/estimateExportTilesSize/jobs/"+id); j["jobStatus"] != arcgis.JobSucceeded {
		t.Errorf("estimate over the limit: %v", j)
	} else if v := tlJSON(t, base+svc+"/estimateExportTilesSize/jobs/"+id+"/results/out_service_size")["value"].(map[string]any); v["totalTilesToExport"].(float64) <= 50 {
		t.Errorf("estimate %v", v)
	}
}

func TestExportTilesRequestErrors(t *testing.T) {
	_, base := tlStart(t, &TileOptions{MapServices: []MapServiceOptions{
		{Name: "Open", ExportTilesAllowed: true}, {Name: "Closed"}}})
	open, closed := base+"/arcgis/rest/services/Open/MapServer", base+"/arcgis/rest/services/Closed/MapServer"
	for _, tc := range []struct{ name, url string }{
		{"not allowed", closed + "/exportTiles?levels=1&tilePackage=true"},
		{"no levels", open + "/exportTiles?tilePackage=true"},
		{"level not in scheme", open + "/exportTiles?levels=25&tilePackage=true"},
		{"bad range", open + "/exportTiles?levels=5-2&tilePackage=true"},
		{"not a package", open + "/exportTiles?levels=1"},
		{"compact v1", open + "/exportTiles?levels=1&tilePackage=true&storageFormatType=Compact"},
		{"bad extent", open + "/exportTiles?levels=1&tilePackage=true&exportExtent=1,2,3"},
		{"bad polygon", open + "/exportTiles?levels=1&tilePackage=true&polygon=" + url.QueryEscape(`{"paths":[[[0,0],[1,1]]]}`)},
		{"unknown sr", open + "/exportTiles?levels=1&tilePackage=true&exportExtent=" + url.QueryEscape(`{"xmin":0,"ymin":0,"xmax":1,"ymax":1,"spatialReference":{"wkid":2193}}`)},
	} {
		m := tlJSON(t, tc.url+"&f=json")
		if m["error"] == nil {
			t.Errorf("%s: %v", tc.name, m)
		}
	}
	if m := tlJSON(t, open+"/exportTiles/jobs/jnope?f=json"); m["error"] == nil {
		t.Errorf("unknown job: %v", m)
	}
	// an area outside the data extent: the job fails with a message
	id := tlSubmit(t, open+"/exportTiles?levels=5&tilePackage=true&f=json&exportExtent="+url.QueryEscape(`{"xmin":10,"ymin":10,"xmax":11,"ymax":11,"spatialReference":{"wkid":4326}}`))
	if j := tlPollJob(t, open+"/exportTiles/jobs/"+id); j["jobStatus"] != arcgis.JobFailed {
		t.Errorf("empty export: %v", j)
	}
}

func TestExportTilesFailJobsFault(t *testing.T) {
	em, base := tlStart(t, nil)
	em.SetFaults(Faults{FailJobs: true})
	id := tlSubmit(t, base+basemap+"/exportTiles?levels=10&tilePackage=true&f=json")
	job := tlPollJob(t, base+basemap+"/exportTiles/jobs/"+id)
	msgs, _ := json.Marshal(job["messages"])
	if job["jobStatus"] != arcgis.JobFailed || !strings.Contains(string(msgs), arcgis.JobMessageError) {
		t.Errorf("job %v", job)
	}
}

func TestExportTilesCancel(t *testing.T) {
	_, base := tlStart(t, &TileOptions{JobStep: 2 * time.Second, MapServices: []MapServiceOptions{{Name: "Demo_Basemap", ExportTilesAllowed: true}}})
	id := tlSubmit(t, base+basemap+"/exportTiles?levels=10&tilePackage=true&f=json")
	if j := tlJSON(t, base+basemap+"/exportTiles/jobs/"+id+"?f=json"); j["jobStatus"] != arcgis.JobSubmitted {
		t.Fatalf("status %v", j["jobStatus"])
	}
	c := tlJSON(t, base+basemap+"/exportTiles/jobs/"+id+"/cancel?f=json")
	if st := c["jobStatus"]; st != arcgis.JobCancelling && st != arcgis.JobCancelled {
		t.Errorf("cancel answered %v", st)
	}
	j := tlPollJob(t, base+basemap+"/exportTiles/jobs/"+id)
	if j["jobStatus"] != arcgis.JobCancelled {
		t.Errorf("after cancel: %v", j)
	}
	if in := tlJSON(t, base+basemap+"/jobs/"+id+"/inputs/levels?f=json"); in["value"] != "10" {
		t.Errorf("input levels %v", in)
	}
}

func TestPackageDownloadRangeResume(t *testing.T) {
	_, base := tlStart(t, nil)
	params := url.Values{"levels": {"11-13"}, "tilePackage": {"true"}}
	job, full := tlExportPackage(t, base, basemap, params, ".tpkx")
	folder := tlJSON(t, base+basemap+"/jobs/"+job["jobId"].(string)+"/results/out_service_url?f=json")["value"].(string)
	fileURL := tlJSON(t, folder+"?f=json")["files"].([]any)[0].(map[string]any)["url"].(string)
	cut := len(full) / 3
	// first attempt "drops" after cut bytes; resume from there
	resp, part1 := tlGet(t, fileURL, "Range", fmt.Sprintf("bytes=0-%d", cut-1))
	if resp.StatusCode != 206 || len(part1) != cut {
		t.Fatalf("first range: %d, %d bytes", resp.StatusCode, len(part1))
	}
	resp, part2 := tlGet(t, fileURL, "Range", fmt.Sprintf("bytes=%d-", cut))
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", cut, len(full)-1, len(full)) {
		t.Fatalf("resume: %d %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if !bytes.Equal(append(part1, part2...), full) {
		t.Error("resumed download differs from the full download")
	}
	if resp, _ := tlGet(t, folder+"/nope.tpkx"); resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
}

func TestEstimateWorldScaleIsCheap(t *testing.T) {
	world := MapServiceOptions{Name: "World", ExportTilesAllowed: true, HoleRate: 0.1,
		DataBounds: orb.Bound{Min: orb.Point{-180, -85.05112878}, Max: orb.Point{180, 85.05112878}}}
	_, base := tlStart(t, &TileOptions{MapServices: []MapServiceOptions{world}})
	svc := base + "/arcgis/rest/services/World/MapServer"
	start := time.Now()
	id := tlSubmit(t, svc+"/estimateExportTilesSize?levels=16,17&f=json")
	j := tlPollJob(t, svc+"/estimateExportTilesSize/jobs/"+id)
	if j["jobStatus"] != arcgis.JobSucceeded {
		t.Fatalf("estimate %v", j)
	}
	v := tlJSON(t, svc+"/estimateExportTilesSize/jobs/"+id+"/results/out_service_size")["value"].(map[string]any)
	if want := float64(1<<32 + 1<<34); v["totalTilesToExport"] != want || v["totalSize"].(float64) < want*100 {
		t.Errorf("world estimate %v, want %v tiles", v, want)
	}
	id = tlSubmit(t, svc+"/exportTiles?levels=17&tilePackage=true&f=json")
	if j := tlPollJob(t, svc+"/exportTiles/jobs/"+id); j["jobStatus"] != arcgis.JobFailed {
		t.Errorf("world export %v", j["jobStatus"])
	}
	t.Logf("world-scale estimate and refusal in %v", time.Since(start))
}

func TestExportOptimizeTilesForSize(t *testing.T) {
	em, base := tlStart(t, nil)
	svc := "/arcgis/rest/services/Demo_Geographic/MapServer"
	params := url.Values{"levels": {"9-10"}, "tilePackage": {"true"}, "optimizeTilesForSize": {"true"}, "compressionQuality": {"20"}}
	_, data := tlExportPackage(t, base, svc, params, ".tpkx")
	entries := tlZipEntries(t, data)
	var root map[string]any
	_ = json.Unmarshal(entries["root.json"], &root)
	if q := root["tileImageInfo"].(map[string]any)["compressionQuality"]; q != 20.0 {
		t.Errorf("root.json compressionQuality %v", q)
	}
	smaller, n := 0, 0
	for name, b := range entries {
		if !strings.HasPrefix(name, "tile/") {
			continue
		}
		var level, r0, c0 int
		fmt.Sscanf(name, "tile/L%02d/R%04xC%04x.bundle", &level, &r0, &c0)
		for rc, tile := range tlBundleTiles(t, name, b) {
			if _, err := jpeg.Decode(bytes.NewReader(tile)); err != nil {
				t.Fatalf("%s %v: %v", name, rc, err)
			}
			served, _ := em.TileBytes("Demo_Geographic", level, r0+rc[0], c0+rc[1])
			if len(tile) < len(served) {
				smaller++
			}
			n++
		}
	}
	if n == 0 || smaller != n {
		t.Errorf("%d of %d re-encoded tiles smaller than served ones", smaller, n)
	}
	if m := tlJSON(t, base+svc+"/exportTiles?levels=9&tilePackage=true&optimizeTilesForSize=true&compressionQuality=90&f=json"); m["error"] == nil {
		t.Errorf("quality above the service's accepted: %v", m)
	}
}
