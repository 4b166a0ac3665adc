package emulator

import (
	"embed"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/gorilla/mux"

	"github.com/offlined/offlined/internal/emulator/rest"
	"github.com/offlined/offlined/internal/ogc"
)

// The OGC API – Features server's data: Natural Earth layers from
// pygeoapi's test data (see ogcdata/README.md).
//
//go:embed ogcdata/*.geojson
var ogcData embed.FS

// DemoOGCAPI is the path, under the emulator's root, of its OGC API –
// Features landing page (the url of an OGCFeatureLayer).
const DemoOGCAPI = "/ogcapi"

// DemoGeoJSONLakes is the path of a plain GeoJSON file (a GeoJSON layer by
// URL): the lakes collection as one FeatureCollection.
const DemoGeoJSONLakes = "/geojson/ne_110m_lakes.geojson"

// ogcCollection is one collection of the OGC API server.
type ogcCollection struct {
	id, title, file string
	feats           []json.RawMessage
	bboxes          [][4]float64
	// queryables is the collection's JSON Schema of properties (nil: the
	// server offers none and answers 404).
	queryables map[string]any
}

// ogcState is the OGC API – Features server, shaped like pygeoapi: landing
// page, conformance, collections, items paged by offset with next links,
// bbox filter (CRS84), numberMatched/numberReturned, queryables. It is
// read-only once loaded (shared by every Server: ogcDataset).
type ogcState struct {
	cols  []*ogcCollection
	byID  map[string]*ogcCollection
	files map[string][]byte
}

// ogcDataset parses the embedded collections once per process: about
// 250 KB of GeoJSON, most of an emulator's start-up cost otherwise. The
// parsed state is never written after loadOGC returns, so every Server
// shares it read-only.
var ogcDataset = sync.OnceValue(loadOGC)

// loadOGC reads the embedded collections and their feature bboxes.
func loadOGC() *ogcState {
	st := &ogcState{byID: map[string]*ogcCollection{}, files: map[string][]byte{}}
	for _, c := range []*ogcCollection{
		{id: "lakes", title: "Large lakes", file: "ne_110m_lakes.geojson"},
		{id: "places", title: "Populated places", file: "ne_110m_populated_places_simple.geojson",
			queryables: map[string]any{
				"name":     map[string]any{"type": "string", "title": "name"},
				"pop_max":  map[string]any{"type": "integer"},
				"pop_min":  map[string]any{"type": "integer"},
				"latitude": map[string]any{"type": "number"},
				"geometry": map[string]any{"format": "geometry-point", "x-ogc-role": "primary-geometry"},
			}},
	} {
		b, err := ogcData.ReadFile("ogcdata/" + c.file)
		if err != nil {
			panic(err) // embedded
		}
		st.files[c.file] = b
		var fc struct {
			Features []json.RawMessage `json:"features"`
		}
		if err := json.Unmarshal(b, &fc); err != nil {
			panic(err)
		}
		for _, f := range fc.Features {
			c.feats = append(c.feats, f)
			c.bboxes = append(c.bboxes, featureBBox(f))
		}
		st.cols = append(st.cols, c)
		st.byID[c.id] = c
	}
	return st
}

// registerOGCFeatures adds the OGC API – Features server under DemoOGCAPI
// and the GeoJSON file at DemoGeoJSONLakes.
func (s *Server) registerOGCFeatures() {
	st := ogcDataset()
	s.ogc = st
	r := s.router
	r.HandleFunc(DemoGeoJSONLakes, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/geo+json")
		_, _ = w.Write(st.files["ne_110m_lakes.geojson"])
	})
	r.HandleFunc(DemoOGCAPI, func(w http.ResponseWriter, r *http.Request) {
		base := rest.BaseURL(r) + DemoOGCAPI
		ogcJSON(w, "application/json", map[string]any{"title": "offlined emulator OGC API – Features", "links": []any{
			link(base, "self", "application/json"), link(base+"/conformance", "conformance", "application/json"),
			link(base+"/collections", "data", "application/json")}})
	})
	r.HandleFunc(DemoOGCAPI+"/conformance", func(w http.ResponseWriter, r *http.Request) {
		ogcJSON(w, "application/json", map[string]any{"conformsTo": []string{
			"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
			"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
			"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables"}})
	})
	r.HandleFunc(DemoOGCAPI+"/collections", func(w http.ResponseWriter, r *http.Request) {
		var out []any
		for _, c := range st.cols {
			out = append(out, c.describe(rest.BaseURL(r)+DemoOGCAPI))
		}
		ogcJSON(w, "application/json", map[string]any{"collections": out, "links": []any{}})
	})
	r.HandleFunc(DemoOGCAPI+"/collections/{id}", func(w http.ResponseWriter, r *http.Request) {
		c := st.byID[mux.Vars(r)["id"]]
		if c == nil {
			ogcError(w, http.StatusNotFound, "NotFound", "collection not found")
			return
		}
		ogcJSON(w, "application/json", c.describe(rest.BaseURL(r)+DemoOGCAPI))
	})
	r.HandleFunc(DemoOGCAPI+"/collections/{id}/queryables", func(w http.ResponseWriter, r *http.Request) {
		c := st.byID[mux.Vars(r)["id"]]
		if c == nil || c.queryables == nil {
			ogcError(w, http.StatusNotFound, "NotFound", "no queryables")
			return
		}
		ogcJSON(w, "application/schema+json", map[string]any{"$schema": "https://json-schema.org/draft/2019-09/schema",
			"type": "object", "title": c.title, "properties": c.queryables})
	})
	r.HandleFunc(DemoOGCAPI+"/collections/{id}/items", func(w http.ResponseWriter, r *http.Request) {
		c := st.byID[mux.Vars(r)["id"]]
		if c == nil {
			ogcError(w, http.StatusNotFound, "NotFound", "collection not found")
			return
		}
		st.items(w, r, c)
	})
}

// OGCFeatures returns the features of a collection the items endpoint
// gives for bbox (nil: all), as GeoJSON. The features are shared by every
// Server: read them, never write into them.
func (s *Server) OGCFeatures(collection string, bbox []float64) []json.RawMessage {
	c := s.ogc.byID[collection]
	if c == nil {
		return nil
	}
	return c.match(bbox)
}

// match returns the collection's features whose bbox meets bbox (nil: all).
func (c *ogcCollection) match(bbox []float64) []json.RawMessage {
	var out []json.RawMessage
	for i, f := range c.feats {
		if bbox == nil || overlaps(c.bboxes[i], bbox) {
			out = append(out, f)
		}
	}
	return out
}

func (c *ogcCollection) describe(base string) map[string]any {
	u := base + "/collections/" + c.id
	links := []any{link(u, "self", "application/json"), link(u+"/items", "items", "application/geo+json")}
	if c.queryables != nil {
		links = append(links, link(u+"/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json"))
	}
	all := [4]float64{180, 90, -180, -90}
	for _, b := range c.bboxes {
		all = [4]float64{math.Min(all[0], b[0]), math.Min(all[1], b[1]), math.Max(all[2], b[2]), math.Max(all[3], b[3])}
	}
	return map[string]any{"id": c.id, "title": c.title, "itemType": "feature", "links": links,
		"extent": map[string]any{"spatial": map[string]any{"bbox": [][]float64{all[:]}, "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}}}
}

// items answers one page: limit (default 10, at most 100), offset, bbox.
func (st *ogcState) items(w http.ResponseWriter, r *http.Request, c *ogcCollection) {
	q := r.URL.Query()
	limit, offset := 10, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			ogcError(w, http.StatusBadRequest, "InvalidParameterValue", "limit")
			return
		}
		limit = min(n, 100)
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			ogcError(w, http.StatusBadRequest, "InvalidParameterValue", "offset")
			return
		}
		offset = n
	}
	var bbox []float64
	if v := q.Get("bbox"); v != "" {
		for _, p := range strings.Split(v, ",") {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil {
				ogcError(w, http.StatusBadRequest, "InvalidParameterValue", "bbox")
				return
			}
			bbox = append(bbox, f)
		}
		if len(bbox) != 4 {
			ogcError(w, http.StatusBadRequest, "InvalidParameterValue", "bbox")
			return
		}
	}
	match := c.match(bbox)
	page := match[min(offset, len(match)):min(offset+limit, len(match))]
	self := rest.BaseURL(r) + r.URL.Path
	links := []any{link(self+"?"+q.Encode(), "self", "application/geo+json")}
	if offset+limit < len(match) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("offset", strconv.Itoa(offset+limit))
		nq.Set("limit", strconv.Itoa(limit))
		links = append(links, link(self+"?"+nq.Encode(), "next", "application/geo+json"))
	}
	if page == nil {
		page = []json.RawMessage{}
	}
	ogcJSON(w, "application/geo+json", map[string]any{"type": "FeatureCollection", "features": page,
		"numberMatched": len(match), "numberReturned": len(page), "links": links})
}

func link(href, rel, typ string) map[string]string {
	return map[string]string{"href": href, "rel": rel, "type": typ}
}

func ogcJSON(w http.ResponseWriter, ctype string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(b)
}

func ogcError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"code":%q,"description":%q}`, code, desc)
}

// overlaps reports whether a feature's bbox meets a query bbox (minx,
// miny, maxx, maxy in CRS84).
func overlaps(b [4]float64, q []float64) bool {
	return b[0] <= q[2] && b[2] >= q[0] && b[1] <= q[3] && b[3] >= q[1]
}

// featureBBox is the lon/lat bounding box of a GeoJSON feature's geometry.
func featureBBox(f json.RawMessage) [4]float64 {
	var feat ogc.Feature
	if json.Unmarshal(f, &feat) == nil {
		if b, ok := feat.BBox(); ok {
			return b
		}
	}
	return [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
}
