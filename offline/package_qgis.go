package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/qgisproject"
	"github.com/offlined/offlined/tiles"
)

// WriteQGISProject writes (or rewrites) the QGIS project of the package in
// dir from its package.json, map.json and the schemas of its GeoPackages,
// and returns its path. The job calls it when it finalizes a package;
// callers that change a store's schema call it again.
func WriteQGISProject(ctx context.Context, dir string) (string, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, MapFile))
	if err != nil {
		return "", fmt.Errorf("qgis project: %w", err)
	}
	var wm WebMap
	if err := json.Unmarshal(b, &wm); err != nil {
		return "", fmt.Errorf("qgis project: %s: %w", MapFile, err)
	}
	return writeQGISProject(ctx, dir, m, &wm)
}

func writeQGISProject(ctx context.Context, dir string, m *Manifest, wm *WebMap) (string, error) {
	p, err := buildQGISProject(ctx, dir, m, wm)
	if err != nil {
		return "", err
	}
	return qgisproject.Write(ctx, dir, p)
}

// storeLayers caches what the project needs of each GeoPackage.
type storeLayers struct {
	tables map[int]string        // layer id → table name
	attach map[int]string        // layer id → attachments media table
	gid    map[int]string        // layer id → GlobalID column
	layers map[int]*arcgis.Layer // layer id → service layer JSON
}

func buildQGISProject(ctx context.Context, dir string, m *Manifest, wm *WebMap) (*qgisproject.Project, error) {
	p := &qgisproject.Project{Title: m.Title, EPSG: epsgOf(wm.SpatialReference)}
	if p.EPSG == 0 {
		p.EPSG = 3857
	}
	p.Extent = projectExtent(m, p.EPSG)
	stores := map[string]*storeLayers{}
	openStore := func(rel string) (*storeLayers, error) {
		if s, ok := stores[rel]; ok {
			return s, nil
		}
		db, err := geodb.Open(ctx, filepath.Join(dir, filepath.FromSlash(rel)), geodb.Options{})
		if err != nil {
			return nil, fmt.Errorf("qgis project: %s: %w", rel, err)
		}
		defer db.Close()
		s := &storeLayers{tables: map[int]string{}, layers: map[int]*arcgis.Layer{}, attach: map[int]string{}, gid: map[int]string{}}
		for _, t := range db.Tables() {
			s.tables[t.LayerID] = t.Name
			s.attach[t.LayerID], s.gid[t.LayerID] = t.AttachTable, t.GIDCol
			l := t.Layer
			s.layers[t.LayerID] = &l
		}
		stores[rel] = s
		return s, nil
	}
	type placed struct {
		id, store string
		layerID   int
	}
	var all []placed
	n := 0
	var visit func(ls []*Layer, basemap, table bool, parentVisible bool) error
	visit = func(ls []*Layer, basemap, table bool, parentVisible bool) error {
		for _, l := range ls {
			if l == nil {
				continue
			}
			visible := parentVisible && extraBool(l.Extra, "visibility", true)
			if len(l.Layers) > 0 {
				if err := visit(l.Layers, basemap, table, visible); err != nil {
					return err
				}
				continue
			}
			var ref struct {
				Kind    string `json:"kind"`
				Store   string `json:"store"`
				LayerID *int   `json:"layerId"`
			}
			if raw := l.Extra["offlineStore"]; raw == nil || json.Unmarshal(raw, &ref) != nil || ref.Store == "" {
				continue // online-only or left out: not in the offline project
			}
			n++
			ql := qgisproject.Layer{ID: layerIDFor(n, l.Title), Title: l.Title, Path: ref.Store, Visible: visible, Basemap: basemap}
			ql.MinScale, ql.MaxScale = l.ScaleRange()
			switch ref.Kind {
			case KindRasterTiles, KindReferenceBasemap:
				if !strings.HasSuffix(ref.Store, ".mbtiles") {
					continue
				}
				ql.Kind = qgisproject.KindRaster
			case KindVectorTiles:
				ql.Kind = qgisproject.KindVectorTiles
				if l.StyleURL != "" && !strings.Contains(l.StyleURL, "://") {
					if b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(filepath.Clean("/" + l.StyleURL)[1:]))); err == nil {
						ql.VectorStyle = b
					}
				}
			default:
				if ref.LayerID == nil {
					continue
				}
				s, err := openStore(ref.Store)
				if err != nil {
					return err
				}
				sl, name := s.layers[*ref.LayerID], s.tables[*ref.LayerID]
				if sl == nil {
					continue
				}
				ql.Table = name
				ql.Kind = qgisproject.KindFeatures
				if table || sl.IsTable() {
					ql.Kind = qgisproject.KindTable
				} else {
					ql.GeometryType = sl.GeometryType
					ql.Renderer = rendererOf(l, sl)
				}
				ql.Fields = fieldsOf(l, sl)
				all = append(all, placed{ql.ID, ref.Store, *ref.LayerID})
				if media, gid := s.attach[*ref.LayerID], s.gid[*ref.LayerID]; media != "" && gid != "" {
					p.Layers = append(p.Layers, ql)
					ql = attachmentsLayer(ql, media)
					p.Relations = append(p.Relations, qgisproject.Relation{ID: ql.ID + "_rel", Name: l.Title + " attachments",
						ParentLayer: p.Layers[len(p.Layers)-1].ID, ParentField: gid, ChildLayer: ql.ID, ChildField: "rel_globalid"})
				}
			}
			p.Layers = append(p.Layers, ql)
		}
		return nil
	}
	if wm.BaseMap != nil {
		if err := visit(wm.BaseMap.BaseMapLayers, true, false, true); err != nil {
			return nil, err
		}
	}
	if err := visit(wm.OperationalLayers, false, false, true); err != nil {
		return nil, err
	}
	if err := visit(wm.Tables, false, true, true); err != nil {
		return nil, err
	}
	// Relations: an origin's key field to the destination's key field, for
	// relationships between two layers of the project in the same store.
	where := map[string]map[int]string{}
	for _, pl := range all {
		if where[pl.store] == nil {
			where[pl.store] = map[int]string{}
		}
		where[pl.store][pl.layerID] = pl.id
	}
	for _, pl := range all {
		sl := stores[pl.store].layers[pl.layerID]
		for _, r := range sl.Relationships {
			if r.Role != "esriRelRoleOrigin" {
				continue
			}
			child, ok := where[pl.store][r.RelatedTableID]
			if !ok {
				continue
			}
			cl := stores[pl.store].layers[r.RelatedTableID]
			for _, cr := range cl.Relationships {
				if cr.ID == r.ID && cr.Role == "esriRelRoleDestination" && cr.KeyField != "" && r.KeyField != "" {
					p.Relations = append(p.Relations, qgisproject.Relation{
						ID: fmt.Sprintf("%s_rel%d_%s", pl.id, r.ID, child), Name: r.Name,
						ParentLayer: pl.id, ParentField: r.KeyField, ChildLayer: child, ChildField: cr.KeyField})
				}
			}
		}
	}
	return p, nil
}

// attachmentsLayer is the table of a layer's attachments (the Related
// Tables media table; rel_globalid holds the feature's GlobalID), with the
// content in a Binary widget (attachments stored in chunks show only their
// first chunk there; localapi serves them whole).
func attachmentsLayer(parent qgisproject.Layer, media string) qgisproject.Layer {
	return qgisproject.Layer{ID: parent.ID + "_attachments", Title: parent.Title + " attachments", Kind: qgisproject.KindTable,
		Path: parent.Path, Table: media, Fields: []qgisproject.Field{
			{Name: "att_name", Alias: "Name"}, {Name: "content_type", Alias: "Type"}, {Name: "size", Alias: "Size (bytes)"},
			{Name: "data", Alias: "Content", Widget: "Binary"}, {Name: "rel_globalid", Alias: "Feature"}}}
}

func layerIDFor(n int, title string) string {
	var b strings.Builder
	for _, r := range title {
		if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	// QGIS keeps a layer id only when it is longer than 10 characters.
	return fmt.Sprintf("offlined_layer_%d_%s", n, b.String())
}

func extraBool(e Extra, key string, def bool) bool {
	var v bool
	if raw, ok := e[key]; ok && json.Unmarshal(raw, &v) == nil {
		return v
	}
	return def
}

// rendererOf is the web map's renderer override, else the service's.
func rendererOf(l *Layer, sl *arcgis.Layer) json.RawMessage {
	var di struct {
		Renderer json.RawMessage `json:"renderer"`
	}
	if l.LayerDefinition != nil {
		if raw := l.LayerDefinition.Extra["drawingInfo"]; raw != nil && json.Unmarshal(raw, &di) == nil && len(di.Renderer) > 0 {
			return di.Renderer
		}
	}
	if len(sl.DrawingInfo) > 0 && json.Unmarshal(sl.DrawingInfo, &di) == nil {
		return di.Renderer
	}
	return nil
}

// fieldsOf lists the service fields with the popup's labels as aliases
// (else the service aliases) and coded-value domains.
func fieldsOf(l *Layer, sl *arcgis.Layer) []qgisproject.Field {
	labels := map[string]string{}
	var popup struct {
		FieldInfos []struct {
			FieldName string `json:"fieldName"`
			Label     string `json:"label"`
		} `json:"fieldInfos"`
	}
	if raw := l.Extra["popupInfo"]; raw != nil && json.Unmarshal(raw, &popup) == nil {
		for _, fi := range popup.FieldInfos {
			if fi.Label != "" {
				labels[strings.ToLower(fi.FieldName)] = fi.Label
			}
		}
	}
	var out []qgisproject.Field
	for _, f := range sl.Fields {
		if f.Type == arcgis.FieldGeometry {
			continue
		}
		qf := qgisproject.Field{Name: f.Name, Alias: f.Alias}
		if lb, ok := labels[strings.ToLower(f.Name)]; ok {
			qf.Alias = lb
		}
		if f.Domain != nil && f.Domain.Type == "codedValue" {
			for _, cv := range f.Domain.CodedValues {
				qf.Domain = append(qf.Domain, qgisproject.CodedValue{Code: fmt.Sprint(cv.Code), Name: cv.Name})
			}
		}
		out = append(out, qf)
	}
	return out
}

func epsgOf(sr *arcgis.SpatialReference) int {
	if sr == nil {
		return 0
	}
	w := sr.LatestWKID
	if w == 0 {
		w = sr.WKID
	}
	switch w {
	case 102100, 102113, 900913:
		return 3857
	}
	return w
}

// projectExtent is the area of interest's envelope in the project CRS
// (WGS84 and Web Mercator are converted; other pairs give none).
func projectExtent(m *Manifest, epsg int) *qgisproject.Rect {
	g := m.AreaOfInterestEsri
	if g == nil {
		return nil
	}
	var xs, ys []float64
	add := func(x, y float64) { xs, ys = append(xs, x), append(ys, y) }
	for _, ring := range g.Rings {
		for _, pt := range ring {
			if len(pt) >= 2 {
				add(pt[0], pt[1])
			}
		}
	}
	if g.XMin != nil && g.YMin != nil && g.XMax != nil && g.YMax != nil {
		add(*g.XMin, *g.YMin)
		add(*g.XMax, *g.YMax)
	}
	if len(xs) == 0 {
		return nil
	}
	from := epsgOf(m.SpatialReference)
	if from == 0 && g.SpatialReference != nil {
		from = epsgOf(g.SpatialReference)
	}
	r := &qgisproject.Rect{XMin: math.Inf(1), YMin: math.Inf(1), XMax: math.Inf(-1), YMax: math.Inf(-1)}
	for i := range xs {
		x, y := xs[i], ys[i]
		switch {
		case from == epsg:
		case from == 4326 && epsg == 3857:
			x, y = tiles.ToMercator(x, y)
		case from == 3857 && epsg == 4326:
			x, y = tiles.ToWGS84(x, y)
		default:
			return nil
		}
		r.XMin, r.YMin, r.XMax, r.YMax = math.Min(r.XMin, x), math.Min(r.YMin, y), math.Max(r.XMax, x), math.Max(r.YMax, y)
	}
	return r
}
