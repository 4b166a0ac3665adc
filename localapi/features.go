package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// layerRef is a resolved {map}/{layer} pair.
type layerRef struct {
	mapID, svc string
	db         *geodb.DB
	t          *geodb.Table
}

// resolveLayer finds the layer named by the route: "<service>.<id>", or a
// bare id when the map has one feature service.
func (s *Server) resolveLayer(ctx context.Context, mapID, layer string) (*layerRef, error) {
	mi, err := s.reg.Get(ctx, mapID)
	if err != nil {
		return nil, err
	}
	svc, idStr := "", layer
	if i := strings.LastIndexByte(layer, '.'); i >= 0 {
		svc, idStr = layer[:i], layer[i+1:]
	} else if len(mi.Services) == 1 {
		svc = mi.Services[0]
	}
	id, err := strconv.Atoi(idStr)
	if svc == "" && len(mi.Services) == 0 && mi.Broken {
		return nil, brokenMap(mi)
	}
	if err != nil || svc == "" {
		return nil, notFound("layer", "no layer %q in map %q (use <service>.<layer id>)", layer, mapID)
	}
	db, err := s.reg.FeatureStore(ctx, mapID, svc)
	if err != nil {
		if isBroken(err) {
			return nil, err
		}
		return nil, notFound("layer", "no layer %q in map %q", layer, mapID)
	}
	t := db.TableByID(id)
	if t == nil {
		return nil, notFound("layer", "no layer %q in map %q", layer, mapID)
	}
	return &layerRef{mapID: mapID, svc: svc, db: db, t: t}, nil
}

func (s *Server) routeLayer(r *http.Request) (*layerRef, error) {
	v := mux.Vars(r)
	return s.resolveLayer(r.Context(), v["map"], v["layer"])
}

func (s *Server) listLayers(w http.ResponseWriter, r *http.Request) error {
	mi, err := s.reg.Get(r.Context(), mux.Vars(r)["map"])
	return respond(w, 200, map[string]any{"layers": mi.Layers}, err)
}

func (s *Server) getLayer(w http.ResponseWriter, r *http.Request) error {
	lr, err := s.routeLayer(r)
	if err != nil {
		return err
	}
	raw, err := lr.db.LayerJSON(r.Context(), lr.t.LayerID)
	if err != nil {
		return err
	}
	n, err := lr.db.Count(r.Context(), geodb.Query{LayerID: lr.t.LayerID})
	if err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"id": lr.svc + "." + strconv.Itoa(lr.t.LayerID), "name": lr.t.Layer.Name, "count": n, "definition": raw})
	return nil
}

// parseFeatureQuery reads the GeoJSON feature query parameters.
func (s *Server) parseFeatureQuery(q url.Values, lr *layerRef) (geodb.Query, int, error) {
	gq := geodb.Query{LayerID: lr.t.LayerID, Where: q.Get("where")}
	xf, lonLat := xformFor(lr.t)
	if v := q.Get("bbox"); v != "" {
		parts := strings.Split(v, ",")
		if len(parts) != 4 {
			return gq, 0, badRequest("bbox", "bbox must be minLon,minLat,maxLon,maxLat")
		}
		var n [4]float64
		for i, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || f != f {
				return gq, 0, badRequest("bbox", "bbox value %q is not a number", p)
			}
			n[i] = f
		}
		if n[0] > n[2] || n[1] > n[3] {
			return gq, 0, badRequest("bbox", "bbox min must not exceed max")
		}
		if lonLat {
			for _, c := range [][2]float64{{n[0], n[1]}, {n[2], n[3]}} {
				if err := checkLonLat(c[0], c[1]); err != nil {
					return gq, 0, badRequest("bbox", "bbox: %v", err)
				}
			}
		}
		x0, y0 := xf.fromWGS(n[0], n[1])
		x1, y1 := xf.fromWGS(n[2], n[3])
		gq.Envelope = &arcgis.Envelope{XMin: x0, YMin: y0, XMax: x1, YMax: y1}
	}
	if v := q.Get("geometry"); v != "" {
		g, err := esriFromGeoJSON(json.RawMessage(v), xf, false, "geometry")
		if err != nil {
			return gq, 0, err
		}
		gq.Geometry = g
	}
	if v := q.Get("outFields"); v != "" && v != "*" {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if lr.t.Col(f) == nil {
				return gq, 0, badRequest("outFields", "unknown field %q", f)
			}
			gq.OutFields = append(gq.OutFields, f)
		}
	}
	if v := q.Get("orderBy"); v != "" {
		for _, o := range strings.Split(v, ",") {
			fs := strings.Fields(o)
			if len(fs) == 0 || len(fs) > 2 || lr.t.Col(fs[0]) == nil {
				return gq, 0, badRequest("orderBy", "orderBy entry %q must be a field name and ASC or DESC", o)
			}
			if len(fs) == 2 && !strings.EqualFold(fs[1], "asc") && !strings.EqualFold(fs[1], "desc") {
				return gq, 0, badRequest("orderBy", "orderBy direction %q must be ASC or DESC", fs[1])
			}
			gq.OrderBy = append(gq.OrderBy, strings.Join(fs, " "))
		}
	}
	if v := q.Get("returnGeometry"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return gq, 0, badRequest("returnGeometry", "returnGeometry must be true or false")
		}
		gq.NoGeometry = !b
	}
	limit := 1000
	if limit > s.opts.MaxPageSize {
		limit = s.opts.MaxPageSize
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.opts.MaxPageSize {
			return gq, 0, badRequest("limit", "limit must be 1..%d", s.opts.MaxPageSize)
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return gq, 0, badRequest("offset", "offset must be a non-negative integer")
		}
		gq.Offset = n
	}
	// Check the where clause before any byte is written.
	if gq.Where != "" {
		if _, _, err := geodb.CompileWhere(lr.t, gq.Where); err != nil {
			return gq, 0, badRequest("where", "%v", err)
		}
	}
	return gq, limit, nil
}

// queryFeatures answers a GeoJSON FeatureCollection page, or {"count":N}
// with count=true.
func (s *Server) queryFeatures(w http.ResponseWriter, r *http.Request) error {
	lr, err := s.routeLayer(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	gq, limit, err := s.parseFeatureQuery(q, lr)
	if err != nil {
		return err
	}
	if v := q.Get("count"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return badRequest("count", "count must be true or false")
		}
		if b {
			n, err := lr.db.Count(r.Context(), gq)
			if err != nil {
				return err
			}
			writeJSON(w, 200, map[string]int64{"count": n})
			return nil
		}
	}
	gq.Limit = limit + 1
	xf, wgs := xformFor(lr.t)
	w.Header().Set("Content-Type", "application/geo+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	bw := newJSONStream(w)
	bw.raw(`{"type":"FeatureCollection",`)
	if !wgs {
		bw.raw(fmt.Sprintf(`"crs":{"type":"name","properties":{"name":"EPSG:%d"}},`, lr.t.SRSID))
	}
	bw.raw(`"features":[`)
	n, more, err := bw.features(r.Context(), lr.db, gq, lr.t, xf, limit)
	if err != nil {
		if !bw.sent() {
			// Nothing reached the client (the buffer holds it): answer
			// the error, 422 invalidGeometry for a corrupt blob as on
			// the single-feature route.
			return err
		}
		// Headers are out: the truncated document tells the client.
		s.log.Error("feature query failed mid-stream", "path", r.URL.Path, "err", err)
		bw.flush()
		return nil
	}
	bw.raw(fmt.Sprintf(`],"numberReturned":%d`, n))
	if more {
		bw.raw(fmt.Sprintf(`,"next":{"offset":%d,"limit":%d}`, gq.Offset+n, limit))
	}
	bw.raw("}\n")
	return bw.flush()
}

func geoJSONFeature(row *geodb.Row, t *geodb.Table, xf coordXform) map[string]any {
	f := map[string]any{"type": "Feature", "id": row.OID, "properties": row.Attributes}
	if t.GeomCol != "" {
		f["geometry"] = geoJSONGeometry(row.Geometry, xf)
	} else {
		f["geometry"] = nil
	}
	return f
}

// featureGlobalID normalises the {feature} route variable.
// featureGlobalID resolves the {feature} of a route: a GlobalID, or the
// feature's GeoJSON id (its object id, digits only). The two forms cannot
// be confused, so a client can use either.
func featureGlobalID(r *http.Request, lr *layerRef) (string, error) {
	raw := mux.Vars(r)["feature"]
	if id, ok := geodb.NormalizeGlobalID(raw); ok {
		return id, nil
	}
	oid, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || oid < 0 || raw != strconv.FormatInt(oid, 10) {
		return "", notFound("feature", "a feature id is the feature's GeoJSON id (its object id) or its GlobalID ({XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}); got %q", raw)
	}
	gid := ""
	err = lr.db.Each(r.Context(), geodb.Query{LayerID: lr.t.LayerID, ObjectIDs: []int64{oid}, OutFields: []string{lr.t.GIDCol}, Limit: 1}, func(row *geodb.Row) error {
		gid, _ = row.Attributes[lr.t.GIDCol].(string)
		return nil
	})
	if err != nil {
		return "", err
	}
	if gid == "" {
		return "", notFound("feature", "no feature %d", oid)
	}
	return gid, nil
}

func (s *Server) getFeature(w http.ResponseWriter, r *http.Request) error {
	lr, err := s.routeLayer(r)
	if err != nil {
		return err
	}
	gid, err := featureGlobalID(r, lr)
	if err != nil {
		return err
	}
	var found *geodb.Row
	err = lr.db.Each(r.Context(), geodb.Query{LayerID: lr.t.LayerID, GlobalIDs: []string{gid}, Limit: 1}, func(row *geodb.Row) error {
		found = row
		return nil
	})
	if err != nil {
		return err
	}
	if found == nil {
		return notFound("feature", "no feature %s", gid)
	}
	xf, _ := xformFor(lr.t)
	w.Header().Set("Content-Type", "application/geo+json")
	json.NewEncoder(w).Encode(geoJSONFeature(found, lr.t, xf))
	return nil
}

// gjFeature is a GeoJSON feature (or collection) in a request body.
type gjFeature struct {
	Type       string          `json:"type"`
	ID         any             `json:"id,omitempty"`
	Geometry   json.RawMessage `json:"geometry"`
	Properties map[string]any  `json:"properties"`
	Features   []gjFeature     `json:"features,omitempty"`
	BBox       []float64       `json:"bbox,omitempty"`
}

// toEsriFeature converts a request feature for table t.
func toEsriFeature(f gjFeature, t *geodb.Table, field string) (arcgis.Feature, error) {
	if f.Type != "Feature" {
		return arcgis.Feature{}, badRequest(field+".type", "type must be Feature")
	}
	out := arcgis.Feature{Attributes: f.Properties}
	if out.Attributes == nil {
		out.Attributes = map[string]any{}
	}
	if len(f.Geometry) > 0 && string(f.Geometry) != "null" {
		if t.GeomCol == "" {
			return out, badRequest(field+".geometry", "layer %s is a table without geometry", t.Layer.Name)
		}
		xf, _ := xformFor(t)
		g, err := esriFromGeoJSON(f.Geometry, xf, t.HasZ, field+".geometry")
		if err != nil {
			return out, err
		}
		out.Geometry = g
	}
	return out, nil
}

// writableLayer resolves the route's layer and refuses it when it is
// read-only.
func (s *Server) writableLayer(r *http.Request) (*layerRef, error) {
	lr, err := s.routeLayer(r)
	if err != nil {
		return nil, err
	}
	if err := checkWritable(r.Context(), lr.db, lr.t); err != nil {
		return nil, err
	}
	return lr, nil
}

// writableFeature is writableLayer and the route's feature GlobalID.
func (s *Server) writableFeature(r *http.Request) (*layerRef, string, error) {
	lr, err := s.writableLayer(r)
	if err != nil {
		return nil, "", err
	}
	gid, err := featureGlobalID(r, lr)
	if err != nil {
		return nil, "", err
	}
	return lr, gid, nil
}

// existingFeature reads feature gid of the layer; 404 when there is none.
func existingFeature(ctx context.Context, lr *layerRef, gid string) (*arcgis.Feature, error) {
	f, err := lr.db.Feature(ctx, lr.t.LayerID, gid)
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, notFound("feature", "no feature %s", gid)
	}
	return f, nil
}

// createFeatures adds a Feature or every feature of a FeatureCollection, all
// or nothing.
func (s *Server) createFeatures(w http.ResponseWriter, r *http.Request) error {
	lr, err := s.writableLayer(r)
	if err != nil {
		return err
	}
	var body gjFeature
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	var in []gjFeature
	switch body.Type {
	case "Feature":
		in = []gjFeature{body}
	case "FeatureCollection":
		in = body.Features
		if len(in) == 0 {
			return badRequest("features", "the collection has no features")
		}
	default:
		return badRequest("type", "type must be Feature or FeatureCollection")
	}
	var e geodb.Edits
	for i, f := range in {
		field := "feature"
		if body.Type == "FeatureCollection" {
			field = fmt.Sprintf("features[%d]", i)
		}
		ef, err := toEsriFeature(f, lr.t, field)
		if err != nil {
			return err
		}
		if err := checkReadOnlyFields(lr.t, ef.Attributes, nil); err != nil {
			return err
		}
		e.Adds = append(e.Adds, ef)
	}
	adds, _, err := lr.db.ApplyEdits(r.Context(), lr.t.LayerID, e)
	if err != nil {
		return err
	}
	res := make([]map[string]any, len(adds))
	for i, a := range adds {
		res[i] = map[string]any{"objectId": a.ObjectID, "globalId": a.GlobalID}
	}
	if body.Type == "Feature" {
		writeJSON(w, http.StatusCreated, res[0])
	} else {
		writeJSON(w, http.StatusCreated, map[string]any{"added": res})
	}
	return nil
}

func (s *Server) updateFeature(w http.ResponseWriter, r *http.Request) error {
	lr, gid, err := s.writableFeature(r)
	if err != nil {
		return err
	}
	var body gjFeature
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	f, err := toEsriFeature(body, lr.t, "feature")
	if err != nil {
		return err
	}
	if v, ok := f.Attributes[lr.t.GIDCol]; ok {
		if s, _ := v.(string); s != "" {
			if n, ok := geodb.NormalizeGlobalID(s); !ok || n != gid {
				return badRequest(lr.t.GIDCol, "the GlobalID cannot be changed")
			}
		}
	}
	cur, err := existingFeature(r.Context(), lr, gid)
	if err != nil {
		return err
	}
	if err := checkReadOnlyFields(lr.t, f.Attributes, cur); err != nil {
		return err
	}
	f.Attributes[lr.t.GIDCol] = gid
	if _, _, err := lr.db.ApplyEdits(r.Context(), lr.t.LayerID, geodb.Edits{Updates: []arcgis.Feature{f}}); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"globalId": gid, "updated": true})
	return nil
}

func (s *Server) deleteFeature(w http.ResponseWriter, r *http.Request) error {
	lr, gid, err := s.writableFeature(r)
	if err != nil {
		return err
	}
	if _, err := existingFeature(r.Context(), lr, gid); err != nil {
		return err
	}
	if err := lr.db.Delete(r.Context(), lr.t.LayerID, gid); err != nil {
		return err
	}
	writeJSON(w, 200, map[string]any{"globalId": gid, "deleted": true})
	return nil
}
