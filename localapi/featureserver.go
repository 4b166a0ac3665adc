package localapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// The ArcGIS FeatureServer-compatible subset lets GDAL (ESRIJSON driver),
// arcgis-rest-js and the ArcGIS Maps SDK for JavaScript read and edit offline
// data. {service} is a map id (maps with one feature service) or
// "<map id>.<service>". Errors use the ArcGIS shape with a 4xx status:
// {"error":{"code":400,"message":"…","details":[…],"field":"…"}}.

func (s *Server) routesArcGIS() {
	const fs = "/arcgis/rest/services/{service}/FeatureServer"
	// ArcGIS servers answer resources to POST as well (arcgis-rest-js
	// POSTs everything by default).
	for _, m := range []string{"GET", "POST"} {
		s.handle(m, "/arcgis/rest/info", s.fsInfo)
		s.handle(m, fs, s.fsService)
		s.handle(m, fs+"/layers", s.fsLayers)
		s.handle(m, fs+"/{layer:[0-9]+}", s.fsLayer)
		s.handle(m, fs+"/{layer:[0-9]+}/{oid:[0-9]+}/attachments", s.fsAttachments)
	}
	s.handle("GET", fs+"/{layer:[0-9]+}/query", s.fsQuery)
	s.handle("POST", fs+"/{layer:[0-9]+}/query", s.fsQuery)
	s.handle("POST", fs+"/{layer:[0-9]+}/applyEdits", s.fsApplyEdits)
	s.handle("POST", fs+"/{layer:[0-9]+}/addFeatures", s.fsFeatureEdit("add"))
	s.handle("POST", fs+"/{layer:[0-9]+}/updateFeatures", s.fsFeatureEdit("update"))
	s.handle("POST", fs+"/{layer:[0-9]+}/deleteFeatures", s.fsFeatureEdit("delete"))
	s.handle("GET", fs+"/{layer:[0-9]+}/{oid:[0-9]+}/attachments/{aid:[0-9]+}", s.fsAttachment)
	s.handleUpload("POST", fs+"/{layer:[0-9]+}/{oid:[0-9]+}/addAttachment", s.fsAddAttachment)
	s.handle("POST", fs+"/{layer:[0-9]+}/{oid:[0-9]+}/deleteAttachments", s.fsDeleteAttachments)
}

// fsError is an ArcGIS-shaped error with a 4xx status.
func fsError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	code := ae.Status
	if ae.ArcGISCode != 0 {
		code = ae.ArcGISCode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(ae.Status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": ae.Message, "details": []string{ae.Code}, "field": ae.Field}})
}

// fs wraps a FeatureServer handler so its errors take the ArcGIS shape.
func (s *Server) fsWrap(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			fsError(w, badRequest("body", "invalid form: %v", err))
			return nil
		}
		if f := r.Form.Get("f"); f != "" && f != "json" && f != "pjson" && f != "geojson" {
			fsError(w, badRequest("f", "f must be json, pjson or geojson"))
			return nil
		}
		if err := h(w, r); err != nil {
			fsError(w, err)
		}
		return nil
	}
}

func (s *Server) fsDB(r *http.Request) (string, string, *geodb.DB, error) {
	name := mux.Vars(r)["service"]
	mapID, svc := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		mapID, svc = name[:i], name[i+1:]
	}
	mi, err := s.reg.Get(r.Context(), mapID)
	if err != nil && svc != "" {
		// A map id with a dot and one service.
		mapID, svc = name, ""
		mi, err = s.reg.Get(r.Context(), mapID)
	}
	if err != nil {
		return "", "", nil, notFound("service", "no service %q", name)
	}
	if svc == "" {
		if len(mi.Services) == 0 && mi.Broken {
			return "", "", nil, brokenMap(mi)
		}
		if len(mi.Services) != 1 {
			return "", "", nil, notFound("service", "map %q has %d feature services: use <map>.<service>", mapID, len(mi.Services))
		}
		svc = mi.Services[0]
	}
	db, err := s.reg.FeatureStore(r.Context(), mapID, svc)
	if err != nil {
		if isBroken(err) {
			return "", "", nil, err
		}
		return "", "", nil, notFound("service", "no service %q", name)
	}
	return mapID, svc, db, nil
}

func (s *Server) fsTable(r *http.Request) (*geodb.DB, *geodb.Table, error) {
	_, _, db, err := s.fsDB(r)
	if err != nil {
		return nil, nil, err
	}
	id, _ := strconv.Atoi(mux.Vars(r)["layer"])
	t := db.TableByID(id)
	if t == nil {
		return nil, nil, notFound("layer", "no layer %d", id)
	}
	return db, t, nil
}

func (s *Server) fsInfo(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, 200, map[string]any{"currentVersion": 11.1, "fullVersion": "11.1.0", "owningSystemUrl": "",
		"authInfo": map[string]any{"isTokenBasedSecurity": true}})
	return nil
}

// fsService answers the stored service JSON, limited to the layers and
// tables stored offline and with the capabilities the subset implements.
func (s *Server) fsService(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		_, _, db, err := s.fsDB(r)
		if err != nil {
			return err
		}
		doc := map[string]any{}
		if raw, err := db.Service(r.Context()); err != nil {
			return err
		} else if raw != nil {
			if err := json.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("stored service JSON: %w", err)
			}
		}
		var layers, tables []map[string]any
		writable := false
		for _, t := range db.Tables() {
			ro, err := layerReadOnly(r.Context(), db, t)
			if err != nil {
				return err
			}
			writable = writable || !ro
			ref := map[string]any{"id": t.LayerID, "name": t.Layer.Name}
			if t.GeomCol != "" {
				ref["geometryType"] = t.Layer.GeometryType
				layers = append(layers, ref)
			} else {
				tables = append(tables, ref)
			}
		}
		doc["layers"], doc["tables"] = orEmpty(layers), orEmpty(tables)
		doc["capabilities"] = "Query"
		if writable {
			doc["capabilities"] = "Query,Create,Update,Delete,Editing"
		}
		doc["syncEnabled"] = false
		delete(doc, "syncCapabilities")
		if _, ok := doc["currentVersion"]; !ok {
			doc["currentVersion"] = 11.1
		}
		if _, ok := doc["maxRecordCount"]; !ok {
			doc["maxRecordCount"] = 2000
		}
		writeJSON(w, 200, doc)
		return nil
	})(w, r)
}

func orEmpty(l []map[string]any) []map[string]any {
	if l == nil {
		return []map[string]any{}
	}
	return l
}

// layerDoc returns the stored layer JSON with the subset's capabilities.
func layerDoc(r *http.Request, db *geodb.DB, t *geodb.Table) (map[string]any, error) {
	raw, err := db.LayerJSON(r.Context(), t.LayerID)
	if err != nil {
		return nil, err
	}
	doc := map[string]any{}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("stored layer JSON: %w", err)
	}
	readOnly, err := layerReadOnly(r.Context(), db, t)
	if err != nil {
		return nil, err
	}
	// What the local layer can do, not what the service could: a read-only
	// snapshot answers only queries.
	doc["capabilities"] = "Query,Create,Update,Delete,Editing"
	if readOnly {
		doc["capabilities"] = "Query"
	}
	doc["supportsPagination"] = true
	aq, _ := doc["advancedQueryCapabilities"].(map[string]any)
	if aq == nil {
		aq = map[string]any{}
	}
	aq["supportsPagination"] = true
	aq["supportsOrderBy"] = true
	doc["advancedQueryCapabilities"] = aq
	if _, ok := doc["maxRecordCount"]; !ok {
		doc["maxRecordCount"] = 2000
	}
	doc["supportedQueryFormats"] = "JSON, geoJSON"
	return doc, nil
}

func (s *Server) fsLayers(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		_, _, db, err := s.fsDB(r)
		if err != nil {
			return err
		}
		var layers, tables []map[string]any
		writable := false
		for _, t := range db.Tables() {
			ro, err := layerReadOnly(r.Context(), db, t)
			if err != nil {
				return err
			}
			writable = writable || !ro
			d, err := layerDoc(r, db, t)
			if err != nil {
				return err
			}
			if t.GeomCol != "" {
				layers = append(layers, d)
			} else {
				tables = append(tables, d)
			}
		}
		writeJSON(w, 200, map[string]any{"layers": orEmpty(layers), "tables": orEmpty(tables)})
		return nil
	})(w, r)
}

func (s *Server) fsLayer(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, err := s.fsTable(r)
		if err != nil {
			return err
		}
		d, err := layerDoc(r, db, t)
		if err != nil {
			return err
		}
		writeJSON(w, 200, d)
		return nil
	})(w, r)
}

func maxRecords(t *geodb.Table) int {
	if t.Layer.MaxRecordCount > 0 {
		return t.Layer.MaxRecordCount
	}
	return 2000
}

// parseEsriGeometry reads the geometry parameter: Esri JSON or
// "xmin,ymin,xmax,ymax", in inSR (the layer's, or 4326 for a Web Mercator
// layer).
func parseEsriGeometry(v, inSR string, t *geodb.Table) (*arcgis.Geometry, error) {
	xf, _ := xformFor(t)
	conv := identity // nil: from WGS84
	if inSR != "" {
		var sr arcgis.SpatialReference
		if n, err := strconv.Atoi(inSR); err == nil {
			sr.WKID = n
		} else if err := json.Unmarshal([]byte(inSR), &sr); err != nil {
			return nil, badRequest("inSR", "inSR must be a wkid or a spatial reference object")
		}
		switch {
		case sr.EPSG() == int(t.SRSID) || (sr.IsWebMercator() && (t.SRSID == 3857 || t.SRSID == 102100)):
		case sr.IsWGS84():
			conv = nil // xf.fromWGS, range-checked below
		default:
			return nil, badRequest("inSR", "inSR %s is not supported offline (use the layer's or 4326)", inSR)
		}
	}
	var g arcgis.Geometry
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		if err := json.Unmarshal([]byte(v), &g); err != nil {
			return nil, badRequest("geometry", "invalid geometry JSON: %v", err)
		}
		if err := g.Validate(); err != nil {
			return nil, badRequest("geometry", "%v", err)
		}
	} else {
		parts := strings.Split(v, ",")
		if len(parts) != 4 {
			return nil, badRequest("geometry", "geometry must be Esri JSON or xmin,ymin,xmax,ymax")
		}
		var n [4]float64
		for i, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || f != f {
				return nil, badRequest("geometry", "geometry value %q is not a number", p)
			}
			n[i] = f
		}
		g = arcgis.Geometry{XMin: &n[0], YMin: &n[1], XMax: &n[2], YMax: &n[3]}
	}
	if g.SpatialReference != nil && inSR == "" && g.SpatialReference.IsWGS84() {
		conv = nil
	}
	g.SpatialReference = nil
	var rangeErr error
	if wgs := conv == nil; wgs || t.SRSID == 4326 {
		// Longitude/latitude in: out-of-range positions are refused.
		if wgs {
			conv = xf.fromWGS
		}
		inner := conv
		conv = func(x, y float64) (float64, float64) {
			if err := checkLonLat(x, y); err != nil && rangeErr == nil {
				rangeErr = err
			}
			return inner(x, y)
		}
	}
	tr := func(c []float64) {
		c[0], c[1] = conv(c[0], c[1])
	}
	if g.X != nil && g.Y != nil {
		x, y := conv(*g.X, *g.Y)
		g.X, g.Y = &x, &y
	}
	if g.XMin != nil {
		x0, y0 := conv(*g.XMin, *g.YMin)
		x1, y1 := conv(*g.XMax, *g.YMax)
		g.XMin, g.YMin, g.XMax, g.YMax = &x0, &y0, &x1, &y1
	}
	for _, p := range g.Points {
		tr(p)
	}
	for _, l := range g.Paths {
		for _, p := range l {
			tr(p)
		}
	}
	for _, l := range g.Rings {
		for _, p := range l {
			tr(p)
		}
	}
	if rangeErr != nil {
		return nil, badRequest("geometry", "%v", rangeErr)
	}
	return &g, nil
}

// fsQuery implements query: where, objectIds, geometry (intersects),
// outFields, returnGeometry, orderByFields, resultOffset/resultRecordCount
// with exceededTransferLimit, returnIdsOnly and returnCountOnly; f=json or
// geojson.
func (s *Server) fsQuery(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, err := s.fsTable(r)
		if err != nil {
			return err
		}
		f := r.Form
		q := geodb.Query{LayerID: t.LayerID, Where: strings.TrimSpace(f.Get("where"))}
		if q.Where == "1=1" {
			q.Where = ""
		}
		if q.Where != "" {
			if _, _, err := geodb.CompileWhere(t, q.Where); err != nil {
				return badRequest("where", "%v", err)
			}
		}
		if v := f.Get("objectIds"); v != "" {
			for _, p := range strings.Split(v, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
				if err != nil {
					return badRequest("objectIds", "objectIds must be integers")
				}
				q.ObjectIDs = append(q.ObjectIDs, n)
			}
		}
		if v := f.Get("geometry"); v != "" {
			if rel := f.Get("spatialRel"); rel != "" && rel != "esriSpatialRelIntersects" && rel != "esriSpatialRelEnvelopeIntersects" {
				return badRequest("spatialRel", "only esriSpatialRelIntersects is supported offline")
			}
			g, err := parseEsriGeometry(v, f.Get("inSR"), t)
			if err != nil {
				return err
			}
			q.Geometry = g
		}
		if v := f.Get("outFields"); v != "" && v != "*" {
			for _, name := range strings.Split(v, ",") {
				name = strings.TrimSpace(name)
				if t.Col(name) == nil {
					return badRequest("outFields", "unknown field %q", name)
				}
				q.OutFields = append(q.OutFields, name)
			}
		}
		if v := f.Get("orderByFields"); v != "" {
			for _, o := range strings.Split(v, ",") {
				fs := strings.Fields(o)
				if len(fs) == 0 || len(fs) > 2 || t.Col(fs[0]) == nil {
					return badRequest("orderByFields", "bad orderByFields entry %q", o)
				}
				q.OrderBy = append(q.OrderBy, strings.Join(fs, " "))
			}
		} else {
			q.OrderBy = []string{t.OIDCol}
		}
		boolParam := func(name string, def bool) (bool, error) {
			v := f.Get(name)
			if v == "" {
				return def, nil
			}
			b, err := strconv.ParseBool(v)
			if err != nil {
				return false, badRequest(name, "%s must be true or false", name)
			}
			return b, nil
		}
		retGeom, err := boolParam("returnGeometry", true)
		if err != nil {
			return err
		}
		q.NoGeometry = !retGeom || t.GeomCol == ""
		idsOnly, err := boolParam("returnIdsOnly", false)
		if err != nil {
			return err
		}
		countOnly, err := boolParam("returnCountOnly", false)
		if err != nil {
			return err
		}
		if countOnly {
			n, err := db.Count(r.Context(), q)
			if err != nil {
				return err
			}
			if f.Get("f") == "geojson" {
				writeJSON(w, 200, map[string]any{"type": "FeatureCollection", "features": []any{}, "properties": map[string]any{"count": n}})
			} else {
				writeJSON(w, 200, map[string]any{"count": n})
			}
			return nil
		}
		if idsOnly {
			ids, err := db.IDs(r.Context(), q)
			if err != nil {
				return err
			}
			if ids == nil {
				ids = []int64{}
			}
			writeJSON(w, 200, map[string]any{"objectIdFieldName": t.OIDCol, "objectIds": ids})
			return nil
		}
		limit := maxRecords(t)
		if v := f.Get("resultRecordCount"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return badRequest("resultRecordCount", "resultRecordCount must be a positive integer")
			}
			limit = min(n, limit)
		}
		if v := f.Get("resultOffset"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return badRequest("resultOffset", "resultOffset must be a non-negative integer")
			}
			q.Offset = n
		}
		q.Limit = limit + 1
		if f.Get("f") == "geojson" {
			return s.fsGeoJSON(w, r, db, t, q, limit)
		}
		return s.fsEsriJSON(w, r, db, t, q, limit)
	})(w, r)
}

func fieldsFor(t *geodb.Table, out []string) []arcgis.Field {
	var fields []arcgis.Field
	for _, c := range t.Cols {
		if len(out) > 0 {
			keep := c.Name == t.OIDCol
			for _, o := range out {
				keep = keep || strings.EqualFold(o, c.Name)
			}
			if !keep {
				continue
			}
		}
		fields = append(fields, c.Field)
	}
	return fields
}

func (s *Server) fsEsriJSON(w http.ResponseWriter, r *http.Request, db *geodb.DB, t *geodb.Table, q geodb.Query, limit int) error {
	head := map[string]any{"objectIdFieldName": t.OIDCol, "globalIdFieldName": t.GIDCol, "fields": fieldsFor(t, q.OutFields)}
	if t.GeomCol != "" {
		head["geometryType"] = t.Layer.GeometryType
		head["spatialReference"] = map[string]any{"wkid": t.SRSID}
		head["hasZ"], head["hasM"] = t.HasZ, t.HasM
	}
	hb, _ := json.Marshal(head)
	w.Header().Set("Content-Type", "application/json")
	js := newJSONStream(w)
	js.raw(string(hb[:len(hb)-1]) + `,"features":[`)
	n, more := 0, false
	err := db.Each(r.Context(), q, func(row *geodb.Row) error {
		if n == limit {
			more = true
			return nil
		}
		if n > 0 {
			js.raw(",")
		}
		n++
		f := arcgis.Feature{Attributes: row.Attributes}
		if !q.NoGeometry {
			f.Geometry = geodb.ToEsri(row.Geometry)
		}
		return js.value(f)
	})
	if err != nil {
		s.log.Error("query failed mid-stream", "path", r.URL.Path, "err", err)
		js.flush()
		return nil
	}
	js.raw(fmt.Sprintf(`],"exceededTransferLimit":%t}`+"\n", more))
	return js.flush()
}

func (s *Server) fsGeoJSON(w http.ResponseWriter, r *http.Request, db *geodb.DB, t *geodb.Table, q geodb.Query, limit int) error {
	xf, _ := xformFor(t)
	w.Header().Set("Content-Type", "application/geo+json")
	js := newJSONStream(w)
	js.raw(`{"type":"FeatureCollection","features":[`)
	n, more := 0, false
	var buf []byte
	err := db.Each(r.Context(), q, func(row *geodb.Row) error {
		if n == limit {
			more = true
			return nil
		}
		buf = buf[:0]
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		buf = appendFeature(buf, row, t, xf)
		return js.write(buf)
	})
	if err != nil {
		s.log.Error("query failed mid-stream", "path", r.URL.Path, "err", err)
		js.flush()
		return nil
	}
	js.raw(fmt.Sprintf(`],"exceededTransferLimit":%t,"properties":{"exceededTransferLimit":%t}}`+"\n", more, more))
	return js.flush()
}

// gidsOfOIDs maps object ids to GlobalIDs (missing ones are absent).
func gidsOfOIDs(r *http.Request, db *geodb.DB, t *geodb.Table, oids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(oids) == 0 {
		return out, nil
	}
	err := db.Each(r.Context(), geodb.Query{LayerID: t.LayerID, ObjectIDs: oids, OutFields: []string{t.OIDCol, t.GIDCol}, NoGeometry: true}, func(row *geodb.Row) error {
		if g, ok := row.Attributes[t.GIDCol].(string); ok {
			out[row.OID] = g
		}
		return nil
	})
	return out, err
}

func attrOID(a map[string]any, col string) (int64, bool) {
	for k, v := range a {
		if strings.EqualFold(k, col) {
			switch n := v.(type) {
			case float64:
				return int64(n), n == float64(int64(n))
			case json.Number:
				i, err := n.Int64()
				return i, err == nil
			}
		}
	}
	return 0, false
}

func dropKey(a map[string]any, col string) {
	for k := range a {
		if strings.EqualFold(k, col) {
			delete(a, k)
		}
	}
}

// fsApplyEdits applies adds, updates (by OBJECTID, or GlobalID with
// useGlobalIds) and deletes in one transaction: on any bad value nothing
// changes and the error names the field.
func (s *Server) fsApplyEdits(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(s.applyEdits)(w, r)
}

// fsFeatureEdit serves addFeatures, updateFeatures and deleteFeatures
// through applyEdits (features → adds/updates, objectIds → deletes).
func (s *Server) fsFeatureEdit(op string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
			f := r.Form
			feats, ids := f.Get("features"), f.Get("objectIds")
			for _, k := range []string{"adds", "updates", "deletes"} {
				f.Del(k)
			}
			switch op {
			case "add":
				f.Set("adds", feats)
			case "update":
				f.Set("updates", feats)
			case "delete":
				if ids == "" {
					return badRequest("objectIds", "objectIds are required (deletes by where clause are not supported offline)")
				}
				f.Set("deletes", ids)
			}
			return s.applyEdits(w, r)
		})(w, r)
	}
}

func (s *Server) applyEdits(w http.ResponseWriter, r *http.Request) error {
	{
		db, t, err := s.fsTable(r)
		if err != nil {
			return err
		}
		if err := checkWritable(r.Context(), db, t); err != nil {
			return err
		}
		f := r.Form
		useGIDs := strings.EqualFold(f.Get("useGlobalIds"), "true")
		var adds, updates []arcgis.Feature
		for _, p := range []struct {
			name string
			dst  *[]arcgis.Feature
		}{{"adds", &adds}, {"updates", &updates}} {
			if v := f.Get(p.name); v != "" {
				if err := json.Unmarshal([]byte(v), p.dst); err != nil {
					return badRequest(p.name, "%s must be a JSON array of features: %v", p.name, err)
				}
			}
		}
		var e geodb.Edits
		for _, a := range adds {
			if a.Attributes == nil {
				a.Attributes = map[string]any{}
			}
			dropKey(a.Attributes, t.OIDCol)
			if !useGIDs {
				dropKey(a.Attributes, t.GIDCol)
			}
			e.Adds = append(e.Adds, a)
		}
		var updOIDs []int64
		for _, u := range updates {
			if u.Attributes == nil {
				return badRequest("updates", "an update has no attributes")
			}
			if !useGIDs {
				oid, ok := attrOID(u.Attributes, t.OIDCol)
				if !ok {
					return badRequest(t.OIDCol, "each update needs its %s", t.OIDCol)
				}
				updOIDs = append(updOIDs, oid)
			}
		}
		var delOIDs []int64
		var delGIDs []string
		if v := strings.TrimSpace(f.Get("deletes")); v != "" {
			if strings.HasPrefix(v, "[") {
				if useGIDs {
					if err := json.Unmarshal([]byte(v), &delGIDs); err != nil {
						return badRequest("deletes", "deletes must be a JSON array of GlobalIDs")
					}
				} else if err := json.Unmarshal([]byte(v), &delOIDs); err != nil {
					return badRequest("deletes", "deletes must be a JSON array of object ids")
				}
			} else {
				for _, p := range strings.Split(v, ",") {
					p = strings.TrimSpace(p)
					if useGIDs {
						delGIDs = append(delGIDs, p)
						continue
					}
					n, err := strconv.ParseInt(p, 10, 64)
					if err != nil {
						return badRequest("deletes", "deletes must be object ids")
					}
					delOIDs = append(delOIDs, n)
				}
			}
		}
		gids, err := gidsOfOIDs(r, db, t, append(append([]int64{}, updOIDs...), delOIDs...))
		if err != nil {
			return err
		}
		for i, u := range updates {
			if !useGIDs {
				g, ok := gids[updOIDs[i]]
				if !ok {
					return &Error{Status: http.StatusNotFound, Code: "notFound", Field: t.OIDCol, Message: fmt.Sprintf("no feature with %s %d", t.OIDCol, updOIDs[i])}
				}
				dropKey(u.Attributes, t.GIDCol)
				u.Attributes[t.GIDCol] = g
			}
			dropKey(u.Attributes, t.OIDCol)
			e.Updates = append(e.Updates, u)
		}
		for _, oid := range delOIDs {
			g, ok := gids[oid]
			if !ok {
				return &Error{Status: http.StatusNotFound, Code: "notFound", Field: "deletes", Message: fmt.Sprintf("no feature with %s %d", t.OIDCol, oid)}
			}
			e.Deletes = append(e.Deletes, g)
		}
		for _, g := range delGIDs {
			n, ok := geodb.NormalizeGlobalID(g)
			if !ok {
				return badRequest("deletes", "invalid GlobalID %q", g)
			}
			e.Deletes = append(e.Deletes, n)
		}
		addRes, updRes, err := db.ApplyEdits(r.Context(), t.LayerID, e)
		if err != nil {
			return err
		}
		res := func(l []geodb.EditResult) []map[string]any {
			out := make([]map[string]any, 0, len(l))
			for _, x := range l {
				out = append(out, map[string]any{"objectId": x.ObjectID, "globalId": x.GlobalID, "success": true})
			}
			return out
		}
		var dels []map[string]any
		for i, g := range e.Deletes {
			d := map[string]any{"globalId": g, "success": true}
			if i < len(delOIDs) {
				d["objectId"] = delOIDs[i]
			}
			dels = append(dels, d)
		}
		writeJSON(w, 200, map[string]any{"addResults": res(addRes), "updateResults": res(updRes), "deleteResults": orEmpty(dels)})
		return nil
	}
}

// fsFeatureGID resolves {oid} to the feature's GlobalID.
func (s *Server) fsFeatureGID(r *http.Request) (*geodb.DB, *geodb.Table, string, error) {
	db, t, err := s.fsTable(r)
	if err != nil {
		return nil, nil, "", err
	}
	if t.AttachTable == "" {
		return nil, nil, "", &Error{Status: http.StatusBadRequest, Code: "noAttachments", Field: "layer", Message: "the layer has no attachments"}
	}
	oid, _ := strconv.ParseInt(mux.Vars(r)["oid"], 10, 64)
	gids, err := gidsOfOIDs(r, db, t, []int64{oid})
	if err != nil {
		return nil, nil, "", err
	}
	g, ok := gids[oid]
	if !ok {
		return nil, nil, "", notFound("objectId", "no feature %d", oid)
	}
	return db, t, g, nil
}

func esriAttachment(m geodb.AttachmentMeta) map[string]any {
	return map[string]any{"id": m.ID, "globalId": m.GlobalID, "parentGlobalId": m.ParentGlobalID, "name": m.Name,
		"contentType": m.ContentType, "size": m.Size, "keywords": m.Keywords}
}

func (s *Server) fsAttachments(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, gid, err := s.fsFeatureGID(r)
		if err != nil {
			return err
		}
		atts, err := db.Attachments(r.Context(), t.LayerID, gid)
		if err != nil {
			return err
		}
		infos := make([]map[string]any, 0, len(atts))
		for _, a := range atts {
			infos = append(infos, esriAttachment(a))
		}
		writeJSON(w, 200, map[string]any{"attachmentInfos": infos})
		return nil
	})(w, r)
}

func (s *Server) fsAttachment(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, gid, err := s.fsFeatureGID(r)
		if err != nil {
			return err
		}
		aid, _ := strconv.ParseInt(mux.Vars(r)["aid"], 10, 64)
		atts, err := db.Attachments(r.Context(), t.LayerID, gid)
		if err != nil {
			return err
		}
		for _, a := range atts {
			if a.ID == aid {
				serveAttachment(w, r, db, t.LayerID, a, s)
				return nil
			}
		}
		return notFound("attachmentId", "no attachment %d", aid)
	})(w, r)
}

func (s *Server) fsAddAttachment(w http.ResponseWriter, r *http.Request) error {
	// Not wrapped by fsWrap: the multipart body is streamed, not parsed.
	db, t, gid, err := s.fsFeatureGID(r)
	if err != nil {
		fsError(w, err)
		return nil
	}
	if err := checkWritable(r.Context(), db, t); err != nil {
		fsError(w, err)
		return nil
	}
	meta, body, err := attachmentUpload(r)
	if err != nil {
		fsError(w, err)
		return nil
	}
	meta.ParentGlobalID = gid
	m, err := db.PutAttachment(r.Context(), t.LayerID, meta, body)
	if err != nil {
		fsError(w, err)
		return nil
	}
	writeJSON(w, 200, map[string]any{"addAttachmentResult": map[string]any{"objectId": m.ID, "globalId": m.GlobalID, "success": true}})
	return nil
}

func (s *Server) fsDeleteAttachments(w http.ResponseWriter, r *http.Request) error {
	return s.fsWrap(func(w http.ResponseWriter, r *http.Request) error {
		db, t, gid, err := s.fsFeatureGID(r)
		if err != nil {
			return err
		}
		if err := checkWritable(r.Context(), db, t); err != nil {
			return err
		}
		atts, err := db.Attachments(r.Context(), t.LayerID, gid)
		if err != nil {
			return err
		}
		byID := map[int64]geodb.AttachmentMeta{}
		for _, a := range atts {
			byID[a.ID] = a
		}
		var del []geodb.AttachmentMeta
		for _, p := range strings.Split(r.Form.Get("attachmentIds"), ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
			if err != nil {
				return badRequest("attachmentIds", "attachmentIds must be integers")
			}
			a, ok := byID[n]
			if !ok {
				return notFound("attachmentIds", "no attachment %d on this feature", n)
			}
			del = append(del, a)
		}
		var out []map[string]any
		for _, a := range del {
			if err := db.DeleteAttachment(r.Context(), t.LayerID, a.GlobalID); err != nil {
				return err
			}
			out = append(out, map[string]any{"objectId": a.ID, "globalId": a.GlobalID, "success": true})
		}
		writeJSON(w, 200, map[string]any{"deleteAttachmentResults": out})
		return nil
	})(w, r)
}
