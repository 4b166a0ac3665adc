package ogc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

// ErrFeatures wraps every failure to read an OGC API – Features or GeoJSON
// document.
var ErrFeatures = errors.New("ogc features")

// Link is an OGC API link.
type Link struct {
	Href string `json:"href"`
	Rel  string `json:"rel"`
	Type string `json:"type,omitempty"`
}

// Collection is an OGC API – Features collection description.
type Collection struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Links       []Link `json:"links"`
	Extent      struct {
		Spatial struct {
			BBox [][]float64 `json:"bbox"`
			CRS  string      `json:"crs"`
		} `json:"spatial"`
	} `json:"extent"`
	ItemType string `json:"itemType"`
}

// ParseCollection reads a collection description.
func ParseCollection(b []byte) (*Collection, error) {
	var c Collection
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%w: collection: %v", ErrFeatures, err)
	}
	if c.ID == "" {
		return nil, fmt.Errorf("%w: collection has no id", ErrFeatures)
	}
	if c.ItemType != "" && !strings.EqualFold(c.ItemType, "feature") {
		return nil, fmt.Errorf("%w: collection %q holds %q items, not features", ErrFeatures, c.ID, c.ItemType)
	}
	return &c, nil
}

// LinkHref returns the href of the first link with rel (and, when typ is
// not "", that media type), resolved against base.
func LinkHref(links []Link, rel, typ, base string) string {
	for _, l := range links {
		if l.Rel == rel && (typ == "" || strings.HasPrefix(l.Type, typ)) {
			return resolve(base, l.Href)
		}
	}
	return ""
}

func resolve(base, ref string) string {
	b, err1 := url.Parse(base)
	r, err2 := url.Parse(ref)
	if err1 != nil || err2 != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

// Property is a queryable (or schema) property: its JSON Schema type and
// format.
type Property struct {
	Type   any    `json:"type"`
	Format string `json:"format"`
	Role   string `json:"x-ogc-role"`
	Ref    string `json:"$ref"`
	Title  string `json:"title"`
	// MaxLength bounds a string's length when given.
	MaxLength int `json:"maxLength"`
}

// ParseQueryables reads a queryables or schema document (JSON Schema with
// "properties"); geometry properties are left out.
func ParseQueryables(b []byte) (map[string]Property, error) {
	var d struct {
		Properties map[string]Property `json:"properties"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%w: queryables: %v", ErrFeatures, err)
	}
	out := map[string]Property{}
	for name, p := range d.Properties {
		if p.Role == "primary-geometry" || strings.HasPrefix(p.Format, "geometry") || strings.Contains(p.Ref, "geojson") {
			continue
		}
		out[name] = p
	}
	return out, nil
}

// Feature is a GeoJSON feature as read.
type Feature struct {
	ID         json.RawMessage            `json:"id"`
	Geometry   json.RawMessage            `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// Page is one GeoJSON FeatureCollection page.
type Page struct {
	Type     string    `json:"type"`
	Features []Feature `json:"features"`
	Links    []Link    `json:"links"`
	// NumberMatched is the server's total, -1 when not given.
	NumberMatched int64 `json:"-"`
}

// ParsePage reads a GeoJSON FeatureCollection (an items page or a GeoJSON
// file); a lone Feature is a page of one.
func ParsePage(b []byte) (*Page, error) {
	var p struct {
		Page
		Matched *int64 `json:"numberMatched"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: GeoJSON: %v", ErrFeatures, err)
	}
	switch p.Type {
	case "FeatureCollection":
	case "Feature":
		var f Feature
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("%w: GeoJSON: %v", ErrFeatures, err)
		}
		return &Page{Type: "FeatureCollection", Features: []Feature{f}, NumberMatched: 1}, nil
	default:
		return nil, fmt.Errorf("%w: GeoJSON type %q is not a FeatureCollection", ErrFeatures, p.Type)
	}
	pg := p.Page
	pg.NumberMatched = -1
	if p.Matched != nil {
		pg.NumberMatched = *p.Matched
	}
	return &pg, nil
}

// Geometry families (a GeoPackage table has one).
const (
	famNone = iota
	famPoint
	famMultiPoint
	famLine
	famPolygon
)

var famTypes = map[int]string{famPoint: arcgis.GeometryPoint, famMultiPoint: arcgis.GeometryMultipoint,
	famLine: arcgis.GeometryPolyline, famPolygon: arcgis.GeometryPolygon}

func family(gtype string) int {
	switch gtype {
	case "Point":
		return famPoint
	case "MultiPoint":
		return famMultiPoint
	case "LineString", "MultiLineString":
		return famLine
	case "Polygon", "MultiPolygon":
		return famPolygon
	}
	return famNone
}

// Schema is the layer definition snapshots get: an OBJECTID, the feature
// id as "ogc_id", one field per property, and the geometry type of the
// most common geometry family.
type Schema struct {
	Layer arcgis.Layer
	// names maps each property to its field name.
	names map[string]string
	types map[string]string
	fam   int
	hasZ  bool
}

// fieldState is what the data says about one property.
type fieldState struct {
	ints, floats, bools, strs, dates, other int
	maxLen                                  int
	big                                     bool
}

// InferSchema types the properties of feats: a queryable's type when the
// server offers one, else the values' (integers, numbers, booleans,
// RFC 3339 date-times, strings; objects and arrays are kept as JSON text).
func InferSchema(name string, feats []Feature, queryables map[string]Property) *Schema {
	st := map[string]*fieldState{}
	var order []string
	fams := map[int]int{}
	hasZ := false
	for i := range feats {
		f := &feats[i]
		var g struct {
			Type        string          `json:"type"`
			Coordinates json.RawMessage `json:"coordinates"`
		}
		if json.Unmarshal(f.Geometry, &g) == nil && family(g.Type) != famNone {
			fams[family(g.Type)]++
			hasZ = hasZ || has3D(g.Coordinates)
		}
		keys := make([]string, 0, len(f.Properties))
		for k := range f.Properties {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			s := st[k]
			if s == nil {
				s = &fieldState{}
				st[k] = s
				order = append(order, k)
			}
			observe(s, f.Properties[k])
		}
	}
	for k := range queryables {
		if st[k] == nil {
			st[k] = &fieldState{}
			order = append(order, k)
		}
	}
	sc := &Schema{names: map[string]string{}, types: map[string]string{}, hasZ: hasZ}
	best := 0
	for _, fam := range []int{famPoint, famMultiPoint, famLine, famPolygon} {
		if fams[fam] > best {
			best, sc.fam = fams[fam], fam
		}
	}
	l := &sc.Layer
	l.Name, l.ObjectIDField, l.Capabilities = name, "OBJECTID", "Query"
	l.SpatialReference = &arcgis.SpatialReference{WKID: 4326, LatestWKID: 4326}
	if sc.fam == famNone {
		l.Type = "Table"
	} else {
		l.Type, l.GeometryType, l.HasZ = "Feature Layer", famTypes[sc.fam], hasZ
	}
	l.Fields = []arcgis.Field{{Name: "OBJECTID", Type: arcgis.FieldOID, Alias: "OBJECTID"},
		{Name: "ogc_id", Type: arcgis.FieldString, Alias: "id", Length: 255}}
	used := map[string]bool{"objectid": true, "ogc_id": true, "geom": true, "shape": true}
	for _, k := range order {
		fname := fieldName(k, used)
		typ, length := st[k].fieldType()
		if q, ok := queryables[k]; ok {
			// The server's type, unless the data holds text it cannot store.
			if t, ok := queryableType(q); ok && (st[k].strs+st[k].other == 0 || t == arcgis.FieldString) {
				typ = t
			}
			if q.MaxLength > 0 {
				length = q.MaxLength
			}
		}
		if typ != arcgis.FieldString {
			length = 0
		} else if length < 255 {
			length = 255
		}
		sc.names[k], sc.types[k] = fname, typ
		l.Fields = append(l.Fields, arcgis.Field{Name: fname, Type: typ, Alias: k, Length: length})
	}
	return sc
}

// has3D reports whether the first position of coordinates has three numbers.
func has3D(c json.RawMessage) bool {
	b := bytes.TrimLeft(c, "[ \t\r\n")
	i := bytes.IndexByte(b, ']')
	if i < 0 {
		return false
	}
	return bytes.Count(b[:i], []byte(",")) >= 2
}

func observe(s *fieldState, v json.RawMessage) {
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if d.Decode(&x) != nil || x == nil {
		return
	}
	switch t := x.(type) {
	case json.Number:
		if i, err := t.Int64(); err == nil {
			s.ints++
			s.big = s.big || i > math.MaxInt32 || i < math.MinInt32
		} else {
			s.floats++
		}
	case bool:
		s.bools++
	case string:
		if _, err := time.Parse(time.RFC3339, t); err == nil {
			s.dates++
		} else {
			s.strs++
		}
		s.maxLen = max(s.maxLen, len(t))
	default:
		s.other++
		s.maxLen = max(s.maxLen, len(v))
	}
}

// fieldType is the Esri field type the values fit.
func (s *fieldState) fieldType() (string, int) {
	switch {
	case s.strs+s.other > 0 || (s.dates > 0 && s.ints+s.floats+s.bools > 0):
		return arcgis.FieldString, s.maxLen
	case s.dates > 0:
		return arcgis.FieldDate, 0
	case s.bools > 0 && s.ints+s.floats == 0:
		return arcgis.FieldSmallInteger, 0
	case s.floats > 0 || (s.bools > 0):
		return arcgis.FieldDouble, 0
	case s.ints > 0 && s.big:
		return arcgis.FieldBigInteger, 0
	case s.ints > 0:
		return arcgis.FieldInteger, 0
	}
	return arcgis.FieldString, s.maxLen
}

// queryableType maps a JSON Schema type to an Esri field type.
func queryableType(q Property) (string, bool) {
	t, _ := q.Type.(string)
	if arr, ok := q.Type.([]any); ok {
		for _, v := range arr {
			if s, _ := v.(string); s != "" && s != "null" {
				t = s
			}
		}
	}
	switch t {
	case "integer":
		return arcgis.FieldBigInteger, true
	case "number":
		return arcgis.FieldDouble, true
	case "boolean":
		return arcgis.FieldSmallInteger, true
	case "string":
		if q.Format == "date-time" {
			return arcgis.FieldDate, true
		}
		return arcgis.FieldString, true
	}
	return "", false
}

// fieldName makes a property name a unique, safe column name.
func fieldName(k string, used map[string]bool) string {
	var b strings.Builder
	for _, r := range k {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	n := b.String()
	if n == "" {
		n = "field"
	}
	if len(n) > 60 {
		n = n[:60]
	}
	base := n
	for i := 2; used[strings.ToLower(n)]; i++ {
		n = fmt.Sprintf("%s_%d", base, i)
	}
	used[strings.ToLower(n)] = true
	return n
}

// Esri returns f as an Esri JSON feature of the schema (OBJECTID is given
// by oid); a geometry of another family than the layer's, or one that
// cannot be read, is null (mismatched counts it).
func (sc *Schema) Esri(f *Feature, oid int64) (arcgis.Feature, bool) {
	attrs := map[string]any{"OBJECTID": oid}
	if len(f.ID) > 0 && string(f.ID) != "null" {
		var s string
		if json.Unmarshal(f.ID, &s) != nil {
			s = string(f.ID)
		}
		attrs["ogc_id"] = s
	}
	for k, raw := range f.Properties {
		name, ok := sc.names[k]
		if !ok {
			continue
		}
		attrs[name] = value(raw, sc.types[k])
	}
	out := arcgis.Feature{Attributes: attrs}
	if sc.fam == famNone || len(f.Geometry) == 0 || string(f.Geometry) == "null" {
		return out, true
	}
	g, fam, err := EsriGeometry(f.Geometry, sc.hasZ)
	if err != nil || fam != sc.fam {
		return out, false
	}
	out.Geometry = g
	return out, true
}

// value converts a JSON value to the field type's Esri JSON value.
func value(raw json.RawMessage, typ string) any {
	var x any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if d.Decode(&x) != nil || x == nil {
		return nil
	}
	switch typ {
	case arcgis.FieldDate:
		if s, ok := x.(string); ok {
			if t, err := time.Parse(time.RFC3339, s); err == nil {
				return t.UnixMilli()
			}
		}
		return nil
	case arcgis.FieldSmallInteger, arcgis.FieldInteger, arcgis.FieldBigInteger, arcgis.FieldDouble:
		switch t := x.(type) {
		case bool:
			if t {
				return 1
			}
			return 0
		case json.Number:
			if i, err := t.Int64(); err == nil {
				return i
			}
			if f, err := t.Float64(); err == nil {
				return f
			}
		case string:
			return t
		}
		return nil
	}
	switch t := x.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		if t {
			return "true"
		}
		return "false"
	}
	return string(raw)
}
