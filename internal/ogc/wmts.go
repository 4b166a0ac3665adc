// Package ogc reads OGC web service documents that offlined takes offline:
// the WMTS 1.0.0 capabilities document (tile matrix sets, layers, tile URL
// templates in the RESTful and KVP encodings) and OGC API – Features
// responses (collections, queryables, GeoJSON item pages).
package ogc

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// MaxCapabilitiesBytes bounds a WMTS capabilities document.
const MaxCapabilitiesBytes = 16 << 20

// metresPerDegree is the WMTS standard's metres per unit of a degree-based
// CRS (the WGS84 equator: 2π·6378137/360).
const metresPerDegree = 111319.49079327358

// pixelSize is the WMTS standardized rendering pixel size in metres (0.28 mm).
const pixelSize = 0.00028

// ErrCapabilities wraps every failure to read a capabilities document.
var ErrCapabilities = errors.New("wmts capabilities")

// Capabilities is the part of a WMTS capabilities document a download needs.
type Capabilities struct {
	Layers         []Layer
	TileMatrixSets []TileMatrixSet
	// KVPGetTile is the GetTile URL of the KVP encoding (from
	// OperationsMetadata), "" when the server offers none.
	KVPGetTile string
}

// Layer is one WMTS layer.
type Layer struct {
	Identifier string
	Title      string
	Formats    []string
	// Styles lists the style identifiers; DefaultStyle the one marked
	// isDefault (else the first).
	Styles       []string
	DefaultStyle string
	// MatrixSets are the identifiers of the linked tile matrix sets.
	MatrixSets []string
	// Resources are the RESTful tile URL templates.
	Resources []ResourceURL
	// Dimensions maps each dimension identifier to its default value.
	Dimensions map[string]string
	// WGS84Bounds is lon/lat west, south, east, north (nil when absent).
	WGS84Bounds []float64
}

// ResourceURL is a RESTful tile URL template.
type ResourceURL struct {
	Format   string
	Template string
}

// TileMatrixSet is a tiling scheme.
type TileMatrixSet struct {
	Identifier string
	// CRS is the SupportedCRS as written; EPSG its EPSG code (4326 for
	// CRS84, 3857 for the Web Mercator aliases), 0 when unknown.
	CRS      string
	EPSG     int
	Matrices []TileMatrix
}

// TileMatrix is one level of a tile matrix set.
type TileMatrix struct {
	Identifier       string
	ScaleDenominator float64
	// Left and Top are the top-left corner in x/y (east/north) order,
	// whatever the CRS's axis order in the document.
	Left, Top                 float64
	TileWidth, TileHeight     int
	MatrixWidth, MatrixHeight int
}

// xml shapes of the document (namespaces ignored: encoding/xml matches local
// names when the tag has no namespace).
type xmlCaps struct {
	Operations []xmlOperation `xml:"OperationsMetadata>Operation"`
	Layers     []xmlLayer     `xml:"Contents>Layer"`
	Sets       []xmlSet       `xml:"Contents>TileMatrixSet"`
}

type xmlOperation struct {
	Name string   `xml:"name,attr"`
	Gets []xmlGet `xml:"DCP>HTTP>Get"`
}

type xmlGet struct {
	Href     string   `xml:"href,attr"`
	Encoding []string `xml:"Constraint>AllowedValues>Value"`
}

type xmlLayer struct {
	Identifier string `xml:"Identifier"`
	Title      string `xml:"Title"`
	Styles     []struct {
		Default    string `xml:"isDefault,attr"`
		Identifier string `xml:"Identifier"`
	} `xml:"Style"`
	Formats   []string `xml:"Format"`
	Links     []string `xml:"TileMatrixSetLink>TileMatrixSet"`
	Resources []struct {
		Format   string `xml:"format,attr"`
		Type     string `xml:"resourceType,attr"`
		Template string `xml:"template,attr"`
	} `xml:"ResourceURL"`
	Dimensions []struct {
		Identifier string `xml:"Identifier"`
		Default    string `xml:"Default"`
	} `xml:"Dimension"`
	WGS84 *struct {
		Lower string `xml:"LowerCorner"`
		Upper string `xml:"UpperCorner"`
	} `xml:"WGS84BoundingBox"`
}

type xmlSet struct {
	Identifier string `xml:"Identifier"`
	CRS        string `xml:"SupportedCRS"`
	Matrices   []struct {
		Identifier string `xml:"Identifier"`
		Scale      string `xml:"ScaleDenominator"`
		TopLeft    string `xml:"TopLeftCorner"`
		TileWidth  int    `xml:"TileWidth"`
		TileHeight int    `xml:"TileHeight"`
		Width      int    `xml:"MatrixWidth"`
		Height     int    `xml:"MatrixHeight"`
	} `xml:"TileMatrix"`
}

// ParseCapabilities reads a WMTS 1.0.0 capabilities document. Matrix sets
// with unreadable numbers are an error; a layer may link to sets the
// document does not define (Layer.MatrixSets keeps them; MatrixSet says).
func ParseCapabilities(b []byte) (*Capabilities, error) {
	if len(b) > MaxCapabilitiesBytes {
		return nil, fmt.Errorf("%w: document of %d bytes is over the %d byte limit", ErrCapabilities, len(b), MaxCapabilitiesBytes)
	}
	var x xmlCaps
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCapabilities, err)
	}
	c := &Capabilities{}
	for _, op := range x.Operations {
		if op.Name != "GetTile" {
			continue
		}
		for _, g := range op.Gets {
			for _, enc := range g.Encoding {
				if strings.EqualFold(strings.TrimSpace(enc), "KVP") && c.KVPGetTile == "" {
					c.KVPGetTile = strings.TrimSpace(g.Href)
				}
			}
		}
	}
	for _, xl := range x.Layers {
		l := Layer{Identifier: strings.TrimSpace(xl.Identifier), Title: strings.TrimSpace(xl.Title), Dimensions: map[string]string{}}
		for _, f := range xl.Formats {
			l.Formats = append(l.Formats, strings.TrimSpace(f))
		}
		for _, s := range xl.Styles {
			id := strings.TrimSpace(s.Identifier)
			l.Styles = append(l.Styles, id)
			if s.Default == "true" || s.Default == "1" {
				l.DefaultStyle = id
			}
		}
		if l.DefaultStyle == "" && len(l.Styles) > 0 {
			l.DefaultStyle = l.Styles[0]
		}
		for _, m := range xl.Links {
			l.MatrixSets = append(l.MatrixSets, strings.TrimSpace(m))
		}
		for _, r := range xl.Resources {
			if strings.EqualFold(r.Type, "tile") && r.Template != "" {
				l.Resources = append(l.Resources, ResourceURL{Format: strings.TrimSpace(r.Format), Template: strings.TrimSpace(r.Template)})
			}
		}
		for _, d := range xl.Dimensions {
			l.Dimensions[strings.TrimSpace(d.Identifier)] = strings.TrimSpace(d.Default)
		}
		if xl.WGS84 != nil {
			lo, err1 := numbers(xl.WGS84.Lower, 2)
			hi, err2 := numbers(xl.WGS84.Upper, 2)
			if err1 == nil && err2 == nil {
				l.WGS84Bounds = []float64{lo[0], lo[1], hi[0], hi[1]}
			}
		}
		c.Layers = append(c.Layers, l)
	}
	for _, xs := range x.Sets {
		s := TileMatrixSet{Identifier: strings.TrimSpace(xs.Identifier), CRS: strings.TrimSpace(xs.CRS)}
		s.EPSG = EPSGOf(s.CRS)
		for _, xm := range xs.Matrices {
			m := TileMatrix{Identifier: strings.TrimSpace(xm.Identifier), TileWidth: xm.TileWidth, TileHeight: xm.TileHeight,
				MatrixWidth: xm.Width, MatrixHeight: xm.Height}
			sd, err := strconv.ParseFloat(strings.TrimSpace(xm.Scale), 64)
			if err != nil || !(sd > 0) || math.IsInf(sd, 0) {
				return nil, fmt.Errorf("%w: tile matrix set %q matrix %q: scale denominator %q is not a positive number", ErrCapabilities, s.Identifier, m.Identifier, xm.Scale)
			}
			m.ScaleDenominator = sd
			tl, err := numbers(xm.TopLeft, 2)
			if err != nil {
				return nil, fmt.Errorf("%w: tile matrix set %q matrix %q: top left corner: %v", ErrCapabilities, s.Identifier, m.Identifier, err)
			}
			m.Left, m.Top = tl[0], tl[1]
			if latFirst(s.CRS) {
				m.Left, m.Top = tl[1], tl[0]
			}
			if m.TileWidth <= 0 || m.TileHeight <= 0 || m.TileWidth > 4096 || m.TileHeight > 4096 {
				return nil, fmt.Errorf("%w: tile matrix set %q matrix %q: tile size %dx%d is not within 1..4096", ErrCapabilities, s.Identifier, m.Identifier, m.TileWidth, m.TileHeight)
			}
			s.Matrices = append(s.Matrices, m)
		}
		c.TileMatrixSets = append(c.TileMatrixSets, s)
	}
	return c, nil
}

// numbers reads n whitespace-separated finite numbers.
func numbers(s string, n int) ([]float64, error) {
	f := strings.Fields(s)
	if len(f) != n {
		return nil, fmt.Errorf("%q: want %d numbers", s, n)
	}
	out := make([]float64, n)
	for i, v := range f {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("%q: %q is not a number", s, v)
		}
		out[i] = x
	}
	return out, nil
}

// EPSGOf returns the EPSG code a SupportedCRS names (urn:ogc:def:crs:EPSG::3857,
// urn:ogc:def:crs:EPSG:6.18:3:3857, EPSG:3857, http://www.opengis.net/def/crs/EPSG/0/3857);
// CRS84 is 4326 and the Web Mercator aliases (900913, 102100, 102113, 3785)
// are 3857. 0 when the CRS names no EPSG code.
func EPSGOf(crs string) int {
	s := strings.TrimSpace(crs)
	u := strings.ToUpper(s)
	if strings.HasSuffix(u, "CRS84") || strings.HasSuffix(u, ":84") || strings.HasSuffix(u, "/CRS84") {
		return 4326
	}
	i := strings.LastIndexAny(s, ":/")
	if i < 0 || !strings.Contains(u, "EPSG") && !strings.Contains(u, "ESRI") {
		return 0
	}
	code, err := strconv.Atoi(s[i+1:])
	if err != nil {
		return 0
	}
	switch code {
	case 900913, 102100, 102113, 3785:
		return 3857
	}
	return code
}

// latFirst reports whether the CRS's axis order is latitude first (EPSG
// geographic CRSs named by URN or URL, as WMTS corners are written in the
// CRS's own order). "EPSG:4326" written bare and CRS84 are longitude first
// by common practice.
func latFirst(crs string) bool {
	u := strings.ToUpper(crs)
	if !strings.Contains(u, "URN:") && !strings.Contains(u, "HTTP") {
		return false
	}
	return EPSGOf(crs) == 4326 && !strings.Contains(u, "CRS84") && !strings.HasSuffix(u, ":84")
}

// Layer returns the layer with the identifier, or nil.
func (c *Capabilities) Layer(id string) *Layer {
	for i := range c.Layers {
		if c.Layers[i].Identifier == id {
			return &c.Layers[i]
		}
	}
	return nil
}

// MatrixSet returns the tile matrix set with the identifier, or nil.
func (c *Capabilities) MatrixSet(id string) *TileMatrixSet {
	for i := range c.TileMatrixSets {
		if c.TileMatrixSets[i].Identifier == id {
			return &c.TileMatrixSets[i]
		}
	}
	return nil
}

// TileInfo returns the set as an ArcGIS tiling scheme: one level per
// matrix in document order (level i is Matrices[i]), resolutions from the
// scale denominators at 0.28 mm pixels, the origin at the first matrix's
// top-left corner. Every matrix must share that corner and the tile size
// (an ArcGIS tiling scheme has one origin); only EPSG:3857 and EPSG:4326
// sets are supported.
func (s *TileMatrixSet) TileInfo() (arcgis.TileInfo, error) {
	var ti arcgis.TileInfo
	if len(s.Matrices) == 0 {
		return ti, fmt.Errorf("tile matrix set %q has no tile matrix", s.Identifier)
	}
	var mpu float64
	switch s.EPSG {
	case 3857:
		mpu = 1
		ti.SpatialReference = &arcgis.SpatialReference{WKID: 102100, LatestWKID: 3857}
	case 4326:
		mpu = metresPerDegree
		ti.SpatialReference = &arcgis.SpatialReference{WKID: 4326}
	default:
		return ti, fmt.Errorf("tile matrix set %q is in CRS %q: only Web Mercator (EPSG:3857) and WGS84 (EPSG:4326, CRS84) sets can be taken offline", s.Identifier, s.CRS)
	}
	m0 := s.Matrices[0]
	ti.Rows, ti.Cols, ti.DPI = m0.TileHeight, m0.TileWidth, 96
	ti.Origin = arcgis.Point2D{X: m0.Left, Y: m0.Top}
	seen := map[string]bool{}
	for i, m := range s.Matrices {
		if seen[m.Identifier] {
			return ti, fmt.Errorf("tile matrix set %q lists matrix %q twice", s.Identifier, m.Identifier)
		}
		seen[m.Identifier] = true
		if m.TileWidth != m0.TileWidth || m.TileHeight != m0.TileHeight {
			return ti, fmt.Errorf("tile matrix set %q: matrix %q has %dx%d tiles, not %dx%d like the first", s.Identifier, m.Identifier, m.TileWidth, m.TileHeight, m0.TileWidth, m0.TileHeight)
		}
		tol := 1e-6 * math.Max(1, math.Max(math.Abs(m0.Left), math.Abs(m0.Top)))
		if math.Abs(m.Left-m0.Left) > tol || math.Abs(m.Top-m0.Top) > tol {
			return ti, fmt.Errorf("tile matrix set %q: matrix %q has another top-left corner than the first (one origin is needed)", s.Identifier, m.Identifier)
		}
		res := m.ScaleDenominator * pixelSize / mpu
		// ArcGIS scales are at 96 dpi: scale = resolution·mpu·96/0.0254.
		ti.LODs = append(ti.LODs, arcgis.LOD{Level: i, Resolution: res, Scale: res * mpu * 96 / 0.0254})
	}
	return ti, nil
}

// Grid returns the matrix size of level (a matrix's index) for cover
// clipping: its width and height in tiles.
func (s *TileMatrixSet) Grid(level int) (cols, rows int, ok bool) {
	if level < 0 || level >= len(s.Matrices) {
		return 0, 0, false
	}
	return s.Matrices[level].MatrixWidth, s.Matrices[level].MatrixHeight, true
}

// TileURL builds tile URLs of one layer, style and matrix set.
type TileURL struct {
	// template is a RESTful template, or "" for KVP.
	template string
	kvp      string
	layer    string
	style    string
	set      string
	format   string
	dims     map[string]string
	matrices []string
}

// NewTileURL returns the URL builder for the layer in set (nil: the first
// linked set) with style ("" : the default) and format ("": the first
// ResourceURL's, else the first Format). A RESTful template is preferred;
// kvp is the GetTile URL used when the layer has none (or forceKVP).
func (c *Capabilities) NewTileURL(l *Layer, set *TileMatrixSet, style, format string, forceKVP bool) (*TileURL, error) {
	if style == "" {
		style = l.DefaultStyle
	}
	if style == "" {
		style = "default"
	}
	t := &TileURL{layer: l.Identifier, style: style, set: set.Identifier, dims: l.Dimensions}
	for _, m := range set.Matrices {
		t.matrices = append(t.matrices, m.Identifier)
	}
	if !forceKVP {
		for _, r := range l.Resources {
			if format == "" || strings.EqualFold(r.Format, format) {
				t.template, t.format = r.Template, r.Format
				break
			}
		}
	}
	if t.template == "" {
		if c.KVPGetTile == "" {
			return nil, fmt.Errorf("layer %q has no tile ResourceURL and the service no KVP GetTile", l.Identifier)
		}
		t.kvp, t.format = c.KVPGetTile, format
		if t.format == "" && len(l.Formats) > 0 {
			t.format = l.Formats[0]
		}
		if t.format == "" {
			t.format = "image/png"
		}
	}
	probe := t.URL(0, 0, 0)
	u, err := url.Parse(probe)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tile URL %q is not an absolute http(s) URL", probe)
	}
	if strings.ContainsAny(probe, "{}") {
		return nil, fmt.Errorf("tile URL template %q has a placeholder offlined cannot fill", t.template)
	}
	return t, nil
}

// Format is the MIME type of the tiles.
func (t *TileURL) Format() string { return t.format }

// URL returns the URL of the tile at level (matrix index), row and column.
func (t *TileURL) URL(level, row, col int) string {
	matrix := strconv.Itoa(level)
	if level >= 0 && level < len(t.matrices) {
		matrix = t.matrices[level]
	}
	if t.template != "" {
		r := []string{"{TileMatrixSet}", t.set, "{TileMatrix}", matrix, "{TileRow}", strconv.Itoa(row),
			"{TileCol}", strconv.Itoa(col), "{Style}", t.style, "{Layer}", t.layer}
		for k, v := range t.dims {
			r = append(r, "{"+k+"}", v)
		}
		return caseInsensitiveReplace(t.template, r)
	}
	q := url.Values{}
	q.Set("SERVICE", "WMTS")
	q.Set("REQUEST", "GetTile")
	q.Set("VERSION", "1.0.0")
	q.Set("LAYER", t.layer)
	q.Set("STYLE", t.style)
	q.Set("TILEMATRIXSET", t.set)
	q.Set("TILEMATRIX", matrix)
	q.Set("TILEROW", strconv.Itoa(row))
	q.Set("TILECOL", strconv.Itoa(col))
	q.Set("FORMAT", t.format)
	for k, v := range t.dims {
		q.Set(k, v)
	}
	base := t.kvp
	switch {
	case strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&"):
	case strings.Contains(base, "?"):
		base += "&"
	default:
		base += "?"
	}
	return base + q.Encode()
}

// caseInsensitiveReplace replaces each {Name} placeholder of pairs in s,
// matching the name without regard to case.
func caseInsensitiveReplace(s string, pairs []string) string {
	var b strings.Builder
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexByte(s, '}')
		if j < 0 {
			b.WriteString(s)
			break
		}
		tok := s[:j+1]
		out := tok
		for k := 0; k+1 < len(pairs); k += 2 {
			if strings.EqualFold(pairs[k], tok) {
				out = pairs[k+1]
				break
			}
		}
		b.WriteString(out)
		s = s[j+1:]
	}
	return b.String()
}
