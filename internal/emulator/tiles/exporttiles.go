package tiles

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
)

// exportRequest is a parsed exportTiles / estimateExportTilesSize request.
type exportRequest struct {
	levels []int
	area   exportArea
	inputs map[string]any
	// quality > 0 re-encodes JPEG tiles at that quality
	// (optimizeTilesForSize=true with compressionQuality).
	quality int
}

// tileJobsFail reports whether the FailJobs fault is on.
func (s *Tiles) tileJobsFail() bool { return s.jobsFail() }

func (s *Tiles) registerMapExport(base string, ms *mapService) {
	s.router.HandleFunc(base+"/exportTiles", s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.submitMapJob(w, r, ms, false)
	}))
	s.router.HandleFunc(base+"/estimateExportTilesSize", s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.submitMapJob(w, r, ms, true)
	}))
	s.registerJobRoutes(base+"/exportTiles/jobs", base+"/estimateExportTilesSize/jobs", base+"/jobs")
}

// acceptExport parses an export request on service name, or answers the
// error (export not allowed, bad parameters) and reports false.
func acceptExport(w http.ResponseWriter, r *http.Request, allowed bool, name string, g *grid, full rect) (exportRequest, bool) {
	if !allowed {
		rest.WriteError(w, http.StatusOK, 400, "Unable to complete operation.", "exportTiles is not allowed on service "+name+" (exportTilesAllowed is false)")
		return exportRequest{}, false
	}
	req, err := parseExportRequest(r, g, full)
	if err != nil {
		rest.WriteError(w, http.StatusOK, 400, "Invalid or missing input parameters.", err.Error())
		return exportRequest{}, false
	}
	return req, true
}

// parseExportRequest reads the exportTiles parameters shared by both operations.
func parseExportRequest(r *http.Request, g *grid, full rect) (exportRequest, error) {
	values, err := parseLevelList(r.FormValue("levels"))
	if err != nil {
		return exportRequest{}, err
	}
	levels, err := resolveLevels(g, r.FormValue("exportBy"), values)
	if err != nil {
		return exportRequest{}, err
	}
	area, err := parseExportArea(g, r.FormValue("polygon"), r.FormValue("areaOfInterest"), r.FormValue("exportExtent"), full)
	if err != nil {
		return exportRequest{}, err
	}
	inputs := map[string]any{
		"levels":        r.FormValue("levels"),
		"export_extent": r.FormValue("exportExtent"),
	}
	if v := r.FormValue("polygon"); v != "" {
		inputs["polygon"] = v
	}
	if v := r.FormValue("areaOfInterest"); v != "" {
		inputs["area_of_interest"] = v
	}
	return exportRequest{levels: levels, area: area, inputs: inputs}, nil
}

// submitMapJob answers exportTiles (estimate=false) and
// estimateExportTilesSize on a cached MapServer with a GP job id.
func (s *Tiles) submitMapJob(w http.ResponseWriter, r *http.Request, ms *mapService, estimate bool) {
	req, ok := acceptExport(w, r, ms.opt.ExportTilesAllowed, ms.name, ms.grid, ms.data)
	if !ok {
		return
	}
	if !estimate {
		if tp := r.FormValue("tilePackage"); !strings.EqualFold(tp, "true") {
			rest.WriteError(w, http.StatusOK, 400, "Invalid or missing input parameters.",
				"tilePackage="+strconv.Quote(tp)+": the emulator only exports tile packages; set tilePackage=true")
			return
		}
		sf := r.FormValue("storageFormatType")
		if sf != "" && !strings.EqualFold(sf, "CompactV2") {
			rest.WriteError(w, http.StatusOK, 400, "Invalid or missing input parameters.",
				"storageFormatType "+strconv.Quote(sf)+" is not supported by the emulator; use CompactV2 (.tpkx)")
			return
		}
		req.inputs["tile_package"] = "true"
		if strings.EqualFold(r.FormValue("optimizeTilesForSize"), "true") && ms.opt.Format == "JPEG" {
			q, err := strconv.Atoi(r.FormValue("compressionQuality"))
			if err != nil || q < 1 || q > ms.opt.CompressionQuality {
				rest.WriteError(w, http.StatusOK, 400, "Invalid or missing input parameters.",
					fmt.Sprintf("compressionQuality must be 1-%d (the service's quality) with optimizeTilesForSize", ms.opt.CompressionQuality))
				return
			}
			req.quality = q
			req.inputs["compression_quality"] = strconv.Itoa(q)
		}
		req.inputs["storage_format_type"] = "CompactV2"
	}
	var run gpRunFunc
	if estimate {
		run = func(ctx context.Context, j *gpJob) error { return s.runMapEstimate(ctx, j, ms, req) }
	} else {
		run = func(ctx context.Context, j *gpJob) error { return s.runMapExport(ctx, j, ms, req) }
	}
	j := s.tiles.jobs.submit("", req.inputs, run)
	rest.WriteJSON(w, http.StatusOK, map[string]any{"jobId": j.id, "jobStatus": arcgis.JobSubmitted})
}

// countBundles returns the number of 128×128 bundles a cover touches.
func countBundles(cover []rowCover) int {
	byRow := map[int][][2]int{}
	for _, rc := range cover {
		br := rc.row / bundleDim
		for _, sp := range rc.spans {
			byRow[br] = append(byRow[br], [2]int{sp[0] / bundleDim, sp[1] / bundleDim})
		}
	}
	n := 0
	for _, spans := range byRow {
		for _, sp := range mergeSpans(spans) {
			n += sp[1] - sp[0] + 1
		}
	}
	return n
}

// maxHoleScan bounds the tiles examined one by one to discount holes;
// beyond it (far over any export limit anyway) holes are not discounted.
const maxHoleScan = 10_000_000

// covers computes the per-level covers of req and the number of tiles.
func (ms *mapService) covers(req exportRequest) ([][]rowCover, int) {
	covers := make([][]rowCover, len(req.levels))
	total := 0
	for i, level := range req.levels {
		covers[i] = coverLevel(ms.grid, level, req.area, ms.data)
		total += ms.levelCount(level, covers[i])
	}
	return covers, total
}

// levelCount counts a level's tiles, discounting holes unless there are
// more than maxHoleScan tiles.
func (ms *mapService) levelCount(level int, cover []rowCover) int {
	n := countCover(level, cover, nil)
	if keep := ms.keepFunc(); keep != nil && n <= maxHoleScan {
		n = countCover(level, cover, keep)
	}
	return n
}

// keepFunc filters holes (nil when there are none).
func (ms *mapService) keepFunc() func(tileKey) bool {
	if ms.opt.HoleRate <= 0 {
		return nil
	}
	return func(k tileKey) bool { return !ms.hole(k) }
}

func limitError(count, limit int, svc, kind string) error {
	return fmt.Errorf("ERROR 001564: Requested tile count(%d) exceeds the maximum allowed number of tiles(%d) to be exported for service %s:%s.", count, limit, svc, kind)
}

func errInjected() error {
	return fmt.Errorf("ERROR 999999: Something unexpected caused the tool to fail (injected job failure)")
}

func (s *Tiles) runMapEstimate(ctx context.Context, j *gpJob, ms *mapService, req exportRequest) error {
	if s.tileJobsFail() {
		return errInjected()
	}
	covers, total := ms.covers(req)
	size := int64(0)
	keep := ms.keepFunc()
	bundles := 0
	for i, level := range req.levels {
		n := ms.levelCount(level, covers[i])
		if n == 0 {
			continue
		}
		avg, err := sampleTileSize(ctx, level, covers[i], keep, ms.render.tile)
		if err != nil {
			return err
		}
		size += int64(n) * (avg + 4)
		bundles += countBundles(covers[i])
	}
	size += int64(bundles) * bundleDataStart
	if total > ms.maxExport {
		j.info("Warning: %s", limitError(total, ms.maxExport, ms.name, ms.kind))
	}
	j.info("Estimated %d tiles, %d bytes", total, size)
	j.setResult("out_service_size", "GPString", func(*http.Request) any {
		return map[string]any{"totalSize": size, "totalTilesToExport": total}
	})
	return nil
}

// sampleTileSize averages the sizes of about 32 tiles spread evenly over a
// cover (holes skipped), without listing the cover's tiles.
func sampleTileSize(ctx context.Context, level int, cover []rowCover, keep func(tileKey) bool, tile func(tileKey) ([]byte, error)) (int64, error) {
	n := countCover(level, cover, nil)
	if n == 0 {
		return 0, nil
	}
	step := max(1, n/32)
	var sum, count int64
	i := 0 // index of the first tile of the current span
	for _, rc := range cover {
		for _, sp := range rc.spans {
			width := sp[1] - sp[0] + 1
			// sample indices i ≤ j < i+width that are multiples of step
			for j := (i + step - 1) / step * step; j < i+width; j += step {
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				k := tileKey{level, rc.row, sp[0] + j - i}
				if keep != nil && !keep(k) {
					continue
				}
				data, err := tile(k)
				if err != nil {
					return 0, err
				}
				sum += int64(len(data))
				count++
			}
			i += width
		}
	}
	if count == 0 {
		return 0, nil
	}
	return sum / count, nil
}

func (s *Tiles) runMapExport(ctx context.Context, j *gpJob, ms *mapService, req exportRequest) error {
	if s.tileJobsFail() {
		return errInjected()
	}
	covers, total := ms.covers(req)
	return s.writeExport(j, req.levels, total, ms.maxExport, ms.name, ms.kind, "tiles", ms.name+".tpkx",
		func(path, dir string) error { return ms.writeTPKX(ctx, path, dir, req.levels, covers, req.quality) })
}

// writeExport checks an export's tile count against the service's limit,
// has write make the package file name in the job's output directory and
// publishes that directory as the job's result.
func (s *Tiles) writeExport(j *gpJob, levels []int, total, limit int, svc, kind, unit, name string, write func(path, dir string) error) error {
	if total > limit {
		return limitError(total, limit, svc, kind)
	}
	if total == 0 {
		return fmt.Errorf("ERROR 001566: No tiles to export: the area of interest does not intersect the service's data at levels %v", levels)
	}
	j.info("Exporting %d %s at levels %v", total, unit, levels)
	root, err := s.tiles.outputDir()
	if err != nil {
		return err
	}
	dir := filepath.Join(root, j.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export %s: %w", svc, err)
	}
	path := filepath.Join(dir, name)
	if err := write(path, dir); err != nil {
		return fmt.Errorf("export %s: %w", svc, err)
	}
	if err := j.addFile(name, path); err != nil {
		return err
	}
	id := j.id
	j.setResult("out_service_url", "GPString", func(r *http.Request) any { return outputFolderURL(r, id) })
	return nil
}

// writeTPKX writes a Compact Tile Package (.tpkx): root.json,
// iteminfo.json, thumbnail.png and tile/L{zz}/R{rrrr}C{cccc}.bundle; q > 0
// re-encodes JPEG tiles at that quality (optimizeTilesForSize).
func (ms *mapService) writeTPKX(ctx context.Context, path, tmpDir string, levels []int, covers [][]rowCover, q int) (err error) {
	p, err := newPkgWriter(path, tmpDir)
	if err != nil {
		return err
	}
	defer p.finish(&err)
	if err := p.addJSON("iteminfo.json", ms.tpkxItemInfo()); err != nil {
		return err
	}
	thumb, err := newTileRenderer(64, "PNG", 0, ms.seed, 1).render(tileKey{})
	if err != nil {
		return err
	}
	if err := p.addBytes("thumbnail.png", thumb); err != nil {
		return err
	}
	tile, quality := ms.render.tile, ms.opt.CompressionQuality
	if q > 0 { // optimizeTilesForSize: re-encode, uncached
		tile, quality = newTileRenderer(ms.render.size, ms.opt.Format, q, ms.seed, 1).render, q
	}
	if err := p.addJSON("root.json", ms.tpkxRoot(levels, quality)); err != nil {
		return err
	}
	return p.addBundles(ctx, "tile/", levels, covers, ms.keepFunc(), tile)
}

// tpkxRoot is the package's root.json (Esri tile-package-spec docs/root.md).
func (ms *mapService) tpkxRoot(levels []int, quality int) map[string]any {
	ti := ms.grid.info
	var lods []arcgis.LOD
	for _, l := range ti.LODs {
		if l.Level <= levels[len(levels)-1] {
			lods = append(lods, l)
		}
	}
	minL, maxL := ms.grid.lods[levels[0]], ms.grid.lods[levels[len(levels)-1]]
	full := ms.grid.envelope(ms.data)
	bands := 4
	if ms.opt.Format == "JPEG" {
		bands = 3
	}
	return map[string]any{
		"name":               ms.name,
		"version":            "1.0",
		"serviceDescription": "Exported from emulated service " + ms.name,
		"tileBundlesPath":    "./tile",
		"minLOD":             minL.Level,
		"maxLOD":             maxL.Level,
		"minScale":           minL.Scale,
		"maxScale":           maxL.Scale,
		"resampling":         false,
		"initialExtent":      full,
		"fullExtent":         full,
		"spatialReference":   ti.SpatialReference,
		"tileInfo": map[string]any{
			"rows": ti.Rows, "cols": ti.Cols, "dpi": ti.DPI, "origin": ti.Origin,
			"spatialReference": ti.SpatialReference, "lods": lods,
		},
		"storageInfo":   map[string]any{"storageFormat": "esriMapCacheStorageModeCompactV2", "packetSize": bundleDim},
		"tileImageInfo": map[string]any{"format": ms.opt.Format, "compressionQuality": quality, "bandCount": bands},
		"layers":        []any{},
	}
}

// tpkxItemInfo is the package's iteminfo.json (docs/iteminfo.md).
func (ms *mapService) tpkxItemInfo() map[string]any {
	b := ms.opt.DataBounds
	return map[string]any{
		"name":             ms.name,
		"guid":             fmt.Sprintf("%016x%016x", tileHash(ms.seed, tileKey{1, 2, 3}), tileHash(ms.seed, tileKey{3, 2, 1})),
		"version":          "2.0",
		"created":          time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		"snippet":          "Tiles exported from " + ms.name,
		"description":      "Compact tile package exported by the offlined ArcGIS emulator",
		"summary":          "Tiles exported from " + ms.name,
		"title":            ms.name,
		"tags":             []string{"offlined", "emulator"},
		"type":             "Compact Tile Package",
		"typeKeywords":     []string{"Compact Tile Package", "Tile Package", "tpkx"},
		"thumbnail":        "thumbnail.png",
		"extent":           [][2]float64{{b.Min[0], b.Min[1]}, {b.Max[0], b.Max[1]}},
		"spatialReference": ms.grid.info.SpatialReference,
	}
}
