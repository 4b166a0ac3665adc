package tiles

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/gorilla/mux"
	"github.com/offlined/offlined/internal/emulator/rest"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
)

// vectorService is one VectorTileServer: 512 px Web Mercator tiles whose
// level z/row y/col x is XYZ tile z/x/y.
type vectorService struct {
	name      string
	opt       VectorServiceOptions
	grid      *grid
	data      rect
	maxExport int
}

// gridLayerName is the layer emitted when the feature service has no
// features for a tile (so every tile in the data extent has content).
const gridLayerName = "demo_grid"

func newVectorService(o VectorServiceOptions) *vectorService {
	if o.MaxLevel <= 0 {
		o.MaxLevel = 16
	}
	o.MaxLevel = min(o.MaxLevel, 19)
	if o.DataBounds == (orb.Bound{}) {
		o.DataBounds = DemoBounds()
	}
	if o.MaxExportTilesCount <= 0 {
		o.MaxExportTilesCount = 10000
	}
	g := newGrid(WebMercatorTileInfo(512, o.MaxLevel, "pbf"))
	return &vectorService{name: o.Name, opt: o, grid: g, data: g.wgs84Rect(o.DataBounds), maxExport: o.MaxExportTilesCount}
}

func (vs *vectorService) exists(k tileKey) bool {
	if _, ok := vs.grid.lods[k.level]; !ok || k.row < 0 || k.col < 0 {
		return false
	}
	return vs.grid.tileRect(k.level, k.row, k.col).overlaps(vs.data)
}

func (s *Tiles) registerVectorService(vs *vectorService) {
	base := "/arcgis/rest/services/" + vs.name + "/VectorTileServer"
	rt := s.router
	root := s.authed(func(w http.ResponseWriter, r *http.Request) { rest.WriteJSON(w, http.StatusOK, vs.rootJSON()) })
	rt.HandleFunc(base, root)
	rt.HandleFunc(base+"/", root) // the style's relative source URL "../../" ends in a slash
	rt.HandleFunc(base+"/tile/{level:[0-9]+}/{row:[0-9]+}/{col:[0-9]+}.pbf", s.authed(func(w http.ResponseWriter, r *http.Request) {
		s.handleVectorTile(w, r, vs)
	}))
	rt.HandleFunc(base+"/tilemap/{level:[0-9]+}/{row:[0-9]+}/{col:[0-9]+}/{w:[0-9]+}/{h:[0-9]+}", s.authed(
		func(w http.ResponseWriter, r *http.Request) { serveTilemap(w, r, vs.exists) }))
	style := s.authed(func(w http.ResponseWriter, r *http.Request) { rest.WriteJSON(w, http.StatusOK, vs.styleJSON()) })
	rt.HandleFunc(base+"/resources/styles/root.json", style)
	rt.HandleFunc(base+"/resources/styles", style)
	rt.HandleFunc(base+"/resources/sprites/{file}", s.authed(s.tiles.serveSprite))
	rt.HandleFunc(base+"/resources/fonts/{fontstack}/{range}.pbf", s.authed(serveGlyphs))
	rt.HandleFunc(base+"/resources/info", s.authed(func(w http.ResponseWriter, r *http.Request) {
		rest.WriteJSON(w, http.StatusOK, map[string]any{"resourceInfo": []string{"styles/root.json", "sprites/sprite.json", "sprites/sprite.png", "sprites/sprite@2x.json", "sprites/sprite@2x.png"}})
	}))
	s.registerVectorExport(base, vs)
}

// handleVectorTile serves …/VectorTileServer/tile/{z}/{y}/{x}.pbf as gzip
// MVT bytes, with Content-Encoding: gzip unless NoContentEncoding (ArcGIS
// stores and sends the gzip bytes as is).
func (s *Tiles) handleVectorTile(w http.ResponseWriter, r *http.Request, vs *vectorService) {
	v := mux.Vars(r)
	k, err := parseTileKey(v["level"], v["row"], v["col"])
	if err != nil || !vs.exists(k) {
		rest.WriteError(w, http.StatusNotFound, 404, "Tile not found", fmt.Sprintf("tile %s/%s/%s does not exist", v["level"], v["row"], v["col"]))
		return
	}
	data, err := s.vectorTile(vs, k)
	if err != nil {
		rest.WriteError(w, http.StatusInternalServerError, 500, "Tile encoding failed", err.Error())
		return
	}
	if !vs.opt.NoContentEncoding {
		w.Header().Set("Content-Encoding", "gzip")
	}
	serveTileBytes(w, r, "application/x-protobuf", data)
}

// VectorTileBytes returns the gzip MVT bytes of VectorTileServer svc's tile
// (level,row,col), ok=false when the tile does not exist.
func (s *Tiles) VectorTileBytes(svc string, level, row, col int) (data []byte, ok bool, err error) {
	vs := s.tiles.vectors[svc]
	if vs == nil || !vs.exists(tileKey{level, row, col}) {
		return nil, false, nil
	}
	data, err = s.vectorTile(vs, tileKey{level, row, col})
	return data, err == nil, err
}

// vectorTile encodes tile k from the feature service's current features
// (or the demo_grid layer when there are none), layers sorted by name,
// layer version 2, gzip-compressed.
func (s *Tiles) vectorTile(vs *vectorService, k tileKey) ([]byte, error) {
	t := maptile.New(uint32(k.col), uint32(k.row), maptile.Zoom(k.level))
	b := t.Bound(0)
	// a small buffer so features crossing the edge are clipped, not lost
	pad := (b.Max[0] - b.Min[0]) / 64
	query := orb.Bound{Min: orb.Point{b.Min[0] - pad, b.Min[1] - pad}, Max: orb.Point{b.Max[0] + pad, b.Max[1] + pad}}
	layers := encodeTileLayers(s.tileFeatures(query), t)
	if len(layers) == 0 {
		layers = encodeTileLayers(map[string]*geojson.FeatureCollection{gridLayerName: gridFeatures(t, vs.opt.DataBounds)}, t)
	}
	data, err := mvt.MarshalGzipped(layers)
	if err != nil {
		return nil, fmt.Errorf("encode vector tile %d/%d/%d: %w", k.level, k.row, k.col, err)
	}
	return data, nil
}

// encodeTileLayers projects and clips feature collections (WGS84) into tile
// t, dropping emptied features and layers; layers are sorted by name
// (deterministic bytes) and marked MVT version 2.
func encodeTileLayers(fcs map[string]*geojson.FeatureCollection, t maptile.Tile) mvt.Layers {
	all := mvt.NewLayers(fcs)
	all.ProjectToTile(t)
	all.Clip(mvt.MapboxGLDefaultExtentBound)
	all.RemoveEmpty(1, 1) // drop geometries clipped to nothing
	var layers mvt.Layers
	for _, l := range all {
		if len(l.Features) > 0 {
			l.Version = 2
			layers = append(layers, l)
		}
	}
	sort.Slice(layers, func(i, j int) bool { return layers[i].Name < layers[j].Name })
	return layers
}

// gridFeatures is the fallback content of tile t: the part of the data
// bounds inside the tile as a polygon and the tile centre as a labelled
// point.
func gridFeatures(t maptile.Tile, data orb.Bound) *geojson.FeatureCollection {
	b := t.Bound(0)
	in := orb.Bound{
		Min: orb.Point{max(b.Min[0], data.Min[0]), max(b.Min[1], data.Min[1])},
		Max: orb.Point{min(b.Max[0], data.Max[0]), min(b.Max[1], data.Max[1])},
	}
	fc := geojson.NewFeatureCollection()
	poly := geojson.NewFeature(in.ToPolygon())
	poly.Properties = geojson.Properties{"kind": "extent", "z": int(t.Z), "x": int(t.X), "y": int(t.Y)}
	fc.Append(poly)
	pt := geojson.NewFeature(in.Center())
	pt.Properties = geojson.Properties{"kind": "label", "label": fmt.Sprintf("%d/%d/%d", t.Z, t.X, t.Y)}
	fc.Append(pt)
	return fc
}

// rootJSON is the VectorTileServer resource (fixture
// vectortileserver-root.docs-example.json plus maxzoom/minLOD/maxLOD).
func (vs *vectorService) rootJSON() map[string]any {
	ti := vs.grid.info
	lods := ti.LODs
	full := vs.grid.envelope(vs.data)
	return map[string]any{
		"currentVersion":      11.1,
		"name":                vs.name,
		"capabilities":        "TilesOnly",
		"type":                "indexedVector",
		"tileMap":             "tilemap",
		"defaultStyles":       "resources/styles",
		"tiles":               []string{"tile/{z}/{y}/{x}.pbf"},
		"exportTilesAllowed":  vs.opt.ExportTilesAllowed,
		"maxExportTilesCount": vs.maxExport,
		"initialExtent":       full,
		"fullExtent":          full,
		"minScale":            lods[0].Scale,
		"maxScale":            lods[len(lods)-1].Scale,
		"tileInfo": map[string]any{
			"rows": ti.Rows, "cols": ti.Cols, "dpi": ti.DPI, "format": "pbf",
			"origin": ti.Origin, "spatialReference": ti.SpatialReference, "lods": lods,
		},
		"resourceInfo": map[string]any{
			"styleVersion": 8, "tileCompression": "gzip",
			"cacheInfo": map[string]any{"storageInfo": map[string]any{"packetSize": bundleDim, "storageFormat": "compactV2"}},
		},
		"maxzoom": lods[len(lods)-1].Level,
		"minLOD":  lods[0].Level,
		"maxLOD":  lods[len(lods)-1].Level,
	}
}
