package featureserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/localapi"
)

// parseEsriGeometry reads the geometry parameter: Esri JSON or
// "xmin,ymin,xmax,ymax", in inSR (the layer's, or 4326 for a Web Mercator
// layer).
func parseEsriGeometry(v, inSR string, t *geodb.Table) (*arcgis.Geometry, error) {
	xf := localapi.XformFor(t)
	conv := identity // nil: from WGS84
	if inSR != "" {
		var sr arcgis.SpatialReference
		if n, err := strconv.Atoi(inSR); err == nil {
			sr.WKID = n
		} else if err := json.Unmarshal([]byte(inSR), &sr); err != nil {
			return nil, localapi.BadRequest("inSR", "inSR must be a wkid or a spatial reference object")
		}
		switch {
		case sr.EPSG() == int(t.SRSID) || (sr.IsWebMercator() && (t.SRSID == 3857 || t.SRSID == 102100)):
		case sr.IsWGS84():
			conv = nil // xf.FromWGS, range-checked below
		default:
			return nil, localapi.BadRequest("inSR", "inSR %s is not supported offline (use the layer's or 4326)", inSR)
		}
	}
	var g arcgis.Geometry
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		if err := json.Unmarshal([]byte(v), &g); err != nil {
			return nil, localapi.BadRequest("geometry", "invalid geometry JSON: %v", err)
		}
		if err := g.Validate(); err != nil {
			return nil, localapi.BadRequest("geometry", "%v", err)
		}
	} else {
		parts := strings.Split(v, ",")
		if len(parts) != 4 {
			return nil, localapi.BadRequest("geometry", "geometry must be Esri JSON or xmin,ymin,xmax,ymax")
		}
		var n [4]float64
		for i, p := range parts {
			f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
			if err != nil || f != f {
				return nil, localapi.BadRequest("geometry", "geometry value %q is not a number", p)
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
			conv = xf.FromWGS
		}
		inner := conv
		conv = func(x, y float64) (float64, float64) {
			if err := localapi.CheckLonLat(x, y); err != nil && rangeErr == nil {
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
		return nil, localapi.BadRequest("geometry", "%v", rangeErr)
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
				return localapi.BadRequest("where", "%v", err)
			}
		}
		if v := f.Get("objectIds"); v != "" {
			for _, p := range strings.Split(v, ",") {
				n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
				if err != nil {
					return localapi.BadRequest("objectIds", "objectIds must be integers")
				}
				q.ObjectIDs = append(q.ObjectIDs, n)
			}
		}
		if v := f.Get("geometry"); v != "" {
			if rel := f.Get("spatialRel"); rel != "" && rel != "esriSpatialRelIntersects" && rel != "esriSpatialRelEnvelopeIntersects" {
				return localapi.BadRequest("spatialRel", "only esriSpatialRelIntersects is supported offline")
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
					return localapi.BadRequest("outFields", "unknown field %q", name)
				}
				q.OutFields = append(q.OutFields, name)
			}
		}
		if v := f.Get("orderByFields"); v != "" {
			for _, o := range strings.Split(v, ",") {
				fs := strings.Fields(o)
				if len(fs) == 0 || len(fs) > 2 || t.Col(fs[0]) == nil {
					return localapi.BadRequest("orderByFields", "bad orderByFields entry %q", o)
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
				return false, localapi.BadRequest(name, "%s must be true or false", name)
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
				localapi.WriteJSON(w, 200, map[string]any{"type": "FeatureCollection", "features": []any{}, "properties": map[string]any{"count": n}})
			} else {
				localapi.WriteJSON(w, 200, map[string]any{"count": n})
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
			localapi.WriteJSON(w, 200, map[string]any{"objectIdFieldName": t.OIDCol, "objectIds": ids})
			return nil
		}
		limit := maxRecords(t)
		if v := f.Get("resultRecordCount"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return localapi.BadRequest("resultRecordCount", "resultRecordCount must be a positive integer")
			}
			limit = min(n, limit)
		}
		if v := f.Get("resultOffset"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return localapi.BadRequest("resultOffset", "resultOffset must be a non-negative integer")
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
	js := localapi.NewJSONStream(w)
	js.Raw(string(hb[:len(hb)-1]) + `,"features":[`)
	n, more := 0, false
	err := db.Each(r.Context(), q, func(row *geodb.Row) error {
		if n == limit {
			more = true
			return nil
		}
		if n > 0 {
			js.Raw(",")
		}
		n++
		f := arcgis.Feature{Attributes: row.Attributes}
		if !q.NoGeometry {
			f.Geometry = geodb.ToEsri(row.Geometry)
		}
		return js.Value(f)
	})
	if err != nil {
		s.log.Error("query failed mid-stream", "path", r.URL.Path, "err", err)
		js.Flush()
		return nil
	}
	js.Raw(fmt.Sprintf(`],"exceededTransferLimit":%t}`+"\n", more))
	return js.Flush()
}

func (s *Server) fsGeoJSON(w http.ResponseWriter, r *http.Request, db *geodb.DB, t *geodb.Table, q geodb.Query, limit int) error {
	w.Header().Set("Content-Type", "application/geo+json")
	js := localapi.NewJSONStream(w)
	js.Raw(`{"type":"FeatureCollection","features":[`)
	_, more, err := js.Features(r.Context(), db, q, t, limit)
	if err != nil {
		s.log.Error("query failed mid-stream", "path", r.URL.Path, "err", err)
		js.Flush()
		return nil
	}
	js.Raw(fmt.Sprintf(`],"exceededTransferLimit":%t,"properties":{"exceededTransferLimit":%t}}`+"\n", more, more))
	return js.Flush()
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

func identity(x, y float64) (float64, float64) { return x, y }
