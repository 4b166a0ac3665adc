package arcgis

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestMapTilesAndTilemap(t *testing.T) {
	f := newFakeServer(t)
	f.fixture(t, "/svc/MapServer", "mapserver-tiled.arcrestgo.json")
	f.handle("/svc/MapServer/tile/3/2/1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG tile"))
	})
	f.handle("/svc/MapServer/tile/3/9/9", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 404, arcErr(404, "Tile not found"))
	})
	f.handle("/svc/MapServer/tile/3/9/8", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	f.handle("/svc/MapServer/tile/3/9/7", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	f.handle("/svc/MapServer/tilemap/3/0/0/4/2", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"adjusted":false,"location":{"left":0,"top":0,"width":4,"height":2},"data":[1,0,0,1,0,1,1,0]}`)
	})
	c := newTestClient(t, "")
	ctx := context.Background()
	ms, err := c.MapService(ctx, f.URL+"/svc/MapServer")
	if err != nil {
		t.Fatal(err)
	}
	if !ms.IsCached() || ms.Storage().StorageFormat != "esriMapCacheStorageModeExploded" || ms.Storage().PacketSize != 128 || ms.MaxExportTilesCount != 100000 {
		t.Errorf("map service = %+v storage=%+v", ms, ms.Storage())
	}
	tile, err := c.MapTile(ctx, f.URL+"/svc/MapServer", 3, 2, 1)
	if err != nil || tile.ContentType != "image/png" || string(tile.Data) != "\x89PNG tile" {
		t.Fatalf("MapTile = %+v, %v", tile, err)
	}
	for _, col := range []int{9, 8, 7} {
		_, err := c.MapTile(ctx, f.URL+"/svc/MapServer", 3, 9, col)
		var ta *TileAbsentError
		if !errors.As(err, &ta) || !errors.Is(err, ErrTileAbsent) {
			t.Errorf("tile 3/9/%d: err = %v, want TileAbsentError", col, err)
		}
	}
	if f.count("/svc/MapServer/tile/3/9/9") != 1 {
		t.Error("absent tile was retried")
	}
	tm, err := c.Tilemap(ctx, f.URL+"/svc/MapServer", 3, 0, 0, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !tm.Has(0, 0) || tm.Has(0, 1) || !tm.Has(1, 2) || tm.Has(5, 5) {
		t.Errorf("tilemap presence wrong: %+v", tm)
	}
}

// gpServer runs an exportTiles job: submitted → executing → succeeded,
// with Enterprise-style results and a folder listing.
func gpServer(t *testing.T, f *fakeServer, fail bool) {
	var polls atomic.Int64
	f.handle("/svc/MapServer/exportTiles", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("levels") != "0-3" || r.PostForm.Get("exportBy") != "LevelID" || r.PostForm.Get("tilePackage") != "true" {
			writeJSONBody(w, 200, arcErr(400, "bad "+r.PostForm.Encode()))
			return
		}
		_, _ = w.Write(mustSub(t, readFixture(t, "gp-job-statuses.arcgis-rest-js.json"), "GPJobIdResponse"))
	})
	f.handle("/svc/MapServer/exportTiles/jobs/j4fa1db2338f042a19eb68856afabc27e", func(w http.ResponseWriter, r *http.Request) {
		switch n := polls.Add(1); {
		case n == 1:
			writeJSONBody(w, 200, map[string]any{"jobId": "j4fa1db2338f042a19eb68856afabc27e", "jobStatus": JobExecuting})
		case fail:
			writeJSONBody(w, 200, map[string]any{"jobId": "j4fa1db2338f042a19eb68856afabc27e", "jobStatus": JobFailed,
				"messages": []map[string]any{{"type": JobMessageInformative, "description": "Submitted."}, {"type": JobMessageError, "description": "Too many tiles"}}})
		default:
			_, _ = w.Write(readFixture(t, "vts-exporttiles-jobstatus-enterprise.docs-example.json"))
		}
	})
	f.handle("/svc/MapServer/exportTiles/jobs/j4fa1db2338f042a19eb68856afabc27e/results/out_service_url", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"paramName": "out_service_url", "dataType": "GPString", "value": "http://" + r.Host + "/output/j1"})
	})
	f.handle("/svc/MapServer/exportTiles/jobs/j4fa1db2338f042a19eb68856afabc27e/cancel", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(mustSub(t, readFixture(t, "gp-job-statuses.arcgis-rest-js.json"), "mockCancelledState"))
	})
	f.handle("/output/j1", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"folders":[],"files":[{"name":"Layers.json","url":"http://`+r.Host+`/output/j1/Layers.json"},{"name":"Layers.tpkx","url":"http://`+r.Host+`/output/j1/Layers.tpkx","size":3}]}`)
	})
}

func TestExportTilesJob(t *testing.T) {
	f := newFakeServer(t)
	gpServer(t, f, false)
	c := newTestClient(t, "")
	ctx := context.Background()
	sub, err := c.ExportTiles(ctx, f.URL+"/svc/MapServer", ExportTilesParams{Levels: "0-3", TilePackage: Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(sub.JobURL, "/svc/MapServer/exportTiles/jobs/j4fa1db2338f042a19eb68856afabc27e") || sub.JobStatus != JobSubmitted {
		t.Fatalf("submission = %+v", sub)
	}
	var seen []string
	st, err := c.WaitJob(ctx, sub.JobURL, time.Millisecond, func(s *JobStatus) { seen = append(seen, s.JobStatus) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != JobExecuting+","+JobSucceeded || st.Results["out_service_url"].ParamURL != "results/out_service_url" {
		t.Errorf("statuses %v results %+v", seen, st.Results)
	}
	u, err := c.ResolveExportOutput(ctx, sub.JobURL, st, ".tpkx", ".tpk")
	if err != nil || u != f.URL+"/output/j1/Layers.tpkx" {
		t.Fatalf("ResolveExportOutput = %q, %v", u, err)
	}
	cst, err := c.CancelJob(ctx, sub.JobURL)
	if err != nil || cst.JobStatus != JobCancelled {
		t.Errorf("CancelJob = %+v, %v", cst, err)
	}
}

func TestExportTilesJobFailed(t *testing.T) {
	f := newFakeServer(t)
	gpServer(t, f, true)
	c := newTestClient(t, "")
	sub, err := c.ExportTiles(context.Background(), f.URL+"/svc/MapServer", ExportTilesParams{LevelIDs: []int{0}, Levels: "0-3", TilePackage: Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.WaitJob(context.Background(), sub.JobURL, time.Millisecond, nil)
	var je *JobError
	if !errors.As(err, &je) || je.Status.JobStatus != JobFailed || !strings.Contains(err.Error(), "Too many tiles") || strings.Contains(err.Error(), "Submitted.") {
		t.Fatalf("err = %v, want JobError with the error message only", err)
	}
}

func TestResolveOnlineOutput(t *testing.T) {
	c := newTestClient(t, "")
	var st JobStatus
	mustUnmarshal(t, readFixture(t, "vts-exporttiles-jobstatus-online.docs-example.json"), &st)
	u, err := c.ResolveExportOutput(context.Background(), "http://unused/jobs/x", &st, ".vtpk")
	if err != nil || !strings.HasPrefix(u, "https://lws-job-results-prd0.s3.amazonaws.com/export/8d73d367df5ecc9d.vtpk?") {
		t.Fatalf("ResolveExportOutput = %q, %v", u, err)
	}
	if !presigned(u) {
		t.Error("S3 URL not recognised as pre-signed (a token would be appended)")
	}
}

func TestVectorTiles(t *testing.T) {
	f := newFakeServer(t)
	f.fixture(t, "/vt/VectorTileServer", "vectortileserver-root.docs-example.json")
	f.handle("/vt/VectorTileServer/resources/styles/root.json", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"version":8,"sources":{"esri":{"type":"vector","url":"../../"}},"layers":[{"id":"bg","type":"background"}],"sprite":"../sprites/sprite","glyphs":"../fonts/{fontstack}/{range}.pbf"}`)
	})
	f.handle("/vt/VectorTileServer/resources/sprites/sprite@2x.json", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"dot":{"x":0,"y":0,"width":8,"height":8,"pixelRatio":2}}`)
	})
	f.handle("/vt/VectorTileServer/resources/sprites/sprite@2x.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n\x1a\n"))
	})
	f.handle("/vt/VectorTileServer/resources/fonts/{font}/{range}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("font") != "Arial Regular" || r.PathValue("range") != "256-511.pbf" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write([]byte{0x0a, 0x02, 0x08, 0x01})
	})
	f.handle("/vt/VectorTileServer/tile/5/11/6.pbf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write([]byte{0x1a, 0x00})
	})
	f.handle("/vt/VectorTileServer/exportTiles", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(mustSub(t, readFixture(t, "vts-exporttiles-submit.docs-example.json"), "arcgisEnterprise"))
	})
	c := newTestClient(t, "")
	ctx := context.Background()
	svc := f.URL + "/vt/VectorTileServer"
	v, err := c.VectorTileService(ctx, svc)
	if err != nil || v.TileTemplate() != "tile/{z}/{y}/{x}.pbf" || v.Storage().StorageFormat != "compactV2" || v.TileInfo.Rows != 512 {
		t.Fatalf("VectorTileService = %+v, %v", v, err)
	}
	style, err := c.VectorTileStyle(ctx, svc)
	if err != nil || !strings.Contains(string(style), `"sprite"`) {
		t.Fatalf("style = %s, %v", style, err)
	}
	idx, png, err := c.Sprite(ctx, svc, true)
	if err != nil || !strings.Contains(string(idx), "pixelRatio") || len(png) != 8 {
		t.Fatalf("sprite = %s %q %v", idx, png, err)
	}
	g, err := c.Glyphs(ctx, svc, "Arial Regular", 300)
	if err != nil || len(g) != 4 {
		t.Fatalf("glyphs = %x, %v", g, err)
	}
	tile, err := c.VectorTile(ctx, svc, v, 5, 11, 6)
	if err != nil || tile.ContentType != "application/x-protobuf" {
		t.Fatalf("vector tile = %+v, %v", tile, err)
	}
	_, err = c.VectorTile(ctx, svc, v, 5, 12, 6)
	if !errors.Is(err, ErrTileAbsent) {
		t.Errorf("missing vector tile: err = %v", err)
	}
	sub, err := c.ExportVectorTiles(ctx, svc, ExportTilesParams{Levels: "0-6", ExportExtentText: "DEFAULT"})
	if err != nil || sub.JobURL != svc+"/jobs/j5ed98befb0f64c3db7cdf713d3157c2b_et" {
		t.Fatalf("ExportVectorTiles = %+v, %v", sub, err)
	}
}
