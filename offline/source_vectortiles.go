package offline

import (
	"context"
	"fmt"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// vectorTilesSource takes VectorTileServer layers (VectorTileLayer, found
// from the layer's URL, item or style) offline: tiles into MBTiles, style,
// sprites and glyphs beside them (MethodVectorTiles). The job step is
// runVectorTiles (job_tiles.go); overrides are Overrides.ExportVectorTiles.
type vectorTilesSource struct{ oneLayerSteps }

func (vectorTilesSource) name() string { return "vtiles" }

func (vectorTilesSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	return analyzeTiled(ctx, t, a, tiledLayers{
		noun:  "vector tile layer",
		takes: func(e *Entry) bool { return e.LayerType == LayerTypeVectorTile },
		badService: func(e *Entry) (Reason, string) {
			if !e.HasService || e.Service.Type != VectorTileServer {
				return ReasonUnresolvedStyle, fmt.Sprintf("vector tile layer %s: no VectorTileServer found from url %q / style %q", describe(e), tiles.HideQuery(e.Layer.URL), tiles.HideQuery(e.Layer.StyleURL))
			}
			return "", ""
		},
		notCached: "has no tileInfo",
		offline:   func(c *Capability) { c.SupportsOffline, c.Method = true, MethodVectorTiles },
	})
}

func (vectorTilesSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	p := a.params
	for _, e := range a.order {
		if a.caps[e].Method != MethodVectorTiles {
			continue
		}
		if _, ok := ov.ExportVectorTiles[e.Key]; ok {
			continue
		}
		ts := a.tileSvc[e.Key]
		levels := LevelIDs(ts.tileInfo.LODs, p.MinScale, p.MaxScale)
		maxLevel := 0
		if len(levels) > 0 {
			maxLevel = levels[len(levels)-1]
		}
		ov.ExportVectorTiles[e.Key] = &ExportVectorTilesParameters{
			ServiceURL: e.Service.URL, AreaOfInterest: cloneGeometry(aoi.Geometry), MaxLevel: maxLevel,
			MaxExportTilesCount: ts.maxExportTilesCount,
		}
	}
}

func (vectorTilesSource) check(oc *overrideCheck, o *Overrides) {
	for _, k := range sortedKeys(o.ExportVectorTiles) {
		p := o.ExportVectorTiles[k]
		if !oc.hasType(k, LayerTypeVectorTile) {
			oc.unknown(k, "exportVectorTiles")
			continue
		}
		if p == nil || p.MaxLevel < 0 {
			oc.invalid(k, "maxLevel must be 0 or more")
			continue
		}
		if p.AreaOfInterest != nil {
			if _, err := PrepareAOI(p.AreaOfInterest, oc.t.Map.SpatialReference); err != nil {
				oc.invalid(k, "area: %v", err)
			}
		}
	}
}

// limits checks each layer's tile count against its service's
// maxExportTilesCount.
func (vectorTilesSource) limits(ctx context.Context, svc Services, t *Task, o *Overrides) []error {
	var errs []error
	for _, k := range sortedKeys(o.ExportVectorTiles) {
		vp := o.ExportVectorTiles[k]
		if vp == nil || vp.MaxExportTilesCount <= 0 {
			continue
		}
		vs, err := svc.VectorTileService(ctx, vp.ServiceURL)
		if err != nil {
			continue
		}
		ti := arcgis.TileInfo{}
		if vs.TileInfo != nil {
			ti = *vs.TileInfo
		} else {
			ti = tiles.WebMercatorScheme(512, 0, vp.MaxLevel).Info
		}
		if err := checkTileCount(t, k, ti, vp.AreaOfInterest, levelsUpTo(vp.MaxLevel), vp.MaxExportTilesCount); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func (s vectorTilesSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	var out []stepPlan
	for _, k := range sortedKeys(o.ExportVectorTiles) {
		p := o.ExportVectorTiles[k]
		out = append(out, stepPlan{id: stepID(s, k), kind: KindVectorTiles, key: k, url: p.ServiceURL, entryTitle: true,
			store: uniqueStore(used, TilesDir, serviceName(p.ServiceURL), ".mbtiles")})
	}
	return out
}

func (vectorTilesSource) run(ctx context.Context, j *Job, id string) error {
	return j.runVectorTiles(ctx, id)
}

// partial: the resources directory beside the MBTiles.
func (vectorTilesSource) partial(path string) []string {
	return []string{strings.TrimSuffix(path, ".mbtiles")}
}

func (s vectorTilesSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	writeTileLayers(j, s, local, func(st stepInfo) (string, string) {
		p := j.o.ExportVectorTiles[st.Key]
		if p == nil {
			return "", ""
		}
		return p.ServiceURL, strings.TrimSuffix(st.Store, ".mbtiles") + "/resources"
	})
	return nil
}
