package tiles

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

func TestDownloadRasterLayerGeographic(t *testing.T) {
	// Demo_Geographic is a WGS84 (EPSG:4326) JPEG scheme: not XYZ, stored as is.
	em := emulatortest.Start(t, emulator.Options{Anonymous: true})
	svc := em.ServicesURL + "/Demo_Geographic/MapServer"
	raw, err := getBytes(context.Background(), &httpClientDefault, svc, nil)
	if err != nil {
		t.Fatal(err)
	}
	var root PackageRoot
	if err := jsonUnmarshal(raw, &root); err != nil {
		t.Fatal(err)
	}
	s, err := NewScheme(root.TileInfo)
	if err != nil {
		t.Fatal(err)
	}
	if s.XYZ() {
		t.Fatal("geographic scheme reported as XYZ")
	}
	tm, _ := ArcGISTileTemplate(svc)
	dir := t.TempDir()
	st, err := OpenStore(context.Background(), filepath.Join(dir, "geo.mbtiles"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	job := RasterLayerJob{Name: "Geographic", Scheme: s, Template: tm, AOI: demoAOI, Levels: []int{8, 9, 10, 11}, Store: st, TilemapURL: svc, Download: DownloadOptions{Concurrency: 4}}
	p, err := DownloadRasterLayer(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if p.Fetched == 0 {
		t.Fatalf("progress %+v", p.LevelProgress)
	}
	md, _ := st.Metadata(context.Background())
	if md[MetaGrid] != "tileinfo" || md["format"] != "jpg" || !strings.Contains(md[MetaTileInfo], `"wkid":4326`) {
		t.Fatalf("metadata %v", md)
	}
	// Limit: refused before any tile request, naming the layer and levels to drop.
	before := em.Log().Count("/Demo_Geographic/MapServer/tile/")
	job.Levels, job.MaxTiles = []int{8, 9, 10, 11, 12, 13, 14}, 50
	_, err = DownloadRasterLayer(context.Background(), job)
	var le *LimitError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), `"Geographic"`) {
		t.Fatalf("want LimitError, got %v", err)
	}
	if em.Log().Count("/Demo_Geographic/MapServer/tile/") != before {
		t.Fatal("tiles requested although the limit was exceeded")
	}
	job.Levels = []int{99}
	if _, err := DownloadRasterLayer(context.Background(), job); err == nil {
		t.Fatal("unknown level accepted")
	}
}
