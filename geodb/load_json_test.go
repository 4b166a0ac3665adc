package geodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

var featureSeeds = []string{
	`{"attributes":{"OBJECTID":1,"GlobalID":"{00000001-0000-4000-8000-000000000001}","name":"a","v":1.5e3,"n":null,"b":true,"c":false},"geometry":{"x":1,"y":2}}`,
	`{"geometry":{"rings":[[[0,0],[0,1],[1,1],[0,0]]]},"attributes":{"zone":"A"}}`,
	` { "attributes" : { "a" : -0.5 } , "geometry" : null } `,
	`{"attributes":{"a":"\u00e9\n"},"geometry":{"x":1,"y":2}}`,
	`{"attributes":{"a":{"nested":1}}}`,
	`{"attributes":{"a":1,"a":2}}`,
	`{"attributes":{"a":1},"attributes":{"b":2}}`,
	`{"Attributes":{"a":1}}`,
	`{"attributes":{"a":+1}}`,
	`{"attributes":{"a":01}}`,
	`{"attributes":{"é":"ü"}}`,
	`{"attributes":{"a":"x"},"geometry":{"x":+1,"y":2}}`,
	`{"attributes":{"a":"x"},"geometry":{"x":"NaN","y":2}}`,
	`{"attributes":{"a":"x"},"geometry":{"rings":[[1,2}]}}`,
	`{"attributes":{},"geometry":{},"symbol":null}`,
	`{}`, `null`, `[]`, `{"attributes":null}`,
}

// The fast feature decoder agrees with encoding/json (wireFeature,
// UseNumber) on every feature it accepts, and accepts only valid JSON.
func FuzzFastFeature(f *testing.F) {
	for _, s := range featureSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fp := &featureParser{keys: map[string]string{}}
		attrs, g, err := fp.feature(b, 4)
		if err != nil {
			return // the slow path decides
		}
		var w wireFeature
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&w); err != nil {
			t.Fatalf("%q: fast path accepted what encoding/json rejects: %v", b, err)
		}
		if _, err := d.Token(); err != io.EOF {
			t.Fatalf("%q: fast path accepted trailing data", b)
		}
		if !reflect.DeepEqual(attrs, w.Attributes) {
			t.Fatalf("%q: attributes\nfast %#v\njson %#v", b, attrs, w.Attributes)
		}
		wg, werr := decodeGeometry(w.Geometry)
		if werr != nil || !reflect.DeepEqual(g, wg) {
			t.Fatalf("%q: geometry\nfast %+v\njson %+v (%v)", b, g, wg, werr)
		}
	})
}

// Every seed decodes through decodeFeature as through encoding/json, fast
// path or not.
func TestDecodeFeatureSeeds(t *testing.T) {
	fp := &featureParser{keys: map[string]string{}}
	fast := 0
	for _, s := range featureSeeds {
		if _, _, err := fp.feature([]byte(s), 4); err == nil {
			fast++
		}
		f, gerr, err := decodeFeature(fp, []byte(s), 4)
		var w wireFeature
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		werr := d.Decode(&w)
		if (err != nil) != (werr != nil) {
			t.Errorf("%s: err %v, encoding/json %v", s, err, werr)
			continue
		}
		if err != nil {
			continue
		}
		wg, wgerr := decodeGeometry(w.Geometry)
		if !reflect.DeepEqual(f.Attributes, w.Attributes) || !reflect.DeepEqual(f.Geometry, wg) || (gerr != nil) != (wgerr != nil) {
			t.Errorf("%s: got %+v / %v, want %+v / %v", s, f, gerr, w, wgerr)
		}
	}
	if fast < 5 {
		t.Errorf("only %d seeds took the fast path", fast)
	}
}

// jsonReader hands out the same array elements as encoding/json's Decoder,
// whatever the read sizes, and fails where it fails.
func FuzzJSONReaderArray(f *testing.F) {
	for _, s := range []string{`[1, "a\"]", {"x":[1,{}]}, null, true, -2.5e3]`, `[]`, ` [ {} ] `, `[1 2]`, `[1,]`, `[{"a":"}"}]`, `["\\"]`, `[1`, `{"a":1}`, `[[[]]]`} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		var want []string
		dec := json.NewDecoder(bytes.NewReader(b))
		werr := func() error {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			if d, ok := tok.(json.Delim); !ok || d != '[' {
				return errors.New("not an array")
			}
			for dec.More() {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return err
				}
				want = append(want, string(raw))
			}
			_, err = dec.Token()
			return err
		}()
		var got []string
		r := io.Reader(bytes.NewReader(b))
		if chunk > 0 {
			r = iotest.HalfReader(&chunkReader{r: r, n: int(chunk)})
		}
		j := newJSONReader(r)
		j.buf = make([]byte, 0, 4) // exercise growing
		gerr := j.elems('[', func() error {
			raw, err := j.raw()
			if err != nil {
				return err
			}
			if !json.Valid(raw) {
				return errors.New("invalid element")
			}
			got = append(got, string(raw))
			return nil
		})
		if werr != nil {
			if gerr == nil {
				t.Fatalf("%q: encoding/json: %v, reader accepted %q", b, werr, got)
			}
			return
		}
		if gerr != nil {
			t.Fatalf("%q: reader: %v, encoding/json accepted %q", b, gerr, want)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nreader %q\njson   %q", b, got, want)
		}
	})
}

type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}
