package offline

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/tiles"
)

// TileChecks returns the Validate check that needs the tiles package and
// the services: each source's estimate against its limits (every raster and
// vector tile layer's tile count against its service's maxExportTilesCount,
// naming the layer and the levels to drop), and the reference basemap's
// coverage of the area. svc reads the tiling schemes.
func TileChecks(svc Services) Check {
	return func(ctx context.Context, t *Task, p *Parameters, o *Overrides) []error {
		var errs []error
		if o != nil && svc != nil {
			for _, s := range sources() {
				errs = append(errs, s.limits(ctx, svc, t, o)...)
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
