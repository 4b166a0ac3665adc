package geodb

import (
	"encoding/binary"
	"math"
)

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

// partType is the type of one part of a geometry of type t: Point for
// MultiPoint, LineString for MultiLineString, Polygon for MultiPolygon, and
// t itself for the single types.
func partType(t GeomType) GeomType {
	if t >= GeomMultiPoint {
		return t - (GeomMultiPoint - GeomPoint)
	}
	return t
}

// appendWKB appends the ISO WKB (little endian) of g to b. A multi type is
// its header and part count followed by the parts, each a single geometry
// with its own header; a single type is its first part alone.
func appendWKB(b []byte, g *Geom) []byte {
	if g.Type < GeomPoint || g.Type > GeomMultiPolygon {
		return b
	}
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
	kind := partType(g.Type)
	part := func(b []byte, i int) []byte {
		b = hdr(b, kind)
		switch kind {
		case GeomPoint:
			return pt(b, g.Points[i])
		case GeomLineString:
			return seq(b, g.Lines[i])
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(g.Polys[i])))
		for _, r := range g.Polys[i] {
			b = seq(b, r)
		}
		return b
	}
	if kind == g.Type {
		return part(b, 0)
	}
	n := len(g.Points)
	switch kind {
	case GeomLineString:
		n = len(g.Lines)
	case GeomPolygon:
		n = len(g.Polys)
	}
	b = hdr(b, g.Type)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for i := 0; i < n; i++ {
		b = part(b, i)
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
	n, ok := envelopeFloats(flags)
	if !ok {
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
	bo, ok := wkbByteOrder(r.b[r.off])
	if !ok {
		return 0, false, false, geomErr("bad WKB byte order %d", r.b[r.off])
	}
	r.bo = bo
	r.off++
	code, err := r.u32()
	if err != nil {
		return 0, false, false, err
	}
	code, z, m := wkbTypeCode(code)
	t := GeomType(code % 1000)
	if t < GeomPoint || t > GeomMultiPolygon {
		return 0, false, false, geomErr("unsupported WKB geometry type %d", code)
	}
	return t, z, m, nil
}

// wkbByteOrder returns the byte order a WKB geometry's first byte names.
func wkbByteOrder(b byte) (binary.ByteOrder, bool) {
	switch b {
	case 0:
		return binary.BigEndian, true
	case 1:
		return binary.LittleEndian, true
	}
	return nil, false
}

// wkbTypeCode splits a WKB type code into its ISO code without flags
// (type plus 1000, 2000 or 3000 for Z, M, ZM) and whether it has Z and M,
// from either the ISO thousands or the EWKB high bits.
func wkbTypeCode(code uint32) (iso uint32, z, m bool) {
	z = code&0x80000000 != 0
	m = code&0x40000000 != 0
	iso = code & 0x0fffffff
	switch iso / 1000 {
	case 1:
		z = true
	case 2:
		m = true
	case 3:
		z, m = true, true
	}
	return iso, z, m
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

// seq reads a point count and the points.
func (r *wkbReader) seq(d int) ([][]float64, error) {
	n, err := r.count(d * 8)
	if err != nil {
		return nil, err
	}
	return r.coords(n, d)
}

// part reads the body of one point, line string or polygon (its header
// read) and appends it to g unless it is empty.
func (r *wkbReader) part(g *Geom, t GeomType, d int) error {
	switch t {
	case GeomPoint:
		c, err := r.coords(1, d)
		if err != nil {
			return err
		}
		if !(math.IsNaN(c[0][0]) && math.IsNaN(c[0][1])) {
			g.Points = append(g.Points, c[0])
		}
	case GeomLineString:
		c, err := r.seq(d)
		if err != nil {
			return err
		}
		if len(c) > 0 {
			g.Lines = append(g.Lines, c)
		}
	case GeomPolygon:
		nr, err := r.count(4)
		if err != nil {
			return err
		}
		rings := make([][][]float64, 0, nr)
		for i := 0; i < nr; i++ {
			c, err := r.seq(d)
			if err != nil {
				return err
			}
			rings = append(rings, c)
		}
		if len(rings) > 0 {
			g.Polys = append(g.Polys, rings)
		}
	}
	return nil
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
	kind := partType(t)
	if kind == t {
		if err := r.part(g, t, d); err != nil {
			return nil, err
		}
		return g, nil
	}
	minEach := 9 // a part's header and count
	if t == GeomMultiPoint {
		minEach = 5 + d*8
	}
	n, err := r.count(minEach)
	if err != nil {
		return nil, err
	}
	for i := 0; i < n; i++ {
		st, sz, sm, err := r.header()
		if err != nil {
			return nil, err
		}
		if st != kind || sz != z || sm != m {
			return nil, geomErr("WKB %s holds a %s with other dimensions", t, st)
		}
		if err := r.part(g, kind, d); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// envelopeFloats is the number of float64s in the envelope of a GeoPackage
// blob with header flags; ok is false for an undefined envelope code.
func envelopeFloats(flags byte) (n int, ok bool) {
	switch (flags >> 1) & 7 {
	case 0:
		return 0, true
	case 1:
		return 4, true
	case 2, 3:
		return 6, true
	case 4:
		return 8, true
	}
	return 0, false
}
