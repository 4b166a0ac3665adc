package offline_test

import (
	"context"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
)

// farArea is a WGS84 envelope in Nebraska, far from the demo data.
func farArea() *arcgis.Geometry {
	f := func(v float64) *float64 { return &v }
	return &arcgis.Geometry{XMin: f(-100.2), YMin: f(40.0), XMax: f(-100.1), YMax: f(40.1),
		SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
}

// outsideWarned returns the titles of the layers warned with
// areaOutsideExtent.
func outsideWarned(ws []offline.LayerWarning) map[string]bool {
	out := map[string]bool{}
	for _, w := range ws {
		if w.Code == offline.WarnOutsideExtent {
			out[w.Layer] = true
		}
	}
	return out
}

// TestAreaOutsideExtentWarned: capabilities and the estimate name each
// layer whose extent the area misses (issue 15 item 3): the feature layers
// (layer extent) and the emulator's tile layers (full extent: the demo
// area); over the demo area nothing is warned.
func TestAreaOutsideExtentWarned(t *testing.T) {
	d := startDemo(t, true, 140000)
	c, task, inside := d.c, d.task, d.p
	ctx := context.Background()
	caps, err := task.Capabilities(ctx, inside)
	if err != nil {
		t.Fatal(err)
	}
	if w := outsideWarned(caps.Warnings); len(w) != 0 {
		t.Errorf("demo area: warnings %v", caps.Warnings)
	}
	far := *inside
	far.AreaOfInterest = farArea()
	caps, err = task.Capabilities(ctx, &far)
	if err != nil {
		t.Fatal(err)
	}
	warned := outsideWarned(caps.Warnings)
	features, tiled := 0, 0
	for _, l := range caps.Layers {
		switch l.Method {
		case offline.MethodReplica, offline.MethodSnapshot:
			features++
		case offline.MethodRasterTiles, offline.MethodVectorTiles:
			tiled++
		default:
			continue
		}
		if !warned[l.Title] {
			t.Errorf("layer %q (%s) outside the area not warned: %+v", l.Title, l.Method, caps.Warnings)
		}
	}
	if features == 0 || tiled == 0 {
		t.Fatalf("want feature and tile layers in the demo map's capabilities: %+v", caps.Layers)
	}
	o, err := task.CreateOverrides(ctx, &far)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := task.Estimate(ctx, &far, o, offline.EstimateOptions{Client: c, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := outsideWarned(pe.Warnings); len(got) != len(warned) {
		t.Errorf("estimate warnings %v, capabilities warned %v", pe.Warnings, warned)
	}
}
