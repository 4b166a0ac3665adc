package offline

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Key identifies a layer or table of a web map for parameters, overrides,
// capabilities and results, like ArcGIS's OfflineMapParametersKey. It is the
// normalised service URL, followed by "/<layer id>" for a feature layer or
// table. A tiled or vector tile layer's key is its service URL. Layers that
// reference no ArcGIS service get their normalised URL, and layers with no
// URL at all "webmap:<role>:<id>".
//
// Two web map layers that reference the same service layer share a key: they
// are one layer offline.
type Key string

// LayerKey returns the key of layer id of a service.
func LayerKey(serviceURL string, id int) Key {
	return Key(NormalizeURL(serviceURL) + "/" + strconv.Itoa(id))
}

// ServiceKey returns the key of a whole service (tile services).
func ServiceKey(serviceURL string) Key { return Key(NormalizeURL(serviceURL)) }

// Service returns the service part of a layer key, or the key itself.
func (k Key) Service() Key {
	if _, ok := k.LayerID(); ok {
		return Key(string(k)[:strings.LastIndexByte(string(k), '/')])
	}
	return k
}

// LayerID returns the layer id of a layer key.
func (k Key) LayerID() (int, bool) {
	s := string(k)
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return 0, false
	}
	ref, ok := ParseServiceURL(s)
	if !ok || !ref.HasLayer {
		return 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return 0, false
	}
	return n, true
}

// NormalizeURL returns the comparable form of a service URL: scheme and host
// in lower case without default ports, path in lower case without repeated
// or trailing slashes, no query or fragment. ArcGIS service and folder names
// are case-insensitive, so this is what makes two references equal.
func NormalizeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		s, _, _ := strings.Cut(raw, "?")
		return strings.TrimRight(strings.ToLower(s), "/")
	}
	host := strings.ToLower(u.Host)
	scheme := strings.ToLower(u.Scheme)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	p := strings.ToLower(u.Path)
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	p = strings.TrimRight(p, "/")
	return scheme + "://" + host + p
}

// ServiceType is the kind of ArcGIS REST service a URL names.
type ServiceType string

// Service types offlined recognises in URLs.
const (
	FeatureServer    ServiceType = "FeatureServer"
	MapServer        ServiceType = "MapServer"
	ImageServer      ServiceType = "ImageServer"
	VectorTileServer ServiceType = "VectorTileServer"
	SceneServer      ServiceType = "SceneServer"
	StreamServer     ServiceType = "StreamServer"
)

var serviceTypes = []ServiceType{FeatureServer, MapServer, ImageServer, VectorTileServer, SceneServer, StreamServer}

// ServiceRef is a parsed ArcGIS REST service (or service layer) URL.
type ServiceRef struct {
	// URL is the service root as authored (no query, no trailing slash), used
	// for requests.
	URL string `json:"url"`
	// Type is the service kind.
	Type ServiceType `json:"type"`
	// LayerID is the layer or table id when the URL names one.
	LayerID  int  `json:"layerId,omitempty"`
	HasLayer bool `json:"hasLayer,omitempty"`
}

// Key returns the service's key, or the layer's key when the URL names a
// layer.
func (r ServiceRef) Key() Key {
	if r.HasLayer {
		return LayerKey(r.URL, r.LayerID)
	}
	return ServiceKey(r.URL)
}

// LayerURL returns the URL of layer id of the service.
func (r ServiceRef) LayerURL(id int) string { return r.URL + "/" + strconv.Itoa(id) }

// ParseServiceURL splits an ArcGIS REST URL such as
// https://host/arcgis/rest/services/Folder/Name/FeatureServer/3 into its
// service root and layer id. Anything after the layer id (e.g. /query) is
// ignored. ok is false when the URL names no ArcGIS service.
func ParseServiceURL(raw string) (ServiceRef, bool) {
	s := strings.TrimSpace(raw)
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, "/")
	parts := strings.Split(s, "/")
	for i := len(parts) - 1; i >= 1; i-- {
		for _, t := range serviceTypes {
			if !strings.EqualFold(parts[i], string(t)) {
				continue
			}
			ref := ServiceRef{URL: strings.Join(parts[:i+1], "/"), Type: t}
			if i+1 < len(parts) {
				if n, err := strconv.Atoi(parts[i+1]); err == nil && n >= 0 {
					ref.LayerID, ref.HasLayer = n, true
				}
			}
			return ref, true
		}
	}
	return ServiceRef{}, false
}

// Role says where in the web map an entry sits.
type Role string

// Roles of web map entries.
const (
	RoleOperational Role = "operational"
	RoleBasemap     Role = "basemap"
	// RoleReference is a basemap layer with isReference (labels drawn on top).
	RoleReference Role = "referenceBasemap"
	RoleTable     Role = "table"
)

// IsBasemap reports whether the role is a basemap (base or reference) layer.
func (r Role) IsBasemap() bool { return r == RoleBasemap || r == RoleReference }

// Entry is one layer or table of a web map, flattened out of group layers.
type Entry struct {
	Key   Key    `json:"key"`
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	Role  Role   `json:"role"`
	// LayerType is the web map layerType ("Table" for tables).
	LayerType string `json:"layerType"`
	// Path lists the ids of the group layers that contain the entry.
	Path []string `json:"path,omitempty"`
	// Service is the parsed service URL; HasService is false when the layer
	// references no ArcGIS REST service.
	Service    ServiceRef `json:"service,omitzero"`
	HasService bool       `json:"-"`
	// Layer is the web map object.
	Layer *Layer `json:"-"`
}

// IsTable reports whether the entry is a web map table.
func (e *Entry) IsTable() bool { return e.Role == RoleTable }

// Entries flattens the web map: operational layers (group layers recursed,
// the groups themselves omitted), basemap layers, then tables, in document
// order.
func (wm *WebMap) Entries() []*Entry {
	var out []*Entry
	var walk func(ls []*Layer, role Role, path []string)
	walk = func(ls []*Layer, role Role, path []string) {
		for _, l := range ls {
			if l == nil {
				continue
			}
			if l.Kind() == LayerTypeGroup {
				walk(l.Layers, role, append(append([]string(nil), path...), l.ID.Value))
				continue
			}
			r := role
			if role == RoleBasemap && l.IsReference {
				r = RoleReference
			}
			out = append(out, newEntry(l, r, path))
		}
	}
	walk(wm.OperationalLayers, RoleOperational, nil)
	if wm.BaseMap != nil {
		walk(wm.BaseMap.BaseMapLayers, RoleBasemap, nil)
	}
	for _, t := range wm.Tables {
		if t != nil {
			out = append(out, newEntry(t, RoleTable, nil))
		}
	}
	return out
}

// Rewrite returns a copy of the web map for the offline package: fn sees
// every entry of the copy (in Entries order) and may change its Layer (point
// its URL at the local store, for instance); entries for which fn returns
// false are removed, and group layers left empty go with them. Unknown
// members are kept. The receiver is not changed.
func (wm *WebMap) Rewrite(fn func(e *Entry) bool) (*WebMap, error) {
	c, err := wm.Clone()
	if err != nil {
		return nil, err
	}
	var walk func(ls []*Layer, role Role, path []string) []*Layer
	walk = func(ls []*Layer, role Role, path []string) []*Layer {
		out := ls[:0]
		for _, l := range ls {
			if l == nil {
				continue
			}
			if l.Kind() == LayerTypeGroup {
				l.Layers = walk(l.Layers, role, append(append([]string(nil), path...), l.ID.Value))
				if len(l.Layers) > 0 {
					out = append(out, l)
				}
				continue
			}
			r := role
			if role == RoleBasemap && l.IsReference {
				r = RoleReference
			}
			if fn(newEntry(l, r, path)) {
				out = append(out, l)
			}
		}
		return out
	}
	c.OperationalLayers = walk(c.OperationalLayers, RoleOperational, nil)
	if c.BaseMap != nil {
		c.BaseMap.BaseMapLayers = walk(c.BaseMap.BaseMapLayers, RoleBasemap, nil)
	}
	if c.Tables != nil {
		c.Tables = walk(c.Tables, RoleTable, nil)
	}
	return c, nil
}

func newEntry(l *Layer, role Role, path []string) *Entry {
	e := &Entry{ID: l.ID.Value, Title: l.Title, Role: role, LayerType: l.Kind(), Path: path, Layer: l}
	if role == RoleTable {
		e.LayerType = LayerTypeTable
	}
	u := l.URL
	if u == "" && e.LayerType == LayerTypeVectorTile {
		u = l.StyleURL
	}
	if ref, ok := ParseServiceURL(u); ok {
		e.Service, e.HasService = ref, true
	}
	switch {
	case e.HasService && e.Service.HasLayer && isFeatureType(e.LayerType):
		e.Key = e.Service.Key()
	case e.HasService && !isFeatureType(e.LayerType):
		e.Key = ServiceKey(e.Service.URL)
	case u != "" && !keyedByID(e.LayerType):
		e.Key = Key(NormalizeURL(u))
	default:
		e.Key = Key(fmt.Sprintf("webmap:%s:%s", role, l.ID.Value))
	}
	return e
}

// isFeatureType reports whether a web map layer type is read as features
// from one service layer.
func isFeatureType(layerType string) bool {
	switch layerType {
	case LayerTypeFeature, LayerTypeSubtypeGroup, LayerTypeTable:
		return true
	}
	return false
}

// GroupLayer is one service layer or table of a ServiceGroup, with every web
// map entry that references it.
type GroupLayer struct {
	ID      int      `json:"id"`
	Key     Key      `json:"key"`
	IsTable bool     `json:"isTable,omitempty"`
	Entries []*Entry `json:"-"`
	// Where is the combined definition expression of the entries ("" means
	// no filter). See CombineWhere.
	Where string `json:"where,omitempty"`
}

// ServiceGroup is a feature service with the layers and tables the web map
// takes from it: one replica (or one snapshot) offline.
type ServiceGroup struct {
	Key    Key           `json:"key"`
	URL    string        `json:"url"`
	Type   ServiceType   `json:"type"`
	Layers []*GroupLayer `json:"layers"`
}

// Layer returns the group's layer with the given id, or nil.
func (g *ServiceGroup) Layer(id int) *GroupLayer {
	for _, l := range g.Layers {
		if l.ID == id {
			return l
		}
	}
	return nil
}

// GroupFeatureEntries groups the feature layers and tables among entries by
// service: several layers of one service become one group (one replica), and
// several entries that reference the same service layer become one
// GroupLayer whose filter is their definition expressions OR-ed (see
// CombineWhere). Entries that are not service feature layers are skipped.
// Groups are sorted by key, layers by id.
func GroupFeatureEntries(entries []*Entry) []*ServiceGroup {
	byKey := map[Key]*ServiceGroup{}
	for _, e := range entries {
		if !e.IsFeature() {
			continue
		}
		sk := ServiceKey(e.Service.URL)
		g := byKey[sk]
		if g == nil {
			g = &ServiceGroup{Key: sk, URL: e.Service.URL, Type: e.Service.Type}
			byKey[sk] = g
		}
		gl := g.Layer(e.Service.LayerID)
		if gl == nil {
			gl = &GroupLayer{ID: e.Service.LayerID, Key: e.Key, IsTable: true}
			g.Layers = append(g.Layers, gl)
		}
		gl.Entries = append(gl.Entries, e)
		if !e.IsTable() {
			gl.IsTable = false
		}
	}
	out := make([]*ServiceGroup, 0, len(byKey))
	for _, g := range byKey {
		sort.Slice(g.Layers, func(i, j int) bool { return g.Layers[i].ID < g.Layers[j].ID })
		for _, gl := range g.Layers {
			exprs := make([]string, len(gl.Entries))
			for i, e := range gl.Entries {
				exprs[i] = e.Layer.DefinitionExpression()
			}
			gl.Where = CombineWhere(exprs)
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// IsFeature reports whether the entry reads features from one layer of an
// ArcGIS service (a feature layer or table with a service layer URL).
func (e *Entry) IsFeature() bool {
	return isFeatureType(e.LayerType) && e.HasService && e.Service.HasLayer &&
		(e.Service.Type == FeatureServer || e.Service.Type == MapServer) && len(e.Layer.FeatureCollection) == 0
}

// CombineWhere merges the definition expressions of several references to
// one service layer, as Esri's packager does: if any reference has no filter
// the layer is taken unfiltered (""); otherwise the distinct expressions are
// OR-ed, each in parentheses.
func CombineWhere(exprs []string) string {
	var uniq []string
	seen := map[string]bool{}
	for _, e := range exprs {
		e = strings.TrimSpace(e)
		if e == "" {
			return ""
		}
		if !seen[e] {
			seen[e] = true
			uniq = append(uniq, e)
		}
	}
	switch len(uniq) {
	case 0:
		return ""
	case 1:
		return uniq[0]
	}
	parts := make([]string, len(uniq))
	for i, e := range uniq {
		parts[i] = "(" + e + ")"
	}
	return strings.Join(parts, " OR ")
}
