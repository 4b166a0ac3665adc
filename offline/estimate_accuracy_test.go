package offline_test

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
)

func box(xmin, ymin, xmax, ymax float64) *arcgis.Geometry {
	return &arcgis.Geometry{XMin: &xmin, YMin: &ymin, XMax: &xmax, YMax: &ymax,
		SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
}

// The estimate of the demo map, taken by the job before it starts and
// recorded in package.json beside the actual sizes, is within ±25 % of the
// package and ±40 % per step at three areas and scale ranges, with the
// tile counts of the cover exact.
func TestEstimateAccuracyDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("emulator end-to-end")
	}
	cases := []struct {
		name               string
		area               *arcgis.Geometry
		minScale, maxScale float64
	}{
		{"demo area, 1:150k-1:70k", offlinetest.DemoArea(), 150000, 70000},
		{"demo area, 1:150k-1:10k", offlinetest.DemoArea(), 150000, 10000},
		{"small area, 1:300k-1:5k", box(-117.20, 34.02, -117.15, 34.06), 300000, 5000},
		{"wide area, 1:150k-1:10k", box(-117.30, 33.95, -117.05, 34.15), 150000, 10000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			em := startEmulator(t, true)
			var planned = map[offline.Key]int64{}
			res := offlinetest.BuildPackage(t, em, offlinetest.Options{Area: tc.area, MinScale: tc.minScale, MaxScale: tc.maxScale,
				Job: offline.JobOptions{EstimateFirst: true, Progress: func(p offline.Progress) {
					for _, lp := range p.Layers {
						if lp.TilesPlanned > 0 {
							planned[lp.Key] = lp.TilesPlanned
						}
					}
				}}})
			r := res.Manifest.Estimate
			if r == nil {
				t.Fatal("package.json has no estimate")
			}
			t.Logf("package: estimated %d (%d-%d) actual %d error %+.1f%%", r.Estimated.Bytes, r.Estimated.Low, r.Estimated.High, r.Actual, 100*r.Error)
			if math.Abs(r.Error) > 0.25 {
				t.Errorf("package estimate %d is %+.0f%% off the actual %d", r.Estimated.Bytes, 100*r.Error, r.Actual)
			}
			for _, l := range r.Layers {
				t.Logf("  %s %s: estimated %d (%s, %d-%d) actual %d error %+.1f%% tiles %d planned %d", l.Title, l.Kind, l.Estimated.Bytes, l.Estimated.Method, l.Estimated.Low, l.Estimated.High, l.Actual, 100*l.Error, l.Tiles, planned[l.Key])
				if l.Actual > 0 && math.Abs(l.Error) > 0.40 {
					t.Errorf("%s: estimate %d is %+.0f%% off the actual %d", l.Title, l.Estimated.Bytes, 100*l.Error, l.Actual)
				}
				if (l.Kind == offline.KindRasterTiles || l.Kind == offline.KindVectorTiles) && l.Tiles != planned[l.Key] {
					t.Errorf("%s: estimate counts %d tiles, the job planned %d", l.Title, l.Tiles, planned[l.Key])
				}
			}
		})
	}
}

// A raster layer the job exports (exportTiles) is estimated with the
// service's estimateExportTilesSize, and the estimate gives a time range.
func TestEstimateServerTiles(t *testing.T) {
	ctx, task, p, o, c := demoJob(t)
	for _, ep := range o.ExportTileCache {
		ep.ExportTiles = true
	}
	est, err := task.Estimate(ctx, p, o, offline.EstimateOptions{Client: c})
	if err != nil {
		t.Fatal(err)
	}
	server := 0
	for _, le := range est.Layers {
		if le.Kind == offline.KindRasterTiles && le.Source != "xyz" { // an XYZ server has no estimate service
			if le.Data.Method != offline.EstimateServer || le.Tiles == 0 || le.Bytes.Bytes <= 0 {
				t.Errorf("%s: %+v", le.Title, le)
			}
			server++
		}
		if le.Bytes.Method != offline.EstimateUnknown && (le.Bytes.Low > le.Bytes.Bytes || le.Bytes.High < le.Bytes.Bytes) {
			t.Errorf("%s: band %+v", le.Title, le.Bytes)
		}
	}
	if server == 0 {
		t.Fatal("no raster tile layer")
	}
	if est.Throughput <= 0 || est.Time.Low <= 0 || est.Time.High < est.Time.Low {
		t.Errorf("time %+v throughput %g", est.Time, est.Throughput)
	}
	res, err := task.NewJob(p, o, filepath.Join(t.TempDir(), "pkg"), offline.JobOptions{Client: c, Estimate: est, PollInterval: 2 * time.Millisecond}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range res.Manifest.Estimate.Layers {
		t.Logf("%s %s: estimated %d (%s) actual %d error %+.1f%%", l.Title, l.Kind, l.Estimated.Bytes, l.Estimated.Method, l.Actual, 100*l.Error)
		if l.Kind == offline.KindRasterTiles && math.Abs(l.Error) > 0.4 {
			t.Errorf("%s: server estimate %d is %+.0f%% off the actual %d", l.Title, l.Estimated.Bytes, 100*l.Error, l.Actual)
		}
	}
}
