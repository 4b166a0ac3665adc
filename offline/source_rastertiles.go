package offline

import (
	"context"
	"fmt"

	"github.com/offlined/offlined/internal/arcgis"
)

// rasterTilesSource takes cached MapServer and ImageServer layers
// (ArcGISTiledMapServiceLayer, ArcGISTiledImageServiceLayer) offline into
// MBTiles (MethodRasterTiles): tiles fetched directly, or through
// exportTiles. The job step is runRasterTiles (job_tiles.go); overrides are
// Overrides.ExportTileCache; the local API serves the tiles.
type rasterTilesSource struct{ oneLayerSteps }

func (rasterTilesSource) name() string { return "tiles" }

func (rasterTilesSource) analyze(ctx context.Context, t *Task, a *analysis) error {
	return analyzeTiled(ctx, t, a, tiledLayers{
		noun: "tiled layer",
		takes: func(e *Entry) bool {
			return e.LayerType == LayerTypeTiledMapService || e.LayerType == LayerTypeTiledImage
		},
		badService: func(e *Entry) (Reason, string) {
			if !e.HasService || e.Service.HasLayer || (e.Service.Type != MapServer && e.Service.Type != ImageServer) {
				return ReasonInvalidURL, fmt.Sprintf("tiled layer %s: URL %q does not name a MapServer or ImageServer root", describe(e), e.Layer.URL)
			}
			return "", ""
		},
		notCached: "has no tile cache (dynamic map service)",
		offline: func(c *Capability) {
			c.SupportsOffline, c.Method, c.TileMethod = true, MethodRasterTiles, TileMethodExport
		},
	})
}

// tiledLayers says which entries a tile-service source takes and how.
type tiledLayers struct {
	noun       string                        // the layer in messages
	takes      func(*Entry) bool             // the layer types
	badService func(*Entry) (Reason, string) // a reason when the entry names no fit service
	notCached  string                        // the message's end for a service without cache
	offline    func(*Capability)             // sets the method of a layer that goes offline
}

// analyzeTiled marks the unclaimed entries l takes: offline when their
// service has a tile cache and allows exporting tiles, else why not.
func analyzeTiled(ctx context.Context, t *Task, a *analysis, l tiledLayers) error {
	for _, e := range a.unclaimed() {
		if !l.takes(e) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		c := a.caps[e]
		if r, msg := l.badService(e); r != "" {
			c.Reason, c.Message = r, msg
			continue
		}
		ts, err := t.tileService(ctx, e.Service)
		if err != nil {
			c.Reason = ClassifyError(err)
			c.Message = fmt.Sprintf("%s %s: service %s: %s: %v", l.noun, describe(e), e.Service.URL, reasonText(c.Reason), err)
			continue
		}
		a.tileSvc[e.Key] = ts
		switch {
		case !ts.cached:
			c.Reason = ReasonNotCached
			c.Message = fmt.Sprintf("%s %s: service %s %s", l.noun, describe(e), e.Service.URL, l.notCached)
		case !ts.exportAllowed:
			c.Reason = ReasonExportNotAllowed
			c.Message = fmt.Sprintf("%s %s: service %s does not allow exporting tiles (exportTilesAllowed false)", l.noun, describe(e), e.Service.URL)
		default:
			l.offline(c)
		}
	}
	return nil
}

func (rasterTilesSource) defaults(a *analysis, aoi *AOI, ov *Overrides) {
	p := a.params
	addDefaults(a, MethodRasterTiles, &ov.ExportTileCache, func(e *Entry) *ExportTileCacheParameters {
		ts := a.tileSvc[e.Key]
		return &ExportTileCacheParameters{
			ServiceURL: e.Service.URL, AreaOfInterest: cloneGeometry(aoi.Geometry),
			LevelIDs: LevelIDs(ts.tileInfo.LODs, p.MinScale, p.MaxScale), CompressionQuality: -1,
			MaxExportTilesCount: ts.maxExportTilesCount,
		}
	})
}

func (rasterTilesSource) check(oc *overrideCheck, o *Overrides) {
	for _, k := range sortedKeys(o.ExportTileCache) {
		p := o.ExportTileCache[k]
		if !oc.hasType(k, LayerTypeTiledMapService, LayerTypeTiledImage) {
			oc.unknown(k, "exportTileCache")
			continue
		}
		if p == nil || len(p.LevelIDs) == 0 {
			oc.invalid(k, "no level ids")
			continue
		}
		if p.TileMethod != TileMethodAuto && p.TileMethod != TileMethodExport && p.TileMethod != TileMethodDirect {
			oc.invalid(k, "tileMethod %q is not exportTiles or tiles", p.TileMethod)
		}
		if p.CompressionQuality > 100 || (p.CompressionQuality < 0 && p.CompressionQuality != -1) {
			oc.invalid(k, "compressionQuality %g is not -1 or 0-100", p.CompressionQuality)
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
func (rasterTilesSource) limits(ctx context.Context, svc Services, t *Task, o *Overrides) []error {
	return exportLimits(ctx, t, o.ExportTileCache, func(p *ExportTileCacheParameters) tileExport {
		return tileExport{url: p.ServiceURL, area: p.AreaOfInterest, levels: p.LevelIDs, max: p.MaxExportTilesCount}
	}, func(x tileExport) (arcgis.TileInfo, bool) {
		ms, err := svc.MapService(ctx, x.url)
		if err != nil || ms.TileInfo == nil {
			return arcgis.TileInfo{}, false
		}
		return *ms.TileInfo, true
	})
}

// tileExport is what the limits check reads of a layer's export
// parameters.
type tileExport struct {
	url    string
	area   *arcgis.Geometry
	levels []int
	max    int64 // the service's maxExportTilesCount (≤ 0: none)
}

// exportLimits checks the tile count of each layer of m against its
// service's maxExportTilesCount: export reads a layer's parameters, info
// returns its service's tiling scheme (false: unknown, reported when the
// job runs).
func exportLimits[P any](ctx context.Context, t *Task, m map[Key]*P, export func(*P) tileExport, info func(tileExport) (arcgis.TileInfo, bool)) []error {
	return layerLimits(ctx, m, func(k Key, p *P) error {
		x := export(p)
		if x.max <= 0 {
			return nil
		}
		ti, ok := info(x)
		if !ok {
			return nil
		}
		return checkTileCount(t, k, ti, x.area, x.levels, x.max)
	})
}

func (s rasterTilesSource) steps(o *Overrides, used map[string]bool) []stepPlan {
	return layerSteps(s, KindRasterTiles, o.ExportTileCache, used, TilesDir, ".mbtiles", func(_ Key, p *ExportTileCacheParameters) (string, string) {
		return serviceName(p.ServiceURL), p.ServiceURL
	})
}

func (rasterTilesSource) run(ctx context.Context, j *Job, id string) error {
	return j.runRasterTiles(ctx, id)
}

func (rasterTilesSource) partial(path string) []string { return []string{path + ".export"} }

func (s rasterTilesSource) write(ctx context.Context, j *Job, local map[Key]*ManifestLayer) error {
	writeTileLayers(j, s, local, func(st stepInfo) (string, string) {
		if p := j.o.ExportTileCache[st.Key]; p != nil {
			return p.ServiceURL, ""
		}
		return "", ""
	})
	return nil
}

// writeTileLayers adds the package layer of each step of a tile source;
// info returns a step's service URL and resources directory.
func writeTileLayers(j *Job, s source, local map[Key]*ManifestLayer, info func(stepInfo) (svcURL, resources string)) {
	for _, st := range j.stepsOf(s) {
		ml := &ManifestLayer{Key: st.Key, Kind: st.Kind}
		ml.ServiceURL, ml.Resources = info(st)
		if st.Status == stepDone {
			ml.Store, ml.Tiles, ml.Bytes = st.Store, st.Tiles, st.Bytes
		}
		local[st.Key] = ml
	}
}
