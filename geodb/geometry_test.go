package geodb

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/testutil"
)

func TestBlobRoundTrip(t *testing.T) {
	cases := []struct {
		name       string
		esri       string
		hasZ, hasM bool
		wantType   GeomType
		wantEnv    byte // envelope code
	}{
		{"point", `{"x":1.5,"y":-2}`, false, false, GeomPoint, 0},
		{"pointZ", `{"x":1,"y":2,"z":3}`, true, false, GeomPoint, 0},
		{"pointM", `{"x":1,"y":2,"m":4}`, false, true, GeomPoint, 0},
		{"pointZM", `{"x":1,"y":2,"z":3,"m":4}`, true, true, GeomPoint, 0},
		{"multipoint", `{"points":[[1,2],[3,4]]}`, false, false, GeomMultiPoint, 1},
		{"multipointZM", `{"hasZ":true,"hasM":true,"points":[[1,2,3,4],[5,6,7,8]]}`, true, true, GeomMultiPoint, 1},
		{"polyline", `{"paths":[[[0,0],[1,1]],[[2,2],[3,3],[4,2]]]}`, false, false, GeomMultiLineString, 1},
		{"polylineZ", `{"hasZ":true,"paths":[[[0,0,9],[1,1,8]]]}`, true, false, GeomMultiLineString, 1},
		{"polygonHole", `{"rings":[[[0,0],[0,10],[10,10],[10,0],[0,0]],[[2,2],[8,2],[8,8],[2,8],[2,2]]]}`, false, false, GeomMultiPolygon, 1},
		{"polygonM", `{"hasM":true,"rings":[[[0,0,1],[0,1,2],[1,1,3],[1,0,4],[0,0,1]]]}`, false, true, GeomMultiPolygon, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := testutil.Decode[arcgis.Geometry](t, c.esri)
			g, err := FromEsri(in, c.hasZ, c.hasM)
			if err != nil {
				t.Fatal(err)
			}
			if g.Type != c.wantType {
				t.Fatalf("type %v, want %v", g.Type, c.wantType)
			}
			b := EncodeBlob(g, 4326)
			if string(b[:2]) != "GP" || b[2] != 0 || (b[3]>>1)&7 != c.wantEnv || b[3]&1 != 1 {
				t.Fatalf("header % x", b[:8])
			}
			if binary.LittleEndian.Uint32(b[4:]) != 4326 {
				t.Fatal("srs id")
			}
			code := binary.LittleEndian.Uint32(b[8+32*int(c.wantEnv)+1:])
			want := uint32(c.wantType)
			if c.hasZ {
				want += 1000
			}
			if c.hasM {
				want += 2000
			}
			if code != want {
				t.Fatalf("WKB type %d, want ISO %d", code, want)
			}
			back, srs, err := DecodeBlob(b)
			if err != nil || srs != 4326 {
				t.Fatal(err, srs)
			}
			if !reflect.DeepEqual(back, g) {
				t.Fatalf("decode differs:\n%+v\n%+v", back, g)
			}
			out := ToEsri(back)
			ib, _ := json.Marshal(in)
			ob, _ := json.Marshal(out)
			if string(ib) != string(ob) {
				t.Fatalf("Esri round trip:\n in %s\nout %s", ib, ob)
			}
		})
	}
}

// GDAL writes 2D points without an envelope and big-endian blobs exist too.
func TestDecodeForeignBlobs(t *testing.T) {
	// GDAL 3.6 POINT(1 2), SRS 4326, LE, no envelope.
	gdal, _ := hex.DecodeString("4750000" + "1E6100000" + "0101000000000000000000F03F0000000000000040")
	g, srs, err := DecodeBlob(gdal)
	if err != nil || srs != 4326 || g.Points[0][0] != 1 || g.Points[0][1] != 2 {
		t.Fatalf("%v %v %+v", err, srs, g)
	}
	// Big-endian header and WKB, LINESTRING Z with xyz envelope (code 2).
	be := []byte{'G', 'P', 0, 2 << 1}
	be = binary.BigEndian.AppendUint32(be, 3857)
	for _, v := range []float64{0, 1, 0, 1, 5, 6} {
		be = binary.BigEndian.AppendUint64(be, math.Float64bits(v))
	}
	be = append(be, 0)
	be = binary.BigEndian.AppendUint32(be, 1002)
	be = binary.BigEndian.AppendUint32(be, 2)
	for _, v := range []float64{0, 0, 5, 1, 1, 6} {
		be = binary.BigEndian.AppendUint64(be, math.Float64bits(v))
	}
	g, srs, err = DecodeBlob(be)
	if err != nil || srs != 3857 || g.Type != GeomLineString || !g.HasZ || g.Lines[0][1][2] != 6 {
		t.Fatalf("%v %v %+v", err, srs, g)
	}
	// Counter-clockwise exterior from another writer comes out clockwise.
	ccw := &Geom{Type: GeomPolygon, Polys: [][][][]float64{{{{0, 0}, {1, 0}, {1, 1}, {0, 1}, {0, 0}}}}}
	e := ToEsri(ccw)
	if signedArea2(e.Rings[0]) >= 0 {
		t.Fatalf("exterior not clockwise: %v", e.Rings[0])
	}
	// NaN empty point decodes as empty; EncodeBlob of empty is NULL.
	if !(&Geom{}).IsEmpty() || EncodeBlob(&Geom{Type: GeomPoint}, 0) != nil {
		t.Fatal("empty handling")
	}
}

func TestRingGrouping(t *testing.T) {
	sq := func(x0, y0, x1, y1 float64, cw bool) [][]float64 {
		r := [][]float64{{x0, y0}, {x0, y1}, {x1, y1}, {x1, y0}, {x0, y0}}
		if !cw {
			r = [][]float64{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}, {x0, y0}}
		}
		return r
	}
	rings := [][][]float64{
		sq(0, 0, 10, 10, true),    // exterior A
		sq(20, 0, 30, 10, true),   // exterior B
		sq(22, 2, 28, 8, false),   // hole of B
		sq(1, 1, 9, 9, false),     // hole of A
		sq(3, 3, 7, 7, true),      // island inside A's hole: its own polygon
		sq(40, 40, 41, 41, false), // orphan CCW ring: becomes an exterior
	}
	polys := groupRings(rings)
	if len(polys) != 4 {
		t.Fatalf("%d polygons, want 4", len(polys))
	}
	if len(polys[0]) != 2 || polys[0][1][0][0] != 1 {
		t.Fatalf("A = %v", polys[0])
	}
	if len(polys[1]) != 2 || polys[1][1][0][0] != 22 {
		t.Fatalf("B = %v", polys[1])
	}
	if len(polys[2]) != 1 || polys[2][0][0][0] != 3 {
		t.Fatalf("island = %v", polys[2])
	}
	// The island's hole candidate chooses the smallest containing exterior.
	rings2 := [][][]float64{sq(0, 0, 10, 10, true), sq(3, 3, 7, 7, true), sq(4, 4, 6, 6, false)}
	p2 := groupRings(rings2)
	if len(p2) != 2 || len(p2[1]) != 2 {
		t.Fatalf("nested: %v", p2)
	}
}

func TestIntersects(t *testing.T) {
	box := boxGeom(0, 0, 10, 10)
	cases := []struct {
		name string
		g    *Geom
		want bool
	}{
		{"point inside", &Geom{Type: GeomPoint, Points: [][]float64{{5, 5}}}, true},
		{"point on edge", &Geom{Type: GeomPoint, Points: [][]float64{{10, 5}}}, true},
		{"point outside", &Geom{Type: GeomPoint, Points: [][]float64{{11, 5}}}, false},
		{"line crossing", &Geom{Type: GeomLineString, Lines: [][][]float64{{{-5, 5}, {15, 5}}}}, true},
		{"line diagonal miss", &Geom{Type: GeomLineString, Lines: [][][]float64{{{11, -1}, {20, 5}}}}, false},
		{"polygon containing box", boxGeom(-1, -1, 11, 11), true},
		{"polygon hole around box", &Geom{Type: GeomPolygon, Polys: [][][][]float64{{{{-10, -10}, {-10, 20}, {20, 20}, {20, -10}, {-10, -10}}, {{-5, -5}, {15, -5}, {15, 15}, {-5, 15}, {-5, -5}}}}}, false},
	}
	for _, c := range cases {
		if got := Intersects(c.g, box); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func FuzzGeometryBlob(f *testing.F) {
	for _, s := range []string{`{"x":1,"y":2,"z":3,"m":4}`, `{"hasZ":true,"paths":[[[0,0,1],[1,1,2]]]}`,
		`{"rings":[[[0,0],[0,10],[10,10],[10,0],[0,0]],[[2,2],[8,2],[8,8],[2,8],[2,2]]]}`, `{"points":[[1,2],[3,4]]}`} {
		g, _ := FromEsri(testutil.Decode[arcgis.Geometry](f, s), false, false)
		f.Add(EncodeBlob(g, 4326))
	}
	gdal, _ := hex.DecodeString("47500001E61000000101000000000000000000F03F0000000000000040")
	f.Add(gdal)
	f.Fuzz(func(t *testing.T, b []byte) {
		g, srs, err := DecodeBlob(b)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode and decode to the same geometry.
		if g.IsEmpty() {
			return
		}
		for _, p := range allCoords(g) {
			for _, v := range p {
				if math.IsNaN(v) {
					return // NaN never compares equal
				}
			}
		}
		b2 := EncodeBlob(g, srs)
		g2, srs2, err := DecodeBlob(b2)
		if err != nil || srs2 != srs || !reflect.DeepEqual(g, g2) {
			t.Fatalf("re-encode mismatch: %v\n%+v\n%+v", err, g, g2)
		}
		_ = ToEsri(g)
	})
}

func allCoords(g *Geom) [][]float64 {
	out := append([][]float64(nil), g.Points...)
	for _, l := range g.Lines {
		out = append(out, l...)
	}
	for _, p := range g.Polys {
		for _, r := range p {
			out = append(out, r...)
		}
	}
	return out
}

func FuzzEsriGeometry(f *testing.F) {
	for _, s := range []string{`{"x":1,"y":2}`, `{"x":"NaN","y":null}`, `{"x":1,"y":2,"z":3,"m":4}`,
		`{"hasZ":true,"hasM":true,"points":[[1,2,3,4]]}`, `{"paths":[[[0,0],[1,1]]]}`,
		`{"rings":[[[0,0],[0,10],[10,10],[10,0],[0,0]],[[2,2],[8,2],[8,8],[2,8],[2,2]]]}`,
		`{"xmin":0,"ymin":0,"xmax":1,"ymax":1}`} {
		f.Add([]byte(s), false, false)
		f.Add([]byte(s), true, true)
	}
	f.Fuzz(func(t *testing.T, js []byte, hasZ, hasM bool) {
		var eg arcgis.Geometry
		if json.Unmarshal(js, &eg) != nil {
			return
		}
		g, err := FromEsri(&eg, hasZ, hasM)
		if err != nil || g == nil {
			return
		}
		for _, p := range allCoords(g) {
			for _, v := range p {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return
				}
			}
		}
		b := EncodeBlob(g, 4326)
		g2, _, err := DecodeBlob(b)
		if err != nil {
			t.Fatalf("own blob does not decode: %v", err)
		}
		e1 := ToEsri(g)
		e2 := ToEsri(g2)
		j1, err1 := json.Marshal(e1)
		j2, err2 := json.Marshal(e2)
		if err1 != nil || err2 != nil || string(j1) != string(j2) {
			t.Fatalf("Esri → blob → Esri differs:\n%s\n%s", j1, j2)
		}
		// and the Esri output converts back to the same stored geometry
		g3, err := FromEsri(e2, hasZ, hasM)
		if err != nil {
			t.Fatalf("Esri output rejected: %v (%s)", err, j2)
		}
		if !reflect.DeepEqual(EncodeBlob(g3, 4326), b) && g.Type != GeomMultiPolygon {
			t.Fatalf("second pass differs for %s", j2)
		}
	})
}
