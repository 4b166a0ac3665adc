package offline

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// TileChecks returns the Validate check that needs the tiles package: every
// raster and vector tile layer's tile count against its service's
// maxExportTilesCount (naming the layer and the levels to drop), and the
// reference basemap's coverage of the area. svc reads the tiling schemes.
func TileChecks(svc Services) Check {
	return func(ctx context.Context, t *Task, p *Parameters, o *Overrides) []error {
		var errs []error
		if o != nil && svc != nil {
			for _, k := range sortedKeys(o.ExportTileCache) {
				ep := o.ExportTileCache[k]
				if ep == nil || ep.MaxExportTilesCount <= 0 {
					continue
				}
				ms, err := svc.MapService(ctx, ep.ServiceURL)
				if err != nil || ms.TileInfo == nil {
					continue // reported when the job runs
				}
				if err := checkTileCount(t, k, *ms.TileInfo, ep.AreaOfInterest, ep.LevelIDs, ep.MaxExportTilesCount); err != nil {
					errs = append(errs, err)
				}
			}
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
				levels := make([]int, 0, vp.MaxLevel+1)
				for l := 0; l <= vp.MaxLevel; l++ {
					levels = append(levels, l)
				}
				if err := checkTileCount(t, k, ti, vp.AreaOfInterest, levels, vp.MaxExportTilesCount); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if p != nil && p.IncludeBasemap && p.ReferenceBasemapDirectory != "" && p.ReferenceBasemapFilename != "" {
			if aoi, err := tiles.AOIFromGeometry(p.AreaOfInterest); err == nil {
				if _, err := tiles.CheckReferenceBasemap(ctx, p.ReferenceBasemapDirectory, p.ReferenceBasemapFilename, aoi); err != nil {
					code := ErrReferenceBasemapCoverage
					var rb *tiles.RefBasemapError
					if errors.As(err, &rb) && errors.Is(rb.Err, os.ErrNotExist) {
						code = ErrReferenceBasemapMissing
					}
					errs = append(errs, &ValidationError{Code: code, Message: "reference basemap: " + err.Error()})
				}
			}
		}
		return errs
	}
}

func checkTileCount(t *Task, k Key, ti arcgis.TileInfo, area *arcgis.Geometry, levels []int, max int64) error {
	scheme, err := tiles.NewScheme(ti)
	if err != nil {
		return nil
	}
	aoi, err := tiles.AOIFromGeometry(area)
	if err != nil {
		return nil
	}
	covers, err := tiles.Cover(scheme, aoi, levels, tiles.CoverOptions{})
	if err != nil {
		return nil
	}
	title := string(k)
	if e := t.Entry(k); e != nil && e.Title != "" {
		title = e.Title
	}
	est, err := tiles.EstimateCovers(context.Background(), title, covers, aoi, tiles.EstimateOptions{})
	if err != nil {
		return nil
	}
	err = tiles.CheckLimit(est, max)
	var le *tiles.LimitError
	if !errors.As(err, &le) {
		return nil
	}
	msg := fmt.Sprintf("layer %q needs %d tiles for levels %d-%d, over the service's limit of %d", title, le.Tiles, le.Levels[0], le.Levels[1], le.Max)
	if le.Keep[0] <= le.Keep[1] {
		msg += fmt.Sprintf("; drop levels %d-%d (keeping %d-%d, %d tiles) or raise maxScale", le.Drop[0], le.Drop[1], le.Keep[0], le.Keep[1], le.KeepTiles)
	} else {
		msg += "; not even the most zoomed-out level fits: make the area smaller"
	}
	return &ValidationError{Code: ErrTileLimit, Key: k, Message: msg}
}
