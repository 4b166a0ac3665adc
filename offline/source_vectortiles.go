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
	addDefaults(a, MethodVectorTiles, &ov.ExportVectorTiles, func(e *Entry) *ExportVectorTilesParameters {
		ts := a.tileSvc[e.Key]
		levels := LevelIDs(ts.tileInfo.LODs, p.MinScale, p.MaxScale)
		maxLevel := 0
		if len(levels) > 0 {
			maxLevel = levels[len(levels)-1]
		}
		return &ExportVectorTilesParameters{
			ServiceURL: e.Service.URL, AreaOfInterest: cloneGeometry(aoi.Geometry), MaxLevel: maxLevel,
			MaxExportTilesCount: ts.maxExportTilesCount,
		}
	})
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
// maxExportTilesCount (levels 0 to maxLevel; Web Mercator 512 px when the
// service has no tileInfo).
func (vectorTilesSource) limits(ctx context.Context, svc Services, t *Task, o *Overrides) []error {
	return exportLimits(ctx, t, o.ExportVectorTiles, func(p *ExportVectorTilesParameters) tileExport {
		return tileExport{url: p.ServiceURL, area: p.AreaOfInterest, levels: levelsUpTo(p.MaxLevel), max: p.MaxExportTilesCount}
	}, func(x tileExport) (arcgis.TileInfo, bool) {
		vs, err := svc.VectorTileService(ctx, x.url)
		if err != nil {
			return arcgis.TileInfo{}, false
		}
		return vectorTileInfo(vs, len(x.levels)-1), true
	})
}

// vectorTileInfo is the service's tiling scheme; without tileInfo, Web
// Mercator 512 px, levels 0 to maxLevel.
func vectorTileInfo(vs *arcgis.VectorTileService, maxLevel int) arcgis.TileInfo {
	if vs.TileInfo != nil {
		return *vs.TileInfo
	}
	return tiles.WebMercatorScheme(512, 0, maxLevel).Info
}

func (s vectorTilesSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	return layerSteps(s, KindVectorTiles, o.ExportVectorTiles, used, TilesDir, ".mbtiles", func(_ Key, p *ExportVectorTilesParameters) (string, string) {
		return serviceName(p.ServiceURL), p.ServiceURL
	})
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
