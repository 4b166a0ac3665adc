package tiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

func TestExportTilesFromEmulator(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{Anonymous: true, Tiles: &emulator.TileOptions{
		MapServices: []emulator.MapServiceOptions{{Name: "Demo_Basemap", ExportTilesAllowed: true, MaxExportTilesCount: 2000, HoleRate: 0.1}},
		WorkDir:     t.TempDir(), JobStep: 5 * time.Millisecond,
	}})
	svc := em.ServicesURL + "/Demo_Basemap/MapServer"
	dir := t.TempDir()
	s := WebMercatorScheme(256, 0, 19)
	jc := &HTTPJobClient{}
	// Estimate from the service first.
	est, err := EstimateCovers(context.Background(), "Demo_Basemap", testCovers(t, s, demoAOI, 10, 14), demoAOI,
		EstimateOptions{Service: &ServiceEstimator{Jobs: jc, ServiceURL: svc, Poll: 10 * time.Millisecond}})
	if err != nil || est.Source != "service" || est.Bytes <= 0 {
		t.Fatalf("service estimate %+v: %v", est, err)
	}
	st, err := OpenStore(context.Background(), filepath.Join(dir, "export.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	var job string
	n, err := ExportAndImport(context.Background(), jc, svc, ExportRequest{Levels: []int{10, 11, 12, 13, 14}, AOI: demoAOI}, dir, st,
		ExportOptions{Poll: 10 * time.Millisecond, OnJob: func(u string) { job = u }})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || !strings.Contains(job, "/exportTiles/jobs/") {
		t.Fatalf("imported %d tiles, job %q", n, job)
	}
	// The package's tiles are the service's tiles: compare with direct downloads.
	tm, _ := ArcGISTileTemplate(svc)
	f := NewHTTPFetcher(tm, nil, 2)
	checked := 0
	for _, c := range testCovers(t, s, demoAOI, 14, 14) {
		c.Each(func(row, col int) bool {
			want, absent, err := f.FetchTile(context.Background(), TileKey{14, row, col})
			if err != nil {
				t.Fatal(err)
			}
			got, gerr := st.Tile(context.Background(), 14, col, row)
			if absent {
				return true
			}
			if gerr != nil || !bytes.Equal(got, want) {
				t.Fatalf("tile 14/%d/%d differs between the .tpkx and the service (%v)", row, col, gerr)
			}
			checked++
			return checked < 20
		})
	}
	if checked == 0 {
		t.Fatal("no tile compared")
	}
	st.Close()
	gdalOpens(t, "gdalinfo", filepath.Join(dir, "export.mbtiles"), "Driver: MBTiles")

	// Too many tiles: the server refuses and the error says so.
	st2, _ := OpenStore(context.Background(), filepath.Join(dir, "big.mbtiles"))
	defer st2.Close()
	_, err = ExportAndImport(context.Background(), jc, svc, ExportRequest{Levels: []int{15, 16, 17}, AOI: demoAOI}, dir, st2, ExportOptions{Poll: 10 * time.Millisecond})
	var je *JobError
	if !errors.As(err, &je) || je.Status != "esriJobFailed" || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("want failed job, got %v", err)
	}
	// The same limit checked before any job: names the levels to drop.
	big, _ := EstimateCovers(context.Background(), "Demo_Basemap", testCovers(t, s, demoAOI, 10, 17), demoAOI, EstimateOptions{})
	if err := CheckLimit(big, 2000); err == nil || !strings.Contains(err.Error(), "drop level 17") {
		t.Fatalf("pre-flight limit: %v", err)
	}
}

func TestDownloadFileResumesWithRange(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	var mu sync.Mutex
	var ranges []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		first := len(ranges) == 1
		mu.Unlock()
		if first {
			// Send a third of the file, then drop the connection.
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			w.WriteHeader(200)
			w.Write(body[:len(body)/3])
			w.(http.Flusher).Flush()
			hj, _, _ := w.(http.Hijacker).Hijack()
			hj.Close()
			return
		}
		http.ServeContent(w, r, "pkg.tpkx", time.Time{}, bytes.NewReader(body))
	}))
	defer srv.Close()
	dest := filepath.Join(t.TempDir(), "pkg.tpkx")
	if err := DownloadFile(context.Background(), srv.Client(), srv.URL+"/pkg.tpkx", dest); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, body) {
		t.Fatalf("downloaded %d bytes, want %d identical", len(got), len(body))
	}
	if len(ranges) != 2 || ranges[0] != "" || ranges[1] != fmt.Sprintf("bytes=%d-", len(body)/3) {
		t.Fatalf("requests' Range headers %q", ranges)
	}
	if LevelList([]int{3, 1, 2, 5, 7, 8}) != "1-3,5,7-8" {
		t.Fatal(LevelList([]int{3, 1, 2, 5, 7, 8}))
	}
}
