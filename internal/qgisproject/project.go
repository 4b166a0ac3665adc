// Package qgisproject writes a QGIS project (.qgs) over an offline map
// package: the web map's layers in order with their titles, visibility,
// scale ranges, field aliases, symbology, domains and relationships, with
// paths relative to the project so the folder can be copied to a QField
// device. It knows nothing of offlined's package model: the caller fills a
// Project.
package qgisproject

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/offlined/offlined/internal/atomicfile"
)

// Kind is what a project layer reads.
type Kind string

// Layer kinds.
const (
	KindFeatures    Kind = "features"    // a GeoPackage feature table
	KindTable       Kind = "table"       // a GeoPackage attribute table
	KindRaster      Kind = "raster"      // raster tiles in MBTiles
	KindVectorTiles Kind = "vectorTiles" // vector tiles in MBTiles
)

// Project is a QGIS project's content.
type Project struct {
	Title string
	// EPSG is the project CRS (the web map's spatial reference); 0 is
	// Web Mercator.
	EPSG int
	// CRSWKT is the project CRS's WKT, needed for CRSs other than EPSG
	// 3857 and 4326 (QGIS does not resolve a bare authid in a project).
	CRSWKT string
	// Extent is the initial extent in the project CRS (nil: none).
	Extent *Rect
	// Layers in web map order: the first is drawn at the bottom.
	Layers    []Layer
	Relations []Relation
}

// Rect is an envelope.
type Rect struct{ XMin, YMin, XMax, YMax float64 }

// Layer is one project layer.
type Layer struct {
	// ID is unique in the project (letters, digits, _ and -).
	ID    string
	Title string
	Kind  Kind
	// Path is the store relative to the project directory ("data/x.gpkg").
	Path string
	// Table is the GeoPackage table of a features or table layer.
	Table string
	// GeometryType is the Esri geometry type of a features layer.
	GeometryType string
	Visible      bool
	// MinScale and MaxScale follow the web map: 0 means no limit.
	MinScale, MaxScale float64
	Fields             []Field
	// Renderer is drawingInfo.renderer (Esri JSON).
	Renderer json.RawMessage
	// VectorStyle is the MapLibre style of a vector tiles layer.
	VectorStyle json.RawMessage
	// Basemap layers are grouped under "Basemap".
	Basemap bool
}

// Field is one attribute's presentation.
type Field struct {
	Name  string
	Alias string
	// Domain is a coded-value domain, shown as a value map.
	Domain []CodedValue
	// Widget names a QGIS editor widget without configuration ("Binary"
	// for an attachment's content); "" for the default or a value map.
	Widget string
}

// CodedValue is one code of a coded-value domain.
type CodedValue struct {
	Code string
	Name string
}

// Relation is a one-to-many relationship between two layers of the project.
type Relation struct {
	ID, Name                 string
	ParentLayer, ParentField string
	ChildLayer, ChildField   string
}

// FileName is the project's file name for a package titled title.
func FileName(title string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(title) {
		switch {
		case r == '/' || r == '\\' || r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|' || r < ' ':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	name := strings.Trim(b.String(), ". ")
	if name == "" {
		name = "map"
	}
	return name + ".qgs"
}

// Write writes the project to dir/FileName(p.Title) atomically and returns
// the path.
func Write(ctx context.Context, dir string, p *Project) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	b, err := Marshal(p)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, FileName(p.Title))
	if err := atomicfile.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("qgis project: %w", err)
	}
	return path, nil
}

// Marshal returns the project XML.
func Marshal(p *Project) ([]byte, error) {
	epsg := p.EPSG
	if epsg == 0 {
		epsg = 3857
	}
	ids := map[string]bool{}
	for _, l := range p.Layers {
		if l.ID == "" || ids[l.ID] {
			return nil, fmt.Errorf("qgis project: layer %q: empty or duplicate id", l.Title)
		}
		ids[l.ID] = true
	}
	root := el("qgis", "projectname", p.Title, "version", "3.22.0-Białowieża")
	root.add(textEl("homePath", ""), textEl("title", p.Title), el("autotransaction", "active", "0"),
		el("evaluateDefaultValues", "active", "0"), el("trust", "active", "0"),
		el("projectFlags", "set", ""), el("projectCrs").add(srs(epsg, p.CRSWKT)))
	root.add(layerTree(p))
	root.add(mapCanvas(p, epsg))
	pl := el("projectlayers")
	for _, l := range p.Layers {
		pl.add(mapLayer(l))
	}
	root.add(pl)
	if len(p.Relations) > 0 {
		rels := el("relations")
		for _, r := range p.Relations {
			if !ids[r.ParentLayer] || !ids[r.ChildLayer] {
				continue
			}
			rels.add(el("relation", "id", r.ID, "name", r.Name, "referencedLayer", r.ParentLayer,
				"referencingLayer", r.ChildLayer, "strength", "Association").add(
				el("fieldRef", "referencedField", r.ParentField, "referencingField", r.ChildField)))
		}
		root.add(rels)
	}
	root.add(viewSettings(p, epsg))
	// QGIS reads <projectCrs> only with ProjectionsEnabled set.
	root.add(el("properties").add(
		el("SpatialRefSys").add(&node{name: "ProjectionsEnabled", attrs: [][2]string{{"type", "int"}}, text: "1"}),
		el("Paths").add(&node{name: "Absolute", attrs: [][2]string{{"type", "bool"}}, text: "false"}),
		el("Measurement").add(&node{name: "DistanceUnits", attrs: [][2]string{{"type", "QString"}}, text: "meters"})))
	var b strings.Builder
	b.WriteString("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n")
	root.write(&b, 0)
	return []byte(b.String()), nil
}

// knownCRS are the definitions QGIS needs beside the authid (it only trusts
// an authid together with its own internal srsid, so a project carries the
// PROJ string and WKT of its CRS).
var knownCRS = map[int][2]string{
	3857: {"+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs",
		`PROJCS["WGS 84 / Pseudo-Mercator",GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AUTHORITY["EPSG","4326"]],PROJECTION["Mercator_1SP"],PARAMETER["central_meridian",0],PARAMETER["scale_factor",1],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1,AUTHORITY["EPSG","9001"]],AXIS["Easting",EAST],AXIS["Northing",NORTH],EXTENSION["PROJ4","+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs"],AUTHORITY["EPSG","3857"]]`},
	4326: {"+proj=longlat +datum=WGS84 +no_defs",
		`GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]`},
}

// srs is a <spatialrefsys>; for a CRS other than Web Mercator and WGS84
// the caller's WKT (from the GeoPackage) is used when given.
func srs(epsg int, wkt string) *node {
	n := el("spatialrefsys", "nativeFormat", "Wkt")
	if k, ok := knownCRS[epsg]; ok {
		n.add(textEl("wkt", k[1]), textEl("proj4", k[0]))
	} else if wkt != "" {
		n.add(textEl("wkt", wkt))
	}
	return n.add(textEl("authid", fmt.Sprintf("EPSG:%d", epsg)))
}

func provider(k Kind) string {
	switch k {
	case KindRaster:
		return "gdal"
	case KindVectorTiles:
		return "vectortile"
	}
	return "ogr"
}

// datasource is the layer's source, relative to the project ("./…").
func datasource(l Layer) string {
	p := "./" + filepath.ToSlash(l.Path)
	switch l.Kind {
	case KindFeatures, KindTable:
		return p + "|layername=" + l.Table
	case KindVectorTiles:
		return "type=mbtiles&url=" + p
	}
	return p
}

// layerTree lists the layers top first: operational layers over the
// basemap group, as the web map draws them.
func layerTree(p *Project) *node {
	tree := el("layer-tree-group").add(el("customproperties"))
	var ops, base []Layer
	for _, l := range p.Layers {
		if l.Basemap {
			base = append(base, l)
		} else {
			ops = append(ops, l)
		}
	}
	item := func(l Layer) *node {
		checked := "Qt::Unchecked"
		if l.Visible {
			checked = "Qt::Checked"
		}
		return el("layer-tree-layer", "checked", checked, "expanded", "1", "id", l.ID, "name", l.Title,
			"providerKey", provider(l.Kind), "source", datasource(l)).add(el("customproperties"))
	}
	for i := len(ops) - 1; i >= 0; i-- {
		tree.add(item(ops[i]))
	}
	if len(base) > 0 {
		g := el("layer-tree-group", "checked", "Qt::Checked", "expanded", "1", "name", "Basemap").add(el("customproperties"))
		for i := len(base) - 1; i >= 0; i-- {
			g.add(item(base[i]))
		}
		tree.add(g)
	}
	return tree
}

func extentNode(name string, r *Rect) *node {
	return el(name).add(textEl("xmin", num(r.XMin)), textEl("ymin", num(r.YMin)), textEl("xmax", num(r.XMax)), textEl("ymax", num(r.YMax)))
}

func mapCanvas(p *Project, epsg int) *node {
	c := el("mapcanvas", "annotationsVisible", "1", "name", "theMapCanvas")
	units := "meters"
	if epsg == 4326 {
		units = "degrees"
	}
	c.add(textEl("units", units))
	if p.Extent != nil {
		c.add(extentNode("extent", p.Extent))
	}
	c.add(textEl("rotation", "0"), el("destinationsrs").add(srs(epsg, p.CRSWKT)), textEl("rendermaptile", "0"))
	return c
}

func viewSettings(p *Project, epsg int) *node {
	v := el("ProjectViewSettings", "UseProjectScales", "0", "rotation", "0").add(el("Scales"))
	if p.Extent != nil {
		r := p.Extent
		v.add(el("DefaultViewExtent", "xmax", num(r.XMax), "xmin", num(r.XMin), "ymax", num(r.YMax), "ymin", num(r.YMin)).add(srs(epsg, p.CRSWKT)))
	}
	return v
}

var geometryNames = map[string]string{
	"esriGeometryPoint": "Point", "esriGeometryMultipoint": "Point",
	"esriGeometryPolyline": "Line", "esriGeometryPolygon": "Polygon", "esriGeometryEnvelope": "Polygon",
}

func mapLayer(l Layer) *node {
	scaled := "0"
	if l.MinScale > 0 || l.MaxScale > 0 {
		scaled = "1"
	}
	var ml *node
	switch l.Kind {
	case KindRaster:
		ml = el("maplayer", "hasScaleBasedVisibilityFlag", scaled, "maxScale", num(l.MaxScale), "minScale", num(l.MinScale), "type", "raster")
	case KindVectorTiles:
		ml = el("maplayer", "hasScaleBasedVisibilityFlag", scaled, "maxScale", num(l.MaxScale), "minScale", num(l.MinScale), "type", "vector-tile")
	case KindTable:
		ml = el("maplayer", "geometry", "No geometry", "hasScaleBasedVisibilityFlag", "0", "maxScale", "0", "minScale", "0", "readOnly", "0", "type", "vector", "wkbType", "NoGeometry")
	default:
		ml = el("maplayer", "geometry", geometryNames[l.GeometryType], "hasScaleBasedVisibilityFlag", scaled, "maxScale", num(l.MaxScale), "minScale", num(l.MinScale), "readOnly", "0", "type", "vector")
	}
	ml.add(textEl("id", l.ID), textEl("datasource", datasource(l)), textEl("layername", l.Title))
	switch l.Kind {
	case KindRaster:
		ml.add(textEl("provider", "gdal"))
	case KindVectorTiles:
		ml.add(textEl("provider", "vectortile"))
		ml.add(vectorTileRenderer(l.VectorStyle))
	default:
		ml.add(&node{name: "provider", attrs: [][2]string{{"encoding", "UTF-8"}}, text: "ogr"})
		ml.add(fieldConfig(l.Fields), aliases(l.Fields))
	}
	if l.Kind == KindFeatures {
		r, translated := rendererXML(l.Renderer, l.GeometryType)
		ml.add(r)
		if !translated {
			ml.add(el("customproperties").add(optMap("", optStr("offlined/rendererFallback", "the web map's renderer has no QGIS translation; a plain symbol is used"))))
		}
	}
	return ml
}

func fieldConfig(fs []Field) *node {
	fc := el("fieldConfiguration")
	for _, f := range fs {
		fe := el("field", "configurationFlags", "None", "name", f.Name)
		if len(f.Domain) > 0 {
			list := el("Option", "name", "map", "type", "List")
			for _, cv := range f.Domain {
				list.add(optMap("", optStr(cv.Name, cv.Code)))
			}
			fe.add(el("editWidget", "type", "ValueMap").add(el("config").add(optMap("", list))))
		} else if f.Widget != "" {
			fe.add(el("editWidget", "type", f.Widget).add(el("config").add(el("Option"))))
		}
		fc.add(fe)
	}
	return fc
}

func aliases(fs []Field) *node {
	a := el("aliases")
	for i, f := range fs {
		a.add(el("alias", "field", f.Name, "index", fmt.Sprint(i), "name", f.Alias))
	}
	return a
}
