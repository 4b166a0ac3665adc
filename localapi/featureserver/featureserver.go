// Package featureserver is the ArcGIS FeatureServer-compatible subset of
// the local API: it lets GDAL (ESRIJSON driver), QGIS, arcgis-rest-js and
// the ArcGIS Maps SDK for JavaScript read and edit offline data unchanged.
// {service} is a map id (maps with one feature service) or
// "<map id>.<service>". Errors use the ArcGIS shape with a 4xx status:
// {"error":{"code":400,"message":"…","details":[…],"field":"…"}}.
//
// Register adds the routes to a localapi.Server, behind its middleware.
package featureserver

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/localapi"
)

// Server answers the FeatureServer-compatible routes from the maps of a
// localapi.Server.
type Server struct {
	api *localapi.Server
	reg localapi.Maps
	log *slog.Logger
}

// Register adds the FeatureServer-compatible routes under
// /arcgis/rest/services to api.
func Register(api *localapi.Server) {
	s := &Server{api: api, reg: api.Maps(), log: api.Logger()}
	s.routes()
	s.routesServicesDirectory()
}

func (s *Server) routes() {
	const fs = "/arcgis/rest/services/{service}/FeatureServer"
	// ArcGIS servers answer resources to POST as well (arcgis-rest-js
	// POSTs everything by default).
	for _, m := range []string{"GET", "POST"} {
		s.api.Handle(m, "/arcgis/rest/info", s.fsInfo)
		s.api.Handle(m, fs, s.fsService)
		s.api.Handle(m, fs+"/layers", s.fsLayers)
		s.api.Handle(m, fs+"/{layer:[0-9]+}", s.fsLayer)
		s.api.Handle(m, fs+"/{layer:[0-9]+}/{oid:[0-9]+}/attachments", s.fsAttachments)
	}
	s.api.HandleQuery("GET", fs+"/{layer:[0-9]+}/query", s.fsQuery)
	s.api.HandleQuery("POST", fs+"/{layer:[0-9]+}/query", s.fsQuery)
	s.api.Handle("POST", fs+"/{layer:[0-9]+}/applyEdits", s.fsApplyEdits)
	s.api.Handle("POST", fs+"/{layer:[0-9]+}/addFeatures", s.fsFeatureEdit("add"))
	s.api.Handle("POST", fs+"/{layer:[0-9]+}/updateFeatures", s.fsFeatureEdit("update"))
	s.api.Handle("POST", fs+"/{layer:[0-9]+}/deleteFeatures", s.fsFeatureEdit("delete"))
	s.api.Handle("GET", fs+"/{layer:[0-9]+}/{oid:[0-9]+}/attachments/{aid:[0-9]+}", s.fsAttachment)
	s.api.HandleUpload("POST", fs+"/{layer:[0-9]+}/{oid:[0-9]+}/addAttachment", s.fsAddAttachment)
	s.api.Handle("POST", fs+"/{layer:[0-9]+}/{oid:[0-9]+}/deleteAttachments", s.fsDeleteAttachments)
}

// fs wraps a FeatureServer handler so its errors take the ArcGIS shape.
func (s *Server) fsWrap(h func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if err := r.ParseForm(); err != nil {
			localapi.WriteArcGISError(w, localapi.BadRequest("body", "invalid form: %v", err))
			return nil
		}
		if f := r.Form.Get("f"); f != "" && f != "json" && f != "pjson" && f != "geojson" {
			localapi.WriteArcGISError(w, localapi.BadRequest("f", "f must be json, pjson or geojson"))
			return nil
		}
		if err := h(w, r); err != nil {
			localapi.WriteArcGISError(w, err)
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
		return "", "", nil, localapi.NotFound("service", "no service %q", name)
	}
	if svc == "" {
		if len(mi.Services) == 0 && mi.Broken {
			return "", "", nil, localapi.BrokenMap(mi)
		}
		if len(mi.Services) != 1 {
			return "", "", nil, localapi.NotFound("service", "map %q has %d feature services: use <map>.<service>", mapID, len(mi.Services))
		}
		svc = mi.Services[0]
	}
	db, err := s.reg.FeatureStore(r.Context(), mapID, svc)
	if err != nil {
		if localapi.IsBroken(err) {
			return "", "", nil, err
		}
		return "", "", nil, localapi.NotFound("service", "no service %q", name)
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
		return nil, nil, localapi.NotFound("layer", "no layer %d", id)
	}
	return db, t, nil
}

func (s *Server) fsInfo(w http.ResponseWriter, r *http.Request) error {
	localapi.WriteJSON(w, 200, map[string]any{"currentVersion": 11.1, "fullVersion": "11.1.0", "owningSystemUrl": "",
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
		layers, tables, writable, err := layersAndTables(r, db, func(t *geodb.Table) (map[string]any, error) {
			ref := map[string]any{"id": t.LayerID, "name": t.Layer.Name}
			if t.GeomCol != "" {
				ref["geometryType"] = t.Layer.GeometryType
			}
			return ref, nil
		})
		if err != nil {
			return err
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
		localapi.WriteJSON(w, 200, doc)
		return nil
	})(w, r)
}

// layersAndTables describes each table of db with doc, split into layers
// (with a geometry) and tables; writable reports whether any of them can
// be edited offline.
func layersAndTables(r *http.Request, db *geodb.DB, doc func(*geodb.Table) (map[string]any, error)) (layers, tables []map[string]any, writable bool, err error) {
	for _, t := range db.Tables() {
		ro, err := localapi.LayerReadOnly(r.Context(), db, t)
		if err != nil {
			return nil, nil, false, err
		}
		writable = writable || !ro
		d, err := doc(t)
		if err != nil {
			return nil, nil, false, err
		}
		if t.GeomCol != "" {
			layers = append(layers, d)
		} else {
			tables = append(tables, d)
		}
	}
	return layers, tables, writable, nil
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
	readOnly, err := localapi.LayerReadOnly(r.Context(), db, t)
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
		layers, tables, _, err := layersAndTables(r, db, func(t *geodb.Table) (map[string]any, error) { return layerDoc(r, db, t) })
		if err != nil {
			return err
		}
		localapi.WriteJSON(w, 200, map[string]any{"layers": orEmpty(layers), "tables": orEmpty(tables)})
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
		localapi.WriteJSON(w, 200, d)
		return nil
	})(w, r)
}

func maxRecords(t *geodb.Table) int {
	if t.Layer.MaxRecordCount > 0 {
		return t.Layer.MaxRecordCount
	}
	return 2000
}
