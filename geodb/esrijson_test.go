package geodb

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// The loader's fast geometry parser agrees with arcgis.Geometry's decoder.
func FuzzFastGeometry(f *testing.F) {
	for _, s := range []string{`{"x":1,"y":2}`, `{"x":"NaN","y":null}`, `{"x":1.5e3,"y":-2,"z":3,"m":4}`,
		`{"hasZ":true,"hasM":true,"points":[[1,2,3,4]]}`, `{"paths":[[[0,0],[1,1]],[]]}`,
		`{"rings":[[[0,0],[0,10],[10,10],[10,0],[0,0]]],"spatialReference":{"wkid":4326}}`,
		`{"xmin":0,"ymin":0,"xmax":1,"ymax":1}`, ` { "x" : 1 , "y" : 2 } `, `{}`, `{"x":1,"x":2,"y":3}`, `{"rings":[]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return // absent geometry: the loader never passes empty bytes as a value
		}
		var want arcgis.Geometry
		werr := json.Unmarshal(b, &want)
		got, gerr := decodeGeometry(b)
		if (werr != nil) != (gerr != nil) {
			if string(b) == "null" {
				return
			}
			t.Fatalf("%q: encoding/json err %v, fast err %v", b, werr, gerr)
		}
		if werr != nil || got == nil {
			return
		}
		if !reflect.DeepEqual(*got, want) {
			t.Fatalf("%q:\nfast %+v\njson %+v", b, *got, want)
		}
	})
}

func TestFastGeometryCommonShapes(t *testing.T) {
	p := &gparser{scanner: scanner{b: []byte(`{"hasM":true,"rings":[[[0,0,1],[0,1,2],[1,1,3],[0,0,1]]]}`)}}
	g, err := p.geometry()
	if err != nil || !g.HasM || len(g.Rings[0]) != 4 || g.Rings[0][2][2] != 3 {
		t.Fatalf("%v %+v", err, g)
	}
	for _, s := range []string{`{"x":"1","y":2}`, `{"spatialReference":{"wkid":1},"x":1,"y":2}`, `{"x":1,"y":2,"x":3}`} {
		if _, err := (&gparser{scanner: scanner{b: []byte(s)}}).geometry(); err == nil {
			t.Errorf("%s: fast path should defer to encoding/json", s)
		}
	}
}

// Numbers strconv takes but JSON does not are not accepted by the fast
// parser (it used to return a geometry for {"x":+1,"y":2}).
func TestFastGeometryStrictNumbers(t *testing.T) {
	for _, s := range []string{`{"x":+1,"y":2}`, `{"x":.5,"y":2}`, `{"x":1.,"y":2}`, `{"x":01,"y":2}`, `{"x":1e,"y":2}`, `{"x":-,"y":2}`} {
		if g, err := decodeGeometry([]byte(s)); err == nil {
			t.Errorf("%s: decoded %+v, want an error as from encoding/json", s, g)
		}
	}
}
