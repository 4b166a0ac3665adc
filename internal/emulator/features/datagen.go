package features

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/project"
)

// Demo area (WGS84) inside which all generated data lies.
const (
	demoXMin, demoYMin, demoXMax, demoYMax = -117.25, 33.98, -117.10, 34.10
	genEpochMillis                         = 1704067200000 // 2024-01-01T00:00:00Z
)

// GUID kinds encoded in generated GUIDs (so they can be reversed to an index).
const (
	gidFeature    = 1
	gidAttachment = 2
	gidAsset      = 3
)

// layerDef is the static definition of a layer: options plus schema.
type layerDef struct {
	LayerOptions
	svc            *FeatureServiceOptions
	fields         []arcgis.Field
	fieldIdx       map[string]int // lower-case name → index
	oidField       string
	gidField       string
	displayField   string
	editorTracking bool
	attachments    bool
	// relationship (point layer → table), relKeyField is the table's key.
	relationships []arcgis.Relationship
	relParent     int    // for tables: the origin layer id, or -1
	relKeyField   string // for tables: foreign key field name
}

func (d *layerDef) isTable() bool { return d.GeometryType == "" }

// field finds a field by name, case-insensitively.
func (d *layerDef) field(name string) (*arcgis.Field, bool) {
	i, ok := d.fieldIdx[strings.ToLower(name)]
	if !ok {
		return nil, false
	}
	return &d.fields[i], true
}

func bptr(b bool) *bool { return &b }

func strField(name, alias string, length int) arcgis.Field {
	return arcgis.Field{Name: name, Type: arcgis.FieldString, Alias: alias, Length: length, Nullable: bptr(true), Editable: bptr(true)}
}

func typedField(name, typ, alias string) arcgis.Field {
	return arcgis.Field{Name: name, Type: typ, Alias: alias, Nullable: bptr(true), Editable: bptr(true)}
}

func codedDomain(name string, codes ...string) *arcgis.Domain {
	d := &arcgis.Domain{Type: "codedValue", Name: name, MergePolicy: "esriMPTDefaultValue", SplitPolicy: "esriSPTDefaultValue"}
	for _, c := range codes {
		d.CodedValues = append(d.CodedValues, arcgis.CodedValue{Name: strings.ToUpper(c[:1]) + c[1:], Code: c})
	}
	return d
}

func rangeDomain(name string, lo, hi float64) *arcgis.Domain {
	return &arcgis.Domain{Type: "range", Name: name, Range: []float64{lo, hi}, MergePolicy: "esriMPTDefaultValue", SplitPolicy: "esriSPTDefaultValue"}
}

var (
	statusCodes   = []string{"open", "pending", "closed"}
	materialCodes = []string{"PVC", "DI", "CI", "HDPE"}
	zoningCodes   = []string{"R1", "R2", "C1", "I1", "OS"}
)

// buildLayerDefs derives every layer's schema from the service options.
func buildLayerDefs(o FeatureServiceOptions) []*layerDef {
	svc := o
	var defs []*layerDef
	firstPoint, firstTable := -1, -1
	for _, lo := range o.Layers {
		if lo.GeometryType == arcgis.GeometryPoint && firstPoint < 0 {
			firstPoint = lo.ID
		}
		if lo.GeometryType == "" && firstTable < 0 {
			firstTable = lo.ID
		}
	}
	for _, lo := range o.Layers {
		d := &layerDef{LayerOptions: lo, svc: &svc, oidField: "OBJECTID", gidField: "GlobalID",
			editorTracking: o.EditorTracking, attachments: o.Attachments && lo.HasAttachments, relParent: -1}
		f := []arcgis.Field{
			{Name: "OBJECTID", Type: arcgis.FieldOID, Alias: "OBJECTID", Nullable: bptr(false), Editable: bptr(false)},
			{Name: "GlobalID", Type: arcgis.FieldGlobalID, Alias: "GlobalID", Length: 38, Nullable: bptr(false), Editable: bptr(false)},
		}
		switch lo.GeometryType {
		case arcgis.GeometryPoint:
			st := strField("Status", "Status", 16)
			st.Domain = codedDomain("InspectionStatus", statusCodes...)
			pr := typedField("Priority", arcgis.FieldSmallInteger, "Priority")
			pr.Domain = rangeDomain("PriorityRange", 1, 5)
			f = append(f, strField("InspectionID", "Inspection ID", 32), st, pr,
				typedField("Score", arcgis.FieldInteger, "Score"),
				typedField("Depth", arcgis.FieldDouble, "Depth (m)"),
				typedField("InspectedOn", arcgis.FieldDate, "Inspected on"),
				typedField("AssetGUID", arcgis.FieldGUID, "Asset"),
				strField("Notes", "Notes", 255))
			d.displayField = "InspectionID"
		case arcgis.GeometryPolyline:
			m := strField("Material", "Material", 8)
			m.Domain = codedDomain("PipeMaterial", materialCodes...)
			dia := typedField("Diameter", arcgis.FieldSmallInteger, "Diameter (mm)")
			dia.Domain = rangeDomain("DiameterRange", 50, 1200)
			st := strField("Status", "Status", 16)
			st.Domain = codedDomain("PipeStatus", statusCodes...)
			f = append(f, strField("PipeID", "Pipe ID", 32), m, dia,
				typedField("LengthM", arcgis.FieldDouble, "Length (m)"),
				typedField("InstallDate", arcgis.FieldDate, "Installed"), st)
			d.displayField = "PipeID"
		case arcgis.GeometryPolygon:
			z := strField("Zoning", "Zoning", 8)
			z.Domain = codedDomain("ZoningCode", zoningCodes...)
			f = append(f, strField("ParcelID", "Parcel ID", 32), strField("Owner", "Owner", 64), z,
				typedField("AreaSqM", arcgis.FieldDouble, "Area (m²)"),
				typedField("Value", arcgis.FieldInteger, "Assessed value"),
				typedField("LastSale", arcgis.FieldDate, "Last sale"))
			d.displayField = "ParcelID"
		default:
			f = append(f, typedField("InspectionGUID", arcgis.FieldGUID, "Inspection"),
				strField("Note", "Note", 500), typedField("NoteDate", arcgis.FieldDate, "Note date"),
				strField("Author", "Author", 64))
			d.displayField = "Note"
			if lo.ID == firstTable && firstPoint >= 0 {
				d.relParent, d.relKeyField = firstPoint, "InspectionGUID"
				d.relationships = []arcgis.Relationship{{ID: 0, Name: "Inspection_Notes", RelatedTableID: firstPoint,
					Cardinality: "esriRelCardinalityOneToMany", Role: "esriRelRoleDestination", KeyField: "InspectionGUID"}}
			}
		}
		if lo.ID == firstPoint && firstTable >= 0 {
			d.relationships = []arcgis.Relationship{{ID: 0, Name: "Inspection_Notes", RelatedTableID: firstTable,
				Cardinality: "esriRelCardinalityOneToMany", Role: "esriRelRoleOrigin", KeyField: "GlobalID"}}
		}
		if o.EditorTracking {
			f = append(f,
				arcgis.Field{Name: "CreationDate", Type: arcgis.FieldDate, Alias: "CreationDate", Length: 8, Nullable: bptr(true), Editable: bptr(false)},
				arcgis.Field{Name: "Creator", Type: arcgis.FieldString, Alias: "Creator", Length: 128, Nullable: bptr(true), Editable: bptr(false)},
				arcgis.Field{Name: "EditDate", Type: arcgis.FieldDate, Alias: "EditDate", Length: 8, Nullable: bptr(true), Editable: bptr(false)},
				arcgis.Field{Name: "Editor", Type: arcgis.FieldString, Alias: "Editor", Length: 128, Nullable: bptr(true), Editable: bptr(false)})
		}
		d.fields = f
		d.reindex()
		defs = append(defs, d)
	}
	return defs
}

func (d *layerDef) reindex() {
	d.fieldIdx = map[string]int{}
	for i, f := range d.fields {
		d.fieldIdx[strings.ToLower(f.Name)] = i
	}
}

// mix64 hashes its inputs (splitmix64 finaliser over a running state).
func mix64(vals ...uint64) uint64 {
	h := uint64(0x9e3779b97f4a7c15)
	for _, v := range vals {
		h ^= v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
		h = splitmix(h)
	}
	return h
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// genRand is a tiny deterministic generator for one feature.
type genRand struct{ s uint64 }

func (g *genRand) next() uint64                { g.s = splitmix(g.s); return g.s }
func (g *genRand) float() float64              { return float64(g.next()>>11) / (1 << 53) }
func (g *genRand) intn(n int) int              { return int(g.next() % uint64(n)) }
func (g *genRand) rangef(a, b float64) float64 { return a + (b-a)*g.float() }

// genGUID returns the generated GUID of (kind, layer, index): upper-case,
// braced, with kind/layer/index readable from the last two groups so it
// can be reversed by parseGenGUID.
func genGUID(seed int64, kind, layer int, idx int64) string {
	h := mix64(uint64(seed), uint64(kind), uint64(layer), uint64(idx))
	return fmt.Sprintf("{%08X-%04X-4%03X-8%01X%02X-%012X}", uint32(h>>32), uint16(h>>16), uint16(h)&0xfff,
		kind&0xf, layer&0xff, uint64(idx)&0xffffffffffff)
}

// parseGenGUID reverses genGUID; ok is false when gid was not generated by
// genGUID with this seed.
func parseGenGUID(seed int64, gid string) (kind, layer int, idx int64, ok bool) {
	g := strings.ToUpper(strings.Trim(strings.TrimSpace(gid), "{}"))
	if len(g) != 36 || g[23] != '-' || g[19] != '8' {
		return 0, 0, 0, false
	}
	k, err1 := strconv.ParseUint(g[20:21], 16, 8)
	l, err2 := strconv.ParseUint(g[21:23], 16, 8)
	i, err3 := strconv.ParseUint(g[24:], 16, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, 0, false
	}
	kind, layer, idx = int(k), int(l), int64(i)
	if genGUID(seed, kind, layer, idx) != "{"+g+"}" {
		return 0, 0, 0, false
	}
	return kind, layer, idx, true
}

// normGUID upper-cases a GUID and adds braces.
func normGUID(g string) string {
	g = strings.ToUpper(strings.Trim(strings.TrimSpace(g), "{}"))
	if g == "" {
		return ""
	}
	return "{" + g + "}"
}

// wgsToMerc projects lon/lat to Web Mercator metres (orb's projection).
func wgsToMerc(lon, lat float64) (float64, float64) {
	p := project.WGS84.ToMercator(orb.Point{lon, lat})
	return p[0], p[1]
}

// mercToWGS unprojects Web Mercator metres to lon/lat (orb's projection).
func mercToWGS(x, y float64) (float64, float64) {
	p := project.Mercator.ToWGS84(orb.Point{x, y})
	return p[0], p[1]
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// mercPt returns a Web Mercator [x,y] rounded to mm.
func mercPt(lon, lat float64) []float64 {
	x, y := wgsToMerc(lon, lat)
	return []float64{math.Round(x*1000) / 1000, math.Round(y*1000) / 1000}
}

func clampLon(v float64) float64 { return math.Max(demoXMin, math.Min(demoXMax, v)) }
func clampLat(v float64) float64 { return math.Max(demoYMin, math.Min(demoYMax, v)) }

// ringAround returns a closed ring of n vertices around (cx,cy) with radii
// rx/ry in degrees, clockwise (Esri outer ring) or counter-clockwise (hole).
func ringAround(g *genRand, cx, cy, rx, ry float64, n int, clockwise bool) [][]float64 {
	ring := make([][]float64, 0, n+1)
	for k := 0; k < n; k++ {
		a := 2 * math.Pi * float64(k) / float64(n)
		if clockwise {
			a = -a
		}
		j := 0.85 + 0.15*g.float()
		ring = append(ring, mercPt(cx+rx*j*math.Cos(a), cy+ry*j*math.Sin(a)))
	}
	return append(ring, ring[0])
}

// generate builds generated feature idx (1-based, = OBJECTID) of layer d.
func (d *layerDef) generate(seed int64, idx int64, fields []arcgis.Field) arcgis.Feature {
	g := &genRand{s: mix64(uint64(seed), 0x5eed, uint64(d.ID), uint64(idx))}
	a := map[string]any{"OBJECTID": idx, "GlobalID": genGUID(seed, gidFeature, d.ID, idx)}
	var geom *arcgis.Geometry
	date := func() int64 { return genEpochMillis + int64(g.intn(700))*86400000 + int64(g.intn(86400))*1000 }
	switch d.GeometryType {
	case arcgis.GeometryPoint:
		p := mercPt(g.rangef(demoXMin, demoXMax), g.rangef(demoYMin, demoYMax))
		geom = &arcgis.Geometry{X: &p[0], Y: &p[1]}
		a["InspectionID"] = fmt.Sprintf("INS-%06d", idx)
		a["Status"] = statusCodes[g.intn(len(statusCodes))]
		a["Priority"] = int64(1 + g.intn(5))
		a["Score"] = int64(g.intn(1000))
		a["Depth"] = math.Round(g.rangef(0.2, 9.5)*100) / 100
		a["InspectedOn"] = date()
		a["AssetGUID"] = genGUID(seed, gidAsset, d.ID, idx)
		if idx%3 == 0 {
			a["Notes"] = nil
		} else {
			a["Notes"] = fmt.Sprintf("Generated inspection %d, seed %d", idx, seed)
		}
	case arcgis.GeometryPolyline:
		parts := 1
		if idx%10 == 0 {
			parts = 2
		}
		var paths [][][]float64
		lon, lat := g.rangef(demoXMin+0.01, demoXMax-0.01), g.rangef(demoYMin+0.01, demoYMax-0.01)
		total := 0.0
		for p := 0; p < parts; p++ {
			n := 2 + g.intn(5)
			var path [][]float64
			for k := 0; k < n; k++ {
				path = append(path, mercPt(lon, lat))
				nl, nt := clampLon(lon+g.rangef(-0.003, 0.003)), clampLat(lat+g.rangef(-0.003, 0.003))
				total += math.Hypot((nl-lon)*92000, (nt-lat)*111000)
				lon, lat = nl, nt
			}
			paths = append(paths, path)
			lon, lat = clampLon(lon+0.002), clampLat(lat+0.002)
		}
		geom = &arcgis.Geometry{Paths: paths}
		a["PipeID"] = fmt.Sprintf("PIPE-%06d", idx)
		a["Material"] = materialCodes[g.intn(len(materialCodes))]
		a["Diameter"] = int64(50 + 50*g.intn(20))
		a["LengthM"] = math.Round(total*10) / 10
		a["InstallDate"] = date()
		a["Status"] = statusCodes[g.intn(len(statusCodes))]
	case arcgis.GeometryPolygon:
		cx, cy := g.rangef(demoXMin+0.01, demoXMax-0.01), g.rangef(demoYMin+0.01, demoYMax-0.01)
		rx, ry := g.rangef(0.001, 0.004), g.rangef(0.001, 0.004)
		rings := [][][]float64{ringAround(g, cx, cy, rx, ry, 4+g.intn(5), true)}
		if idx%5 == 0 { // hole
			rings = append(rings, ringAround(g, cx, cy, rx*0.3, ry*0.3, 4, false))
		}
		if idx%7 == 0 { // second part
			rings = append(rings, ringAround(g, clampLon(cx+rx*3), cy, rx*0.5, ry*0.5, 5, true))
		}
		geom = &arcgis.Geometry{Rings: rings}
		a["ParcelID"] = fmt.Sprintf("PCL-%06d", idx)
		a["Owner"] = []string{"City", "County", "Private", "State", "Utility"}[g.intn(5)]
		a["Zoning"] = zoningCodes[g.intn(len(zoningCodes))]
		a["AreaSqM"] = math.Round(math.Pi*rx*92000*ry*111000*0.85*100) / 100
		a["Value"] = int64(50000 + g.intn(2000000))
		a["LastSale"] = date()
	default:
		if d.relParent >= 0 {
			parentCount := int64(d.svc.layerCount(d.relParent))
			if parentCount > 0 {
				a["InspectionGUID"] = genGUID(seed, gidFeature, d.relParent, (idx-1)%parentCount+1)
			} else {
				a["InspectionGUID"] = nil
			}
		} else {
			a["InspectionGUID"] = genGUID(seed, gidAsset, d.ID, idx)
		}
		a["Note"] = fmt.Sprintf("Note %d: %s", idx, []string{"checked valve", "needs repaint", "access blocked", "ok"}[g.intn(4)])
		a["NoteDate"] = date()
		a["Author"] = []string{"alice", "bob", "carol"}[g.intn(3)]
	}
	if d.editorTracking {
		c := genEpochMillis + int64(g.intn(365))*86400000
		a["CreationDate"], a["Creator"], a["EditDate"], a["Editor"] = c, "generator", c, "generator"
	}
	for _, f := range fields { // fields added by AddField start out with their default
		if _, ok := a[f.Name]; !ok {
			a[f.Name] = f.DefaultValue
		}
	}
	if len(a) != len(fields) { // fields removed by RemoveField are dropped
		for k := range a {
			if !slices.ContainsFunc(fields, func(f arcgis.Field) bool { return f.Name == k }) {
				delete(a, k)
			}
		}
	}
	return arcgis.Feature{Attributes: a, Geometry: geom}
}

// layerCount returns the configured count of layer id.
func (o *FeatureServiceOptions) layerCount(id int) int {
	for _, l := range o.Layers {
		if l.ID == id {
			return l.Count
		}
	}
	return 0
}

// hasGenAttachment reports whether generated feature idx has a generated
// attachment (its attachment id equals idx).
func (d *layerDef) hasGenAttachment(idx int64) bool { return d.attachments && idx%4 == 1 }

// genAttachment returns the generated attachment of feature idx and its bytes.
func (d *layerDef) genAttachment(seed int64, idx int64) (attRecord, []byte) {
	h := mix64(uint64(seed), 0xa77, uint64(d.ID), uint64(idx))
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 16; x++ {
			img.Set(x, y, color.RGBA{uint8(h) + uint8(x*8), uint8(h>>8) + uint8(y*8), uint8(h >> 16), 255})
		}
	}
	var buf bytes.Buffer
	name, ct := fmt.Sprintf("photo_%d.png", idx), "image/png"
	if idx%8 == 1 {
		name, ct = fmt.Sprintf("photo_%d.jpg", idx), "image/jpeg"
		_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 80})
	} else {
		_ = png.Encode(&buf, img)
	}
	rec := attRecord{ID: idx, ParentOID: idx, ParentGID: genGUID(seed, gidFeature, d.ID, idx),
		GID: genGUID(seed, gidAttachment, d.ID, idx), Name: name, ContentType: ct, Size: int64(buf.Len())}
	return rec, buf.Bytes()
}

// nowMillis is the current time in epoch milliseconds.
func nowMillis() int64 { return time.Now().UnixMilli() }
