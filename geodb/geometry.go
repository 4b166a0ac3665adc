package geodb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/offlined/offlined/internal/arcgis"
)

// GeomType is an OGC simple-feature geometry type as stored in GeoPackage
// blobs (ISO WKB type codes without the Z/M offsets).
type GeomType uint32

// The geometry types geodb reads and writes.
const (
	GeomPoint           GeomType = 1
	GeomLineString      GeomType = 2
	GeomPolygon         GeomType = 3
	GeomMultiPoint      GeomType = 4
	GeomMultiLineString GeomType = 5
	GeomMultiPolygon    GeomType = 6
)

// String returns the GeoPackage geometry_type_name.
func (t GeomType) String() string {
	switch t {
	case GeomPoint:
		return "POINT"
	case GeomLineString:
		return "LINESTRING"
	case GeomPolygon:
		return "POLYGON"
	case GeomMultiPoint:
		return "MULTIPOINT"
	case GeomMultiLineString:
		return "MULTILINESTRING"
	case GeomMultiPolygon:
		return "MULTIPOLYGON"
	}
	return fmt.Sprintf("GEOMTYPE(%d)", uint32(t))
}

// Geom is a decoded simple-feature geometry. Every coordinate is a slice of
// Dims() values ordered x, y, [z], [m] (the same order as Esri JSON arrays).
// Points and MultiPoints use Points; LineStrings (one part) and
// MultiLineStrings use Lines; Polygons (one part) and MultiPolygons use
// Polys, each polygon being its rings with the exterior first.
type Geom struct {
	Type   GeomType
	HasZ   bool
	HasM   bool
	Points [][]float64
	Lines  [][][]float64
	Polys  [][][][]float64
}

// ErrBadGeometry is wrapped by every geometry decoding or conversion error.
var ErrBadGeometry = errors.New("bad geometry")

func geomErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadGeometry, fmt.Sprintf(format, a...))
}

// Dims returns the number of values per coordinate.
func (g *Geom) Dims() int {
	d := 2
	if g.HasZ {
		d++
	}
	if g.HasM {
		d++
	}
	return d
}

// IsEmpty reports whether the geometry has no coordinates.
func (g *Geom) IsEmpty() bool {
	return g == nil || (len(g.Points) == 0 && len(g.Lines) == 0 && len(g.Polys) == 0)
}

// Bounds returns minx, maxx, miny, maxy; ok is false for an empty geometry.
func (g *Geom) Bounds() (minx, maxx, miny, maxy float64, ok bool) {
	minx, miny = math.Inf(1), math.Inf(1)
	maxx, maxy = math.Inf(-1), math.Inf(-1)
	add := func(p []float64) {
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) {
			return
		}
		ok = true
		minx, maxx = math.Min(minx, p[0]), math.Max(maxx, p[0])
		miny, maxy = math.Min(miny, p[1]), math.Max(maxy, p[1])
	}
	for _, p := range g.Points {
		add(p)
	}
	for _, l := range g.Lines {
		for _, p := range l {
			add(p)
		}
	}
	for _, poly := range g.Polys {
		if len(poly) > 0 {
			for _, p := range poly[0] {
				add(p)
			}
		}
	}
	return
}

// ---------------------------------------------------------------------------
// GeoPackage binary

// EncodeBlob writes the geometry as a GeoPackage binary blob (little endian,
// standard, envelope code 0 for points and 1 [minx,maxx,miny,maxy] for the
// rest). An empty geometry encodes to nil: geodb stores NULL, never empty
// geometries.
func EncodeBlob(g *Geom, srsID int32) []byte {
	if g.IsEmpty() {
		return nil
	}
	env := 1
	if g.Type == GeomPoint {
		env = 0
	}
	b := make([]byte, 0, 8+32*env+wkbSize(g))
	b = append(b, 'G', 'P', 0, byte(env<<1)|1)
	b = binary.LittleEndian.AppendUint32(b, uint32(srsID))
	if env == 1 {
		minx, maxx, miny, maxy, _ := g.Bounds()
		for _, v := range []float64{minx, maxx, miny, maxy} {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
	}
	return appendWKB(b, g)
}

func wkbSize(g *Geom) int {
	d := 8 * g.Dims()
	n := 9
	switch g.Type {
	case GeomPoint:
		n += d
	case GeomMultiPoint:
		n += len(g.Points) * (5 + d)
	default:
		for _, l := range g.Lines {
			n += 9 + len(l)*d
		}
		for _, p := range g.Polys {
			n += 9
			for _, r := range p {
				n += 4 + len(r)*d
			}
		}
	}
	return n
}

func (g *Geom) isoCode(t GeomType) uint32 {
	c := uint32(t)
	if g.HasZ {
		c += 1000
	}
	if g.HasM {
		c += 2000
	}
	return c
}

// AppendWKB appends the ISO WKB (little endian) of g to b.
func appendWKB(b []byte, g *Geom) []byte {
	d := g.Dims()
	hdr := func(b []byte, t GeomType) []byte {
		b = append(b, 1)
		return binary.LittleEndian.AppendUint32(b, g.isoCode(t))
	}
	pt := func(b []byte, p []float64) []byte {
		for i := 0; i < d; i++ {
			v := 0.0
			if i < len(p) {
				v = p[i]
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
		}
		return b
	}
	seq := func(b []byte, ps [][]float64) []byte {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(ps)))
		for _, p := range ps {
			b = pt(b, p)
		}
		return b
	}
	poly := func(b []byte, rings [][][]float64) []byte {
		b = hdr(b, GeomPolygon)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(rings)))
		for _, r := range rings {
			b = seq(b, r)
		}
		return b
	}
	switch g.Type {
	case GeomPoint:
		b = hdr(b, GeomPoint)
		b = pt(b, g.Points[0])
	case GeomMultiPoint:
		b = hdr(b, GeomMultiPoint)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.Points)))
		for _, p := range g.Points {
			b = hdr(b, GeomPoint)
			b = pt(b, p)
		}
	case GeomLineString:
		b = hdr(b, GeomLineString)
		b = seq(b, g.Lines[0])
	case GeomMultiLineString:
		b = hdr(b, GeomMultiLineString)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.Lines)))
		for _, l := range g.Lines {
			b = hdr(b, GeomLineString)
			b = seq(b, l)
		}
	case GeomPolygon:
		b = poly(b, g.Polys[0])
	case GeomMultiPolygon:
		b = hdr(b, GeomMultiPolygon)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.Polys)))
		for _, p := range g.Polys {
			b = poly(b, p)
		}
	}
	return b
}

// BlobHeader is the parsed fixed part of a GeoPackage geometry blob.
type BlobHeader struct {
	SRSID    int32
	Empty    bool
	Envelope []float64 // minx, maxx, miny, maxy[, z/m pairs]; nil when absent
	WKB      []byte    // the WKB that follows the header (aliases the input)
}

// ParseBlobHeader parses the header of a GeoPackage geometry blob.
func ParseBlobHeader(b []byte) (BlobHeader, error) {
	var h BlobHeader
	if len(b) < 8 || b[0] != 'G' || b[1] != 'P' {
		return h, geomErr("not a GeoPackage geometry blob")
	}
	if b[2] != 0 {
		return h, geomErr("unsupported GeoPackage blob version %d", b[2])
	}
	flags := b[3]
	if flags&0x20 != 0 {
		return h, geomErr("extended GeoPackage binary is not supported")
	}
	var bo binary.ByteOrder = binary.BigEndian
	if flags&1 == 1 {
		bo = binary.LittleEndian
	}
	h.Empty = flags&0x10 != 0
	h.SRSID = int32(bo.Uint32(b[4:8]))
	n := 0
	switch (flags >> 1) & 7 {
	case 0:
	case 1:
		n = 4
	case 2, 3:
		n = 6
	case 4:
		n = 8
	default:
		return h, geomErr("invalid envelope code %d", (flags>>1)&7)
	}
	if len(b) < 8+8*n {
		return h, geomErr("blob shorter than its envelope")
	}
	if n > 0 {
		h.Envelope = make([]float64, n)
		for i := range h.Envelope {
			h.Envelope[i] = math.Float64frombits(bo.Uint64(b[8+8*i:]))
		}
	}
	h.WKB = b[8+8*n:]
	return h, nil
}

// DecodeBlob decodes a GeoPackage geometry blob. An empty geometry decodes
// to a Geom with no coordinates.
func DecodeBlob(b []byte) (*Geom, int32, error) {
	h, err := ParseBlobHeader(b)
	if err != nil {
		return nil, 0, err
	}
	g, err := DecodeWKB(h.WKB)
	if err != nil {
		return nil, h.SRSID, err
	}
	return g, h.SRSID, nil
}

type wkbReader struct {
	b   []byte
	off int
	bo  binary.ByteOrder
}

func (r *wkbReader) need(n int) error {
	if n < 0 || len(r.b)-r.off < n {
		return geomErr("WKB truncated at byte %d", r.off)
	}
	return nil
}

func (r *wkbReader) u32() (uint32, error) {
	if err := r.need(4); err != nil {
		return 0, err
	}
	v := r.bo.Uint32(r.b[r.off:])
	r.off += 4
	return v, nil
}

// header reads byte order and type; returns base type, hasZ, hasM.
func (r *wkbReader) header() (GeomType, bool, bool, error) {
	if err := r.need(1); err != nil {
		return 0, false, false, err
	}
	switch r.b[r.off] {
	case 0:
		r.bo = binary.BigEndian
	case 1:
		r.bo = binary.LittleEndian
	default:
		return 0, false, false, geomErr("bad WKB byte order %d", r.b[r.off])
	}
	r.off++
	code, err := r.u32()
	if err != nil {
		return 0, false, false, err
	}
	z := code&0x80000000 != 0
	m := code&0x40000000 != 0
	code &= 0x0fffffff
	switch code / 1000 {
	case 1:
		z = true
	case 2:
		m = true
	case 3:
		z, m = true, true
	}
	t := GeomType(code % 1000)
	if t < GeomPoint || t > GeomMultiPolygon {
		return 0, false, false, geomErr("unsupported WKB geometry type %d", code)
	}
	return t, z, m, nil
}

func (r *wkbReader) coords(n int, d int) ([][]float64, error) {
	if err := r.need(n * d * 8); err != nil {
		return nil, err
	}
	flat := make([]float64, n*d)
	for i := range flat {
		flat[i] = math.Float64frombits(r.bo.Uint64(r.b[r.off:]))
		r.off += 8
	}
	out := make([][]float64, n)
	for i := range out {
		out[i] = flat[i*d : (i+1)*d : (i+1)*d]
	}
	return out, nil
}

func (r *wkbReader) count(minEach int) (int, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if uint64(n)*uint64(minEach) > uint64(len(r.b)-r.off) {
		return 0, geomErr("WKB count %d exceeds data", n)
	}
	return int(n), nil
}

// DecodeWKB decodes ISO (or EWKB-flagged) WKB of the six simple types.
func DecodeWKB(b []byte) (*Geom, error) {
	r := &wkbReader{b: b}
	t, z, m, err := r.header()
	if err != nil {
		return nil, err
	}
	g := &Geom{Type: t, HasZ: z, HasM: m}
	d := g.Dims()
	sub := func(want GeomType) error {
		st, sz, sm, err := r.header()
		if err != nil {
			return err
		}
		if st != want || sz != z || sm != m {
			return geomErr("WKB %s holds a %s with other dimensions", t, st)
		}
		return nil
	}
	ring := func() ([][][]float64, error) {
		nr, err := r.count(4)
		if err != nil {
			return nil, err
		}
		rings := make([][][]float64, 0, nr)
		for i := 0; i < nr; i++ {
			np, err := r.count(d * 8)
			if err != nil {
				return nil, err
			}
			c, err := r.coords(np, d)
			if err != nil {
				return nil, err
			}
			rings = append(rings, c)
		}
		return rings, nil
	}
	switch t {
	case GeomPoint:
		c, err := r.coords(1, d)
		if err != nil {
			return nil, err
		}
		if !(math.IsNaN(c[0][0]) && math.IsNaN(c[0][1])) {
			g.Points = c
		}
	case GeomLineString:
		np, err := r.count(d * 8)
		if err != nil {
			return nil, err
		}
		c, err := r.coords(np, d)
		if err != nil {
			return nil, err
		}
		if np > 0 {
			g.Lines = [][][]float64{c}
		}
	case GeomPolygon:
		rings, err := ring()
		if err != nil {
			return nil, err
		}
		if len(rings) > 0 {
			g.Polys = [][][][]float64{rings}
		}
	case GeomMultiPoint:
		n, err := r.count(5 + d*8)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if err := sub(GeomPoint); err != nil {
				return nil, err
			}
			c, err := r.coords(1, d)
			if err != nil {
				return nil, err
			}
			if !(math.IsNaN(c[0][0]) && math.IsNaN(c[0][1])) {
				g.Points = append(g.Points, c[0])
			}
		}
	case GeomMultiLineString:
		n, err := r.count(9)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if err := sub(GeomLineString); err != nil {
				return nil, err
			}
			np, err := r.count(d * 8)
			if err != nil {
				return nil, err
			}
			c, err := r.coords(np, d)
			if err != nil {
				return nil, err
			}
			if np > 0 {
				g.Lines = append(g.Lines, c)
			}
		}
	case GeomMultiPolygon:
		n, err := r.count(9)
		if err != nil {
			return nil, err
		}
		for i := 0; i < n; i++ {
			if err := sub(GeomPolygon); err != nil {
				return nil, err
			}
			rings, err := ring()
			if err != nil {
				return nil, err
			}
			if len(rings) > 0 {
				g.Polys = append(g.Polys, rings)
			}
		}
	}
	return g, nil
}

// ---------------------------------------------------------------------------
// Esri JSON ⇄ Geom

// FromEsri converts an Esri JSON geometry into a Geom with the given
// dimensions (the layer's hasZ/hasM): missing z and m values become 0. Polylines become MultiLineStrings; polygons become
// MultiPolygons with rings grouped into exteriors (clockwise, as Esri writes
// them) and holes by orientation and containment. An envelope becomes a
// one-ring polygon. A nil or empty geometry returns nil.
func FromEsri(eg *arcgis.Geometry, hasZ, hasM bool) (*Geom, error) {
	if eg == nil || eg.Type() == "" {
		return nil, nil
	}
	if eg.Type() != arcgis.GeometryPoint && eg.Type() != arcgis.GeometryEnvelope && eg.IsEmpty() {
		return nil, nil
	}
	if err := eg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadGeometry, err)
	}
	g := &Geom{HasZ: hasZ, HasM: hasM}
	// map reads an Esri coordinate array (x,y[,z][,m] per eg's flags) into g's dims.
	srcZ, srcM := eg.HasZ, eg.HasM
	conv := func(p []float64) ([]float64, error) {
		// Esri tolerates extra values when hasZ/hasM are absent: [x,y,z] means z.
		sz, sm := srcZ, srcM
		if !sz && !sm {
			switch len(p) {
			case 3:
				sz = true
			case 4:
				sz, sm = true, true
			}
		}
		out := make([]float64, g.Dims())
		out[0], out[1] = p[0], p[1]
		i, o := 2, 2
		var z, m = 0.0, 0.0
		if sz && i < len(p) {
			z = p[i]
			i++
		}
		if sm && i < len(p) {
			m = p[i]
		}
		if hasZ {
			out[o] = z
			o++
		}
		if hasM {
			out[o] = m
		}
		for _, v := range out[:2] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, geomErr("coordinate is not finite")
			}
		}
		return out, nil
	}
	convAll := func(ps [][]float64) ([][]float64, error) {
		out := make([][]float64, len(ps))
		for i, p := range ps {
			c, err := conv(p)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	switch eg.Type() {
	case arcgis.GeometryPoint:
		p := []float64{*eg.X, *eg.Y}
		srcZ, srcM = eg.Z != nil, eg.M != nil
		if eg.Z != nil {
			p = append(p, *eg.Z)
		}
		if eg.M != nil {
			p = append(p, *eg.M)
		}
		c, err := conv(p)
		if err != nil {
			return nil, err
		}
		g.Type, g.Points = GeomPoint, [][]float64{c}
	case arcgis.GeometryMultipoint:
		c, err := convAll(eg.Points)
		if err != nil {
			return nil, err
		}
		g.Type, g.Points = GeomMultiPoint, c
	case arcgis.GeometryPolyline:
		g.Type = GeomMultiLineString
		for _, path := range eg.Paths {
			c, err := convAll(path)
			if err != nil {
				return nil, err
			}
			g.Lines = append(g.Lines, c)
		}
	case arcgis.GeometryPolygon:
		g.Type = GeomMultiPolygon
		rings := make([][][]float64, 0, len(eg.Rings))
		for _, r := range eg.Rings {
			c, err := convAll(r)
			if err != nil {
				return nil, err
			}
			if !ringClosed(c) {
				c = append(c, append([]float64(nil), c[0]...))
			}
			rings = append(rings, c)
		}
		g.Polys = groupRings(rings)
	case arcgis.GeometryEnvelope:
		x0, y0, x1, y1 := *eg.XMin, *eg.YMin, *eg.XMax, *eg.YMax
		r, err := convAll([][]float64{{x0, y0}, {x0, y1}, {x1, y1}, {x1, y0}, {x0, y0}})
		if err != nil {
			return nil, err
		}
		g.Type, g.Polys = GeomMultiPolygon, [][][][]float64{{r}}
	}
	return g, nil
}

func ringClosed(r [][]float64) bool {
	a, b := r[0], r[len(r)-1]
	return a[0] == b[0] && a[1] == b[1]
}

// signedArea2 is twice the signed area: positive for counter-clockwise rings.
func signedArea2(r [][]float64) float64 {
	s := 0.0
	for i := 0; i+1 < len(r); i++ {
		s += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return s
}

// pointInRing is the even-odd test.
func pointInRing(x, y float64, r [][]float64) bool {
	in := false
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		xi, yi, xj, yj := r[i][0], r[i][1], r[j][0], r[j][1]
		if (yi > y) != (yj > y) && x < (xj-xi)*(y-yi)/(yj-yi)+xi {
			in = !in
		}
	}
	return in
}

// groupRings splits Esri rings into polygons: clockwise rings are exteriors,
// counter-clockwise rings are holes of the smallest exterior containing them;
// a hole no exterior contains becomes an exterior itself. Ring order and
// orientation are kept, so the Esri JSON can be restored exactly.
func groupRings(rings [][][]float64) [][][][]float64 {
	type ext struct {
		idx  int
		area float64
	}
	var exts []ext
	isExt := make([]bool, len(rings))
	for i, r := range rings {
		if a := signedArea2(r); a <= 0 {
			isExt[i] = true
			exts = append(exts, ext{i, -a})
		}
	}
	holesOf := map[int][]int{}
	for i, r := range rings {
		if isExt[i] {
			continue
		}
		best := -1
		for _, e := range exts {
			if ringInside(r, rings[e.idx]) && (best < 0 || e.area < exts[best].area) {
				for k := range exts {
					if exts[k].idx == e.idx {
						best = k
					}
				}
			}
		}
		if best < 0 {
			isExt[i] = true
			continue
		}
		holesOf[exts[best].idx] = append(holesOf[exts[best].idx], i)
	}
	var out [][][][]float64
	for i, r := range rings {
		if !isExt[i] {
			continue
		}
		poly := [][][]float64{r}
		for _, h := range holesOf[i] {
			poly = append(poly, rings[h])
		}
		out = append(out, poly)
	}
	return out
}

// ringInside reports whether ring a lies inside ring b, judged by the first
// vertex of a that is not on b's boundary (vertices tested in order).
func ringInside(a, b [][]float64) bool {
	for _, p := range a {
		if !onBoundary(p[0], p[1], b) {
			return pointInRing(p[0], p[1], b)
		}
	}
	return false
}

func onBoundary(x, y float64, r [][]float64) bool {
	for i := 0; i+1 < len(r); i++ {
		if onSegment(x, y, r[i], r[i+1]) {
			return true
		}
	}
	return false
}

func onSegment(x, y float64, a, b []float64) bool {
	cross := (b[0]-a[0])*(y-a[1]) - (b[1]-a[1])*(x-a[0])
	if cross != 0 {
		return false
	}
	return math.Min(a[0], b[0]) <= x && x <= math.Max(a[0], b[0]) && math.Min(a[1], b[1]) <= y && y <= math.Max(a[1], b[1])
}

// ToEsri converts a Geom to Esri JSON. Polygon exteriors come out clockwise
// and holes counter-clockwise (reversed where needed, e.g. for rings QGIS
// wrote). A nil or empty geometry returns nil.
func ToEsri(g *Geom) *arcgis.Geometry {
	if g.IsEmpty() {
		return nil
	}
	eg := &arcgis.Geometry{HasZ: g.HasZ, HasM: g.HasM}
	cp := func(p []float64) []float64 {
		out := append([]float64(nil), p...)
		for i := 2; i < len(out); i++ {
			if math.IsNaN(out[i]) { // other writers use NaN for "no measure"; JSON cannot carry it
				out[i] = 0
			}
		}
		return out
	}
	all := func(ps [][]float64) [][]float64 {
		out := make([][]float64, len(ps))
		for i, p := range ps {
			out[i] = cp(p)
		}
		return out
	}
	switch g.Type {
	case GeomPoint:
		p := g.Points[0]
		x, y := p[0], p[1]
		eg.X, eg.Y = &x, &y
		i := 2
		if g.HasZ {
			z := p[i]
			eg.Z = &z
			i++
		}
		if g.HasM && !math.IsNaN(p[i]) {
			m := p[i]
			eg.M = &m
		}
		eg.HasZ, eg.HasM = false, false
	case GeomMultiPoint:
		eg.Points = all(g.Points)
	case GeomLineString, GeomMultiLineString:
		eg.Paths = make([][][]float64, 0, len(g.Lines))
		for _, l := range g.Lines {
			eg.Paths = append(eg.Paths, all(l))
		}
	case GeomPolygon, GeomMultiPolygon:
		eg.Rings = [][][]float64{}
		for _, poly := range g.Polys {
			for i, r := range poly {
				rr := all(r)
				a := signedArea2(rr)
				if (i == 0 && a > 0) || (i > 0 && a < 0) {
					for l, h := 0, len(rr)-1; l < h; l, h = l+1, h-1 {
						rr[l], rr[h] = rr[h], rr[l]
					}
				}
				eg.Rings = append(eg.Rings, rr)
			}
		}
	}
	return eg
}

// ---------------------------------------------------------------------------
// Geometry predicates for exact intersects tests.

// Intersects reports whether a and b share at least one point (2D).
func Intersects(a, b *Geom) bool {
	if a.IsEmpty() || b.IsEmpty() {
		return false
	}
	ax0, ax1, ay0, ay1, _ := a.Bounds()
	bx0, bx1, by0, by1, _ := b.Bounds()
	if ax1 < bx0 || bx1 < ax0 || ay1 < by0 || by1 < ay0 {
		return false
	}
	sa, sb := segments(a), segments(b)
	for _, s := range sa {
		for _, t := range sb {
			if segsIntersect(s[0], s[1], t[0], t[1]) {
				return true
			}
		}
	}
	// Containment: any vertex of one inside (or on) the other.
	if anyVertexIn(a, b) || anyVertexIn(b, a) {
		return true
	}
	return false
}

func segments(g *Geom) [][2][]float64 {
	var out [][2][]float64
	add := func(ps [][]float64) {
		if len(ps) == 1 {
			out = append(out, [2][]float64{ps[0], ps[0]})
		}
		for i := 0; i+1 < len(ps); i++ {
			out = append(out, [2][]float64{ps[i], ps[i+1]})
		}
	}
	for _, p := range g.Points {
		add([][]float64{p})
	}
	for _, l := range g.Lines {
		add(l)
	}
	for _, poly := range g.Polys {
		for _, r := range poly {
			add(r)
		}
	}
	return out
}

// anyVertexIn reports whether some vertex of a lies in the area of polygonal b.
func anyVertexIn(a, b *Geom) bool {
	if len(b.Polys) == 0 {
		return false
	}
	test := func(p []float64) bool {
		for _, poly := range b.Polys {
			if len(poly) == 0 || !pointInRing(p[0], p[1], poly[0]) {
				continue
			}
			inHole := false
			for _, h := range poly[1:] {
				if pointInRing(p[0], p[1], h) {
					inHole = true
					break
				}
			}
			if !inHole {
				return true
			}
		}
		return false
	}
	for _, s := range segments(a) {
		if test(s[0]) {
			return true
		}
	}
	return false
}

func orient(a, b, c []float64) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func segsIntersect(p1, p2, q1, q2 []float64) bool {
	d1, d2 := orient(q1, q2, p1), orient(q1, q2, p2)
	d3, d4 := orient(p1, p2, q1), orient(p1, p2, q2)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && onSegment(p1[0], p1[1], q1, q2)) || (d2 == 0 && onSegment(p2[0], p2[1], q1, q2)) ||
		(d3 == 0 && onSegment(q1[0], q1[1], p1, p2)) || (d4 == 0 && onSegment(q2[0], q2[1], p1, p2))
}

// boxGeom returns the polygon of an envelope.
func boxGeom(minx, miny, maxx, maxy float64) *Geom {
	return &Geom{Type: GeomPolygon, Polys: [][][][]float64{{{{minx, miny}, {minx, maxy}, {maxx, maxy}, {maxx, miny}, {minx, miny}}}}}
}
