package offline

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// wgs84Box is an envelope in WGS84 degrees.
func wgs84Box(xmin, ymin, xmax, ymax float64) *arcgis.Geometry {
	return &arcgis.Geometry{XMin: &xmin, YMin: &ymin, XMax: &xmax, YMax: &ymax,
		SpatialReference: &arcgis.SpatialReference{WKID: 4326}}
}

// writeWebMap writes a web map document to dir/map.json and returns its
// path.
func writeWebMap(t testing.TB, dir, wm string) string {
	t.Helper()
	p := filepath.Join(dir, "map.json")
	if err := os.WriteFile(p, []byte(wm), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mapFileTask opens the web map file mapPath with an anonymous client
// (returned for the job) and prepares its default parameters over area
// (every level), edited by edit if given, and their overrides.
func mapFileTask(t testing.TB, mapPath string, area *arcgis.Geometry, edit ...func(*Parameters)) (*Task, *Parameters, *Overrides, *arcgis.Client) {
	t.Helper()
	ctx := context.Background()
	c, err := arcgis.New()
	if err != nil {
		t.Fatal(err)
	}
	task, err := NewTask(ctx, Source{File: mapPath}, nil, c)
	if err != nil {
		t.Fatal(err)
	}
	p := mustDefaults(ctx, t, task, area, 0, 0)
	for _, f := range edit {
		f(p)
	}
	o := mustOverrides(ctx, t, task, p)
	return task, p, o, c
}

// manifestLayerOfKind returns the last layer of m of the kind, or nil.
func manifestLayerOfKind(m *Manifest, kind string) *ManifestLayer {
	var ml *ManifestLayer
	for _, l := range m.Layers {
		if l.Kind == kind {
			ml = l
		}
	}
	return ml
}
