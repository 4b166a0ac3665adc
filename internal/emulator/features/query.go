package features

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/paulmach/orb/geojson"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator/rest"
	"github.com/offlined/offlined/internal/whereclause"
)

// fieldLookup resolves field names case-insensitively against fields.
func fieldLookup(fields []arcgis.Field) func(string) (string, string, bool) {
	return func(name string) (string, string, bool) {
		for _, f := range fields {
			if strings.EqualFold(f.Name, name) {
				return f.Name, f.Type, true
			}
		}
		return "", "", false
	}
}

// bindWhere parses a where clause against the view's fields.
func (v *layerView) bindWhere(where string) (*whereExpr, error) {
	return parseWhere(where, fieldLookup(v.fields))
}

// queryError writes ArcGIS's "invalid query parameters" error.
func queryError(w http.ResponseWriter, detail string) {
	rest.WriteError(w, http.StatusOK, 400, "Cannot perform query. Invalid query parameters.", detail)
}

// parseIDList reads "1,2,3" or "[1,2,3]".
func parseIDList(v string) ([]int64, error) {
	v = strings.Trim(strings.TrimSpace(v), "[]")
	if v == "" {
		return nil, nil
	}
	var out []int64
	for _, p := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(p), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("id %q: %w", p, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// queryFilter binds a query's where-like parameter (where or
// definitionExpression) and its objectIds (nil: all). It writes the query
// error naming the parameter and reports false when one is invalid.
func queryFilter(w http.ResponseWriter, r *http.Request, v *layerView, whereParam string) (*whereExpr, map[int64]bool, bool) {
	where, err := v.bindWhere(rest.FormValue(r, whereParam))
	if err != nil {
		queryError(w, "'"+whereParam+"' parameter is invalid")
		return nil, nil, false
	}
	raw := rest.FormValue(r, "objectIds")
	if raw == "" {
		return where, nil, true
	}
	ids, err := parseIDList(raw)
	if err != nil {
		queryError(w, "'objectIds' parameter is invalid")
		return nil, nil, false
	}
	idSet := map[int64]bool{}
	for _, id := range ids {
		idSet[id] = true
	}
	return where, idSet, true
}

type orderKey struct {
	field string
	desc  bool
}

func (s *FeatureServer) handleQuery(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, _ string) {
	v := fs.viewOf(ls)
	d := v.def
	where, idSet, ok := queryFilter(w, r, v, "where")
	if !ok {
		return
	}
	inSR, err := srParam(rest.FormValue(r, "inSR"), 3857)
	if err != nil {
		queryError(w, "'inSR' parameter is invalid")
		return
	}
	outSR, err := srParam(rest.FormValue(r, "outSR"), 3857)
	if err != nil {
		queryError(w, "'outSR' parameter is invalid")
		return
	}
	format := strings.ToLower(rest.FormValue(r, "f"))
	if format == "geojson" {
		outSR = 4326
	}
	var filter *spatialFilter
	if g := rest.FormValue(r, "geometry"); g != "" && !d.isTable() {
		rel := rest.FormValue(r, "spatialRel")
		if rel != "" && rel != "esriSpatialRelIntersects" && rel != "esriSpatialRelEnvelopeIntersects" && rel != "esriSpatialRelIndexIntersects" {
			queryError(w, "'spatialRel' "+rel+" is not supported by the emulator")
			return
		}
		filter, err = parseGeometryParam(g, rest.FormValue(r, "geometryType"), inSR)
		if err != nil {
			queryError(w, "'geometry' parameter is invalid")
			return
		}
	}
	outFields, err := selectFields(v.fields, rest.FormValue(r, "outFields"))
	if err != nil {
		queryError(w, "'outFields' parameter is invalid")
		return
	}
	var order []orderKey
	if ob := strings.TrimSpace(rest.FormValue(r, "orderByFields")); ob != "" {
		for _, part := range strings.Split(ob, ",") {
			words := strings.Fields(part)
			if len(words) == 0 || len(words) > 2 {
				queryError(w, "'orderByFields' parameter is invalid")
				return
			}
			name, _, ok := fieldLookup(v.fields)(words[0])
			if !ok {
				queryError(w, "'orderByFields' parameter is invalid")
				return
			}
			k := orderKey{field: name}
			if len(words) == 2 {
				switch strings.ToUpper(words[1]) {
				case "DESC":
					k.desc = true
				case "ASC":
				default:
					queryError(w, "'orderByFields' parameter is invalid")
					return
				}
			}
			order = append(order, k)
		}
	}
	if len(order) == 1 && order[0].field == d.oidField && !order[0].desc {
		order = nil // natural order
	}
	// GlobalID = '…' / GlobalID IN (…) and objectIds visit only those
	// features instead of scanning the layer.
	if gids, ok := where.globalIDs(d.gidField); ok {
		set := map[int64]bool{}
		for _, g := range gids {
			if oid, exists := v.oidOf(g); exists && (idSet == nil || idSet[oid]) {
				set[oid] = true
			}
		}
		idSet = set
	}
	scan := v.each
	if idSet != nil {
		scan = func(fn func(int64, arcgis.Feature) bool) {
			for _, oid := range sortedKeys(idSet) {
				if f, _, ok := v.get(oid); ok && !fn(oid, f) {
					return
				}
			}
		}
	}
	match := func(oid int64, f arcgis.Feature) bool {
		if idSet != nil && !idSet[oid] {
			return false
		}
		if filter != nil && !filter.intersects(f.Geometry) {
			return false
		}
		return where.match(f.Attributes)
	}

	// Unfiltered queries walk OIDs without generating skipped features,
	// so paging through millions of generated features stays cheap.
	matchAll := idSet == nil && filter == nil && where.trivial()
	if rest.BoolParam(r, "returnCountOnly", false) {
		if matchAll {
			rest.WriteJSON(w, http.StatusOK, map[string]any{"count": v.count()})
			return
		}
		n := 0
		scan(func(oid int64, f arcgis.Feature) bool {
			if match(oid, f) {
				n++
			}
			return true
		})
		rest.WriteJSON(w, http.StatusOK, map[string]any{"count": n})
		return
	}
	if rest.BoolParam(r, "returnIdsOnly", false) {
		ids := []int64{}
		if matchAll {
			v.eachID(func(oid int64) bool { ids = append(ids, oid); return true })
		} else {
			scan(func(oid int64, f arcgis.Feature) bool {
				if match(oid, f) {
					ids = append(ids, oid)
				}
				return true
			})
		}
		rest.WriteJSON(w, http.StatusOK, map[string]any{"objectIdFieldName": d.oidField, "globalIdFieldName": d.gidField, "objectIds": ids})
		return
	}

	offset, limit := 0, fs.opts.MaxRecordCount
	if !fs.opts.NoPagination {
		if n, err := strconv.Atoi(rest.FormValue(r, "resultOffset")); err == nil && n > 0 {
			offset = n
		}
		if n, err := strconv.Atoi(rest.FormValue(r, "resultRecordCount")); err == nil && n > 0 && n < limit {
			limit = n
		}
	}
	pg := &pager{offset: offset, limit: limit}
	if order == nil && matchAll {
		v.eachID(func(oid int64) bool {
			return pg.add(func() arcgis.Feature { f, _, _ := v.get(oid); return f })
		})
	} else if order == nil {
		scan(func(oid int64, f arcgis.Feature) bool {
			return !match(oid, f) || pg.add(func() arcgis.Feature { return f })
		})
	} else {
		var all []arcgis.Feature
		scan(func(oid int64, f arcgis.Feature) bool {
			if match(oid, f) {
				all = append(all, f)
			}
			return true
		})
		slices.SortStableFunc(all, func(a, b arcgis.Feature) int {
			for _, k := range order {
				c := whereclause.Compare(a.Attributes[k.field], b.Attributes[k.field])
				if k.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return cmp.Compare(attrInt(a.Attributes[d.oidField]), attrInt(b.Attributes[d.oidField]))
		})
		for _, f := range all {
			if !pg.add(func() arcgis.Feature { return f }) {
				break
			}
		}
	}
	page, exceeded := pg.page, pg.exceeded
	returnGeom := rest.BoolParam(r, "returnGeometry", true) && !d.isTable()
	out := make([]arcgis.Feature, len(page))
	for i, f := range page {
		out[i] = projectFeature(f, outFields, d.oidField, returnGeom, outSR)
	}
	if format == "geojson" {
		writeGeoJSON(w, out, exceeded)
		return
	}
	fields := outFields
	if fields == nil {
		fields = v.fields
	}
	resp := map[string]any{
		"objectIdFieldName": d.oidField, "globalIdFieldName": d.gidField,
		"uniqueIdField": map[string]any{"name": d.oidField, "isSystemMaintained": true},
		"fields":        fields, "features": out,
	}
	if !d.isTable() {
		resp["geometryType"] = d.GeometryType
		resp["spatialReference"] = srJSON(outSR)
		resp["hasZ"], resp["hasM"] = false, false
	}
	if exceeded {
		resp["exceededTransferLimit"] = true
	}
	rest.WriteJSON(w, http.StatusOK, resp)
}

// selectFields resolves outFields; nil means every field.
func selectFields(fields []arcgis.Field, outFields string) ([]arcgis.Field, error) {
	outFields = strings.TrimSpace(outFields)
	if outFields == "" || outFields == "*" {
		return nil, nil
	}
	var out []arcgis.Field
	for _, name := range strings.Split(outFields, ",") {
		name = strings.TrimSpace(name)
		if name == "*" {
			return nil, nil
		}
		found := false
		for _, f := range fields {
			if strings.EqualFold(f.Name, name) {
				out = append(out, f)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown field %q", name)
		}
	}
	return out, nil
}

// projectFeature copies the selected attributes (plus the OID) and the
// geometry in outSR.
func projectFeature(f arcgis.Feature, fields []arcgis.Field, oidField string, withGeom bool, outSR int) arcgis.Feature {
	var attrs map[string]any
	if fields == nil {
		attrs = f.Attributes
	} else {
		attrs = make(map[string]any, len(fields)+1)
		attrs[oidField] = f.Attributes[oidField]
		for _, fl := range fields {
			attrs[fl.Name] = f.Attributes[fl.Name]
		}
	}
	out := arcgis.Feature{Attributes: attrs}
	if withGeom && f.Geometry != nil {
		out.Geometry = toEPSG(f.Geometry, 3857, outSR)
	}
	return out
}

func attrInt(v any) int64 {
	f, _ := toNum(v)
	return int64(f)
}

// writeGeoJSON writes features (already in WGS84) as a FeatureCollection.
func writeGeoJSON(w http.ResponseWriter, feats []arcgis.Feature, exceeded bool) {
	fc := geojson.NewFeatureCollection()
	for _, f := range feats {
		var gf *geojson.Feature
		if f.Geometry != nil {
			gf = geojson.NewFeature(esriToOrb(f.Geometry))
		} else {
			gf = &geojson.Feature{Type: "Feature", Properties: geojson.Properties{}}
		}
		if id, ok := f.Attributes["OBJECTID"]; ok {
			gf.ID = id
		}
		for k, v := range f.Attributes {
			gf.Properties[k] = v
		}
		fc.Append(gf)
	}
	if exceeded {
		fc.ExtraMembers = geojson.Properties{"properties": map[string]any{"exceededTransferLimit": true}}
	}
	b, err := json.Marshal(fc)
	if err != nil {
		rest.WriteError(w, http.StatusOK, 500, "Unable to encode GeoJSON", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/geo+json")
	_, _ = w.Write(b)
}

func (s *FeatureServer) handleFeatureByID(w http.ResponseWriter, r *http.Request, fs *fsService, ls *layerStore, _ string) {
	oid, _ := strconv.ParseInt(rest.MuxVar(r, "oid"), 10, 64)
	v := fs.viewOf(ls)
	f, _, ok := v.get(oid)
	if !ok {
		rest.WriteError(w, http.StatusOK, 404, "Requested object does not exist.", fmt.Sprintf("Object %d not found", oid))
		return
	}
	rest.WriteJSON(w, http.StatusOK, map[string]any{"feature": projectFeature(f, nil, v.def.oidField, !v.def.isTable(), 3857)})
}

// pager collects one page of a query: the first offset matches are
// skipped, then up to limit kept; exceeded records that more followed.
type pager struct {
	offset, limit, skipped int
	page                   []arcgis.Feature
	exceeded               bool
}

// add takes the next match (get returns it, called only when it is kept)
// and reports whether the scan should go on.
func (p *pager) add(get func() arcgis.Feature) bool {
	if p.skipped < p.offset {
		p.skipped++
		return true
	}
	if len(p.page) == p.limit {
		p.exceeded = true
		return false
	}
	p.page = append(p.page, get())
	return true
}
