package tiles

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"

	"github.com/gorilla/mux"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
	"github.com/paulmach/orb"
)

// tileState holds the tile services: cached and dynamic MapServers,
// VectorTileServers and their GP jobs.
type tileState struct {
	opts    TileOptions
	maps    map[string]*mapService
	images  map[string]*mapService // cached ImageServers (same tiles as maps)
	dynamic map[string]bool
	vectors map[string]*vectorService
	jobs    *gpJobs
	xyz     *mapService // the open XYZ server (xyz.go)

	spriteOnce sync.Once
	sprites    map[int]spriteSheet
	spriteErr  error

	dirMu   sync.Mutex
	workDir string
	ownDir  bool // workDir was created by the emulator
}

// mapService is one cached MapServer.
type mapService struct {
	name      string
	kind      string // "MapServer" or "ImageServer"
	opt       MapServiceOptions
	grid      *grid
	data      rect // data extent in the scheme's coordinates
	render    *tileRenderer
	maxExport int
	seed      int64
}

// initTiles builds the tile services and registers their routes.
func (s *Tiles) initTiles() {
	opts := s.opts.Tiles
	if opts == nil {
		opts = DemoTileOptions()
	}
	st := &tileState{opts: *opts, maps: map[string]*mapService{}, dynamic: map[string]bool{},
		vectors: map[string]*vectorService{}, workDir: opts.WorkDir}
	if st.opts.CacheTiles <= 0 {
		st.opts.CacheTiles = 4096
	}
	st.jobs = newGPJobs(s.opts.Seed, st.opts.JobStep)
	s.tiles = st
	for _, o := range opts.MapServices {
		ms := newMapService(o, s.opts.Seed, st.opts.CacheTiles)
		st.maps[o.Name] = ms
		s.registerMapService(ms)
	}
	st.images = map[string]*mapService{}
	for _, o := range opts.ImageServices {
		ms := newMapService(o, s.opts.Seed, st.opts.CacheTiles)
		ms.kind = "ImageServer"
		st.images[o.Name] = ms
		s.registerMapService(ms)
	}
	for _, name := range opts.DynamicServices {
		st.dynamic[name] = true
		s.registerDynamicService(name)
	}
	for _, o := range opts.VectorServices {
		vs := newVectorService(o)
		st.vectors[o.Name] = vs
		s.registerVectorService(vs)
	}
	s.registerJobOutputs()
	s.registerXYZ()
}

// CloseTiles stops running tile export jobs and removes the exported
// packages when the emulator created their directory (TileOptions.WorkDir
// empty). Call it when done with the emulator; the Server stays usable for
// everything but finished exports.
func (s *Tiles) CloseTiles() { s.closeTiles() }

func (s *Tiles) closeTiles() {
	s.tiles.jobs.close()
	s.tiles.dirMu.Lock()
	defer s.tiles.dirMu.Unlock()
	if s.tiles.ownDir && s.tiles.workDir != "" {
		_ = os.RemoveAll(s.tiles.workDir)
		s.tiles.workDir, s.tiles.ownDir = "", false
	}
}

// outputDir returns the directory for exported packages, creating it once.
func (st *tileState) outputDir() (string, error) {
	st.dirMu.Lock()
	defer st.dirMu.Unlock()
	if st.workDir == "" {
		d, err := os.MkdirTemp("", "offlined-emulator-out-")
		if err != nil {
			return "", fmt.Errorf("create export directory: %w", err)
		}
		st.workDir, st.ownDir = d, true
	}
	return st.workDir, nil
}

func newMapService(o MapServiceOptions, seed int64, cacheTiles int) *mapService {
	if o.Format == "" {
		o.Format = "PNG"
	}
	if len(o.TileInfo.LODs) == 0 {
		o.TileInfo = WebMercatorTileInfo(256, 19, o.Format)
	}
	o.TileInfo.Format = o.Format
	if o.Format == "JPEG" && o.CompressionQuality == 0 {
		o.CompressionQuality = 75
	}
	if o.DataBounds == (orb.Bound{}) {
		o.DataBounds = DemoBounds()
	}
	if o.MaxExportTilesCount <= 0 {
		o.MaxExportTilesCount = 100000
	}
	if o.Seed != 0 {
		seed = o.Seed
	}
	g := newGrid(o.TileInfo)
	return &mapService{name: o.Name, kind: "MapServer", opt: o, grid: g, data: g.wgs84Rect(o.DataBounds),
		render:    newTileRenderer(o.TileInfo.Cols, o.Format, o.CompressionQuality, seed, cacheTiles),
		maxExport: o.MaxExportTilesCount, seed: seed}
}

// cached returns the cached MapServer or ImageServer named svc.
func (st *tileState) cached(svc string) *mapService {
	if ms := st.maps[svc]; ms != nil {
		return ms
	}
	return st.images[svc]
}

// TileExists reports whether the cached MapServer (or ImageServer) svc has tile
// (level,row,col): the level is in its scheme, the tile overlaps the data
// extent and is not a hole. Tests use it as ground truth.
func (s *Tiles) TileExists(svc string, level, row, col int) bool {
	ms := s.tiles.cached(svc)
	return ms != nil && ms.exists(tileKey{level, row, col})
}

// TileBytes returns the bytes the cached MapServer (or ImageServer) svc serves for tile
// (level,row,col), or ok=false when the tile does not exist.
func (s *Tiles) TileBytes(svc string, level, row, col int) (data []byte, ok bool) {
	ms := s.tiles.cached(svc)
	if ms == nil || !ms.exists(tileKey{level, row, col}) {
		return nil, false
	}
	data, err := ms.render.tile(tileKey{level, row, col})
	return data, err == nil
}

// exists reports whether tile k is served.
func (ms *mapService) exists(k tileKey) bool {
	if _, ok := ms.grid.lods[k.level]; !ok || k.row < 0 || k.col < 0 {
		return false
	}
	if !ms.grid.tileRect(k.level, k.row, k.col).overlaps(ms.data) {
		return false
	}
	return !ms.hole(k)
}

// hole reports whether k is one of the deterministic missing tiles.
func (ms *mapService) hole(k tileKey) bool {
	if ms.opt.HoleRate <= 0 || k.level < 2 {
		return false
	}
	return float64(tileHash(ms.seed^0x5bd1e995, k)%1000000)/1e6 < ms.opt.HoleRate
}

// authed wraps h with the token check every service route needs.
func (s *Tiles) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.authorize(w, r); !ok {
			return
		}
		h(w, r)
	}
}

func (s *Tiles) registerMapService(ms *mapService) {
	base := "/arcgis/rest/services/" + ms.name + "/" + ms.kind
	rt := s.router
	rt.HandleFunc(base, s.authed(func(w http.ResponseWriter, r *http.Request) {
		if ms.kind == "ImageServer" {
			rest.WriteJSON(w, http.StatusOK, ms.imageServiceJSON(r))
			return
		}
		rest.WriteJSON(w, http.StatusOK, ms.serviceJSON(r))
	}))
	rt.HandleFunc(base+"/tile/{level:[0-9]+}/{row:[0-9]+}/{col:[0-9]+}", s.authed(ms.handleTile))
	rt.HandleFunc(base+"/tilemap/{level:[0-9]+}/{row:[0-9]+}/{col:[0-9]+}/{w:[0-9]+}/{h:[0-9]+}", s.authed(
		func(w http.ResponseWriter, r *http.Request) {
			if ms.opt.NoTilemap {
				rest.WriteError(w, http.StatusNotFound, 404, "Tilemap is not available for this service")
				return
			}
			serveTilemap(w, r, ms.exists)
		}))
	s.registerMapExport(base, ms)
}

func (s *Tiles) registerDynamicService(name string) {
	base := "/arcgis/rest/services/" + name + "/MapServer"
	s.router.HandleFunc(base, s.authed(func(w http.ResponseWriter, r *http.Request) {
		rest.WriteJSON(w, http.StatusOK, dynamicServiceJSON(name, r))
	}))
	s.router.HandleFunc(base+"/{op:tile|tilemap|exportTiles|estimateExportTilesSize}/{rest:.*}", s.authed(
		func(w http.ResponseWriter, r *http.Request) {
			rest.WriteError(w, http.StatusOK, 400, "Requested operation is not supported by this service: the map service is not cached")
		}))
	s.router.HandleFunc(base+"/{op:exportTiles|estimateExportTilesSize}", s.authed(
		func(w http.ResponseWriter, r *http.Request) {
			rest.WriteError(w, http.StatusOK, 400, "Requested operation is not supported by this service: the map service is not cached")
		}))
}

// handleTile serves …/MapServer/tile/{level}/{row}/{col}.
func (ms *mapService) handleTile(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	k, err := parseTileKey(v["level"], v["row"], v["col"])
	if err != nil || !ms.exists(k) {
		rest.WriteError(w, http.StatusNotFound, 404, "Tile not found", fmt.Sprintf("tile %s/%s/%s does not exist", v["level"], v["row"], v["col"]))
		return
	}
	data, err := ms.render.tile(k)
	if err != nil {
		rest.WriteError(w, http.StatusInternalServerError, 500, "Tile rendering failed", err.Error())
		return
	}
	ct := "image/png"
	if ms.opt.Format == "JPEG" {
		ct = "image/jpeg"
	}
	serveTileBytes(w, r, ct, data)
}

// serveTileBytes writes tile bytes with caching headers, answering a
// matching If-None-Match with 304.
func serveTileBytes(w http.ResponseWriter, r *http.Request, contentType string, data []byte) {
	tag := etag(data)
	h := w.Header()
	h.Set("ETag", tag)
	h.Set("Cache-Control", "public, max-age=86400")
	if r.Header.Get("If-None-Match") == tag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(data)
	}
}

func parseTileKey(level, row, col string) (tileKey, error) {
	l, err1 := strconv.Atoi(level)
	rr, err2 := strconv.Atoi(row)
	c, err3 := strconv.Atoi(col)
	if err1 != nil || err2 != nil || err3 != nil || l > 30 || rr > math.MaxInt32 || c > math.MaxInt32 {
		return tileKey{}, fmt.Errorf("invalid tile address %s/%s/%s", level, row, col)
	}
	return tileKey{l, rr, c}, nil
}

// maxTilemapCells bounds a tilemap request's width×height.
const maxTilemapCells = 1 << 18

// serveTilemap answers …/tilemap/{level}/{row}/{col}/{w}/{h} with the
// presence bits of the w×h tiles whose top-left is (row,col), row-major.
func serveTilemap(w http.ResponseWriter, r *http.Request, exists func(tileKey) bool) {
	v := mux.Vars(r)
	k, err := parseTileKey(v["level"], v["row"], v["col"])
	width, err1 := strconv.Atoi(v["w"])
	height, err2 := strconv.Atoi(v["h"])
	if err != nil || err1 != nil || err2 != nil || width < 1 || height < 1 || width*height > maxTilemapCells {
		rest.WriteError(w, http.StatusOK, 400, "Invalid tilemap request", "width and height must be 1.. and width*height at most "+strconv.Itoa(maxTilemapCells))
		return
	}
	data := make([]int, 0, width*height)
	for i := 0; i < height; i++ {
		for j := 0; j < width; j++ {
			bit := 0
			if exists(tileKey{k.level, k.row + i, k.col + j}) {
				bit = 1
			}
			data = append(data, bit)
		}
	}
	rest.WriteJSON(w, http.StatusOK, map[string]any{
		"adjusted": false,
		"location": map[string]int{"left": k.col, "top": k.row, "width": width, "height": height},
		"data":     data,
	})
}

// hostURL is "http://" + the request's Host: the base of absolute URLs.
func hostURL(r *http.Request) string { return "http://" + r.Host }

// envelopeJSON renders rect with the scheme's spatial reference.
func (g *grid) envelope(rc rect) arcgis.Envelope {
	return arcgis.Envelope{XMin: rc.xmin, YMin: rc.ymin, XMax: rc.xmax, YMax: rc.ymax, SpatialReference: g.info.SpatialReference}
}

// serviceJSON is the cached MapServer resource (fixture
// mapserver-tiled.arcrestgo.json plus storageInfo/tileServers of 11.x).
func (ms *mapService) serviceJSON(r *http.Request) map[string]any {
	ti := ms.grid.info
	lods := ti.LODs
	caps := "Map,Query,Data"
	if !ms.opt.NoTilemap {
		caps += ",Tilemap"
	}
	units := "esriMeters"
	if ti.SpatialReference.EPSG() == 4326 {
		units = "esriDecimalDegrees"
	}
	full := ms.grid.envelope(ms.data)
	svcURL := hostURL(r) + "/arcgis/rest/services/" + ms.name + "/" + ms.kind
	return map[string]any{
		"currentVersion":     11.1,
		"serviceDescription": "Emulated cached map service " + ms.name,
		"mapName":            "Layers",
		"name":               ms.name,
		"description":        "",
		"copyrightText":      "offlined emulator",
		"layers": []map[string]any{{
			"id": 0, "name": ms.name, "parentLayerId": -1, "defaultVisibility": true,
			"subLayerIds": nil, "minScale": 0, "maxScale": 0,
		}},
		"tables":              []any{},
		"spatialReference":    ti.SpatialReference,
		"singleFusedMapCache": true,
		"tileInfo": map[string]any{
			"rows": ti.Rows, "cols": ti.Cols, "dpi": ti.DPI, "format": ms.opt.Format,
			"compressionQuality": ms.opt.CompressionQuality,
			"storageFormat":      "esriMapCacheStorageModeCompactV2", "packetSize": 128,
			"antialiasing": true, "origin": ti.Origin, "spatialReference": ti.SpatialReference, "lods": lods,
		},
		"storageInfo":               map[string]any{"storageFormat": "esriMapCacheStorageModeCompactV2", "packetSize": 128},
		"initialExtent":             full,
		"fullExtent":                full,
		"units":                     units,
		"supportedImageFormatTypes": "PNG32,PNG24,PNG,JPG,DIB,TIFF,EMF,PS,PDF,GIF,SVG,SVGZ,BMP",
		"created":                   nil,
		"modified":                  nil,
		"status":                    "created",
		"access":                    "SECURE",
		"minScale":                  lods[0].Scale,
		"maxScale":                  lods[len(lods)-1].Scale,
		"minLOD":                    lods[0].Level,
		"maxLOD":                    lods[len(lods)-1].Level,
		"exportTilesAllowed":        ms.opt.ExportTilesAllowed,
		"maxExportTilesCount":       ms.maxExport,
		"capabilities":              caps,
		"type":                      "MapServer",
		"tileServers":               []string{svcURL},
		"supportedExtensions":       "",
		"resampling":                false,
	}
}

// imageServiceJSON is a cached ImageServer resource: the raster fields of an
// RGB U8 image service plus the same tileInfo/export fields as MapServer.
func (ms *mapService) imageServiceJSON(r *http.Request) map[string]any {
	m := ms.serviceJSON(r)
	for _, k := range []string{"mapName", "layers", "tables", "supportedImageFormatTypes", "tileServers"} {
		delete(m, k)
	}
	full := ms.grid.envelope(ms.data)
	m["type"] = "ImageServer"
	m["extent"] = full
	m["serviceDataType"] = "esriImageServiceDataTypeRGB"
	m["bandCount"] = 3
	m["pixelType"] = "U8"
	m["pixelSizeX"] = ms.grid.info.LODs[len(ms.grid.info.LODs)-1].Resolution
	m["pixelSizeY"] = ms.grid.info.LODs[len(ms.grid.info.LODs)-1].Resolution
	m["cacheType"] = "Map"
	m["capabilities"] = "Image,Metadata,Catalog,Mensuration"
	if !ms.opt.NoTilemap {
		m["capabilities"] = "Image,Metadata,Catalog,Mensuration,Tilemap"
	}
	return m
}

// dynamicServiceJSON is a non-cached MapServer: no tileInfo and
// singleFusedMapCache false, so it can only be used online.
func dynamicServiceJSON(name string, r *http.Request) map[string]any {
	sr := &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857}
	g := newGrid(WebMercatorTileInfo(256, 0, "PNG"))
	full := g.envelope(g.wgs84Rect(DemoBounds()))
	return map[string]any{
		"currentVersion":     11.1,
		"serviceDescription": "Emulated dynamic map service " + name,
		"mapName":            "Layers",
		"name":               name,
		"description":        "",
		"copyrightText":      "offlined emulator",
		"layers": []map[string]any{{
			"id": 0, "name": "Zones", "parentLayerId": -1, "defaultVisibility": true,
			"subLayerIds": nil, "minScale": 0, "maxScale": 0,
		}},
		"tables":                    []any{},
		"spatialReference":          sr,
		"singleFusedMapCache":       false,
		"initialExtent":             full,
		"fullExtent":                full,
		"units":                     "esriMeters",
		"supportedImageFormatTypes": "PNG32,PNG24,PNG,JPG",
		"created":                   nil,
		"modified":                  nil,
		"status":                    "created",
		"access":                    "SECURE",
		"minScale":                  0,
		"maxScale":                  0,
		"exportTilesAllowed":        false,
		"maxExportTilesCount":       100000,
		"capabilities":              "Map,Query,Data",
		"type":                      "MapServer",
	}
}
