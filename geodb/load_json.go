package geodb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/offlined/offlined/internal/arcgis"
)

// jsonReader is the bulk loader's streaming JSON reader: it walks the
// document's structure (objects, arrays, keys) and hands out each value it
// is asked for as raw bytes, without encoding/json's per-byte state
// machine. It only delimits values; what it hands out is validated where
// it is decoded (fastFeature, json.Unmarshal, or json.Valid for skipped
// members), so bad input still fails the load.
type jsonReader struct {
	r   io.Reader
	buf []byte
	pos int
	off int64 // input bytes dropped before buf[0]
	err error // sticky read error (io.EOF at the end)
}

func newJSONReader(r io.Reader) *jsonReader {
	return &jsonReader{r: r, buf: make([]byte, 0, 256<<10)}
}

// fill reads more input after buf[pos:], moving it to the front and growing
// the buffer when a value does not fit. It reports whether bytes came in.
func (j *jsonReader) fill() bool {
	if j.pos > 0 {
		n := copy(j.buf, j.buf[j.pos:])
		j.off += int64(j.pos)
		j.buf, j.pos = j.buf[:n], 0
	}
	if len(j.buf) == cap(j.buf) {
		nb := make([]byte, len(j.buf), 2*cap(j.buf))
		copy(nb, j.buf)
		j.buf = nb
	}
	for j.err == nil {
		n, err := j.r.Read(j.buf[len(j.buf):cap(j.buf)])
		j.buf = j.buf[:len(j.buf)+n]
		if err != nil {
			j.err = err
		}
		if n > 0 {
			return true
		}
	}
	return false
}

func (j *jsonReader) eof() error {
	if j.err != nil && j.err != io.EOF {
		return j.err
	}
	return io.ErrUnexpectedEOF
}

// peek skips white space and returns the next byte without consuming it.
func (j *jsonReader) peek() (byte, error) {
	for {
		for j.pos < len(j.buf) {
			switch c := j.buf[j.pos]; c {
			case ' ', '\t', '\n', '\r':
				j.pos++
			default:
				return c, nil
			}
		}
		if !j.fill() {
			return 0, j.eof()
		}
	}
}

// expect consumes the byte c (after white space) or fails.
func (j *jsonReader) expect(c byte) error {
	b, err := j.peek()
	if err != nil {
		return err
	}
	if b != c {
		return fmt.Errorf("offset %d: expected %q, got %q", j.off+int64(j.pos), c, b)
	}
	j.pos++
	return nil
}

// next consumes c if it comes next.
func (j *jsonReader) next(c byte) (bool, error) {
	b, err := j.peek()
	if err != nil {
		return false, err
	}
	if b == c {
		j.pos++
	}
	return b == c, nil
}

// elems calls fn for each element of an array or each member of an object
// (fn reads the member's key and value), handling the commas. open is '['
// or '{'.
func (j *jsonReader) elems(open byte, fn func() error) error {
	close := byte(']')
	if open == '{' {
		close = '}'
	}
	if err := j.expect(open); err != nil {
		return err
	}
	if done, err := j.next(close); done || err != nil {
		return err
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		b, err := j.peek()
		if err != nil {
			return err
		}
		j.pos++
		switch b {
		case ',':
		case close:
			return nil
		default:
			return fmt.Errorf("offset %d: expected ',' or %q, got %q", j.off+int64(j.pos-1), close, b)
		}
	}
}

// key reads an object key and its colon.
func (j *jsonReader) key() (string, error) {
	raw, err := j.raw()
	if err != nil {
		return "", err
	}
	var k string
	if len(raw) >= 2 && raw[0] == '"' && plainString(raw[1:len(raw)-1]) {
		k = string(raw[1 : len(raw)-1])
	} else if err := json.Unmarshal(raw, &k); err != nil {
		return "", fmt.Errorf("object key: %w", err)
	}
	return k, j.expect(':')
}

// raw returns the bytes of the next value (valid until the next call). It
// scans each byte once, however the value is split across reads.
func (j *jsonReader) raw() ([]byte, error) {
	if _, err := j.peek(); err != nil {
		return nil, err
	}
	depth, i := 0, j.pos
	inStr, esc := false, false
	for {
		if i >= len(j.buf) {
			start := j.pos
			more := j.fill()
			i -= start // fill moved the unread bytes to the front
			if !more {
				if depth == 0 && !inStr && i > j.pos {
					break // a scalar at the very end
				}
				return nil, j.eof()
			}
			continue
		}
		c := j.buf[i]
		i++
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
				if depth == 0 {
					return j.take(i), nil
				}
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				if i-1 == j.pos {
					return nil, fmt.Errorf("offset %d: unexpected %q", j.off+int64(i-1), c)
				}
				return j.take(i - 1), nil // ends a scalar
			}
			depth--
			if depth == 0 {
				return j.take(i), nil
			}
		case ',', ':', ' ', '\t', '\n', '\r':
			if depth == 0 {
				if i-1 == j.pos {
					return nil, fmt.Errorf("offset %d: unexpected %q", j.off+int64(i-1), c)
				}
				return j.take(i - 1), nil
			}
		}
	}
	return j.take(i), nil
}

// take consumes buf[pos:end] and returns it.
func (j *jsonReader) take(end int) []byte {
	v := j.buf[j.pos:end]
	j.pos = end
	return v
}

// skip reads past the next value, checking it is valid JSON.
func (j *jsonReader) skip() error {
	raw, err := j.raw()
	if err != nil {
		return err
	}
	if !json.Valid(raw) {
		return fmt.Errorf("offset %d: invalid JSON value", j.off+int64(j.pos-len(raw)))
	}
	return nil
}

// plainString reports whether the bytes between a string's quotes need no
// decoding: no escapes, no control characters, valid UTF-8.
func plainString(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c < 0x20 || c == '\\' || c == '"' {
			return false
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return ascii || utf8.Valid(b)
}

// errSlowFeature means "not the common shape": decode with encoding/json.
var errSlowFeature = errors.New("feature needs encoding/json")

// featureParser decodes the common shape of a feature, {"attributes":{…},
// "geometry":{…}} with plain keys and scalar values, into what
// encoding/json would make of it (wireFeature with UseNumber). Anything
// else returns errSlowFeature and is decoded by encoding/json instead, so
// results are identical.
type featureParser struct {
	scanner
	keys map[string]string // interned attribute names
	geom gparser
}

// scanNumber returns the end of the JSON number (RFC 8259 grammar) that
// starts at b[i], or -1.
func scanNumber(b []byte, i int) int {
	digits := func() bool {
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > d
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return -1
		}
	}
	return i
}

// value reads a scalar attribute value.
func (p *featureParser) value() (any, bool) {
	p.ws()
	if p.i >= len(p.b) {
		return nil, false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		s, ok := p.str()
		return string(s), ok
	case c == '-' || c >= '0' && c <= '9':
		n, ok := p.number()
		return json.Number(n), ok
	case c == 't':
		return true, p.lit("true")
	case c == 'f':
		return false, p.lit("false")
	case c == 'n':
		return nil, p.lit("null")
	}
	return nil, false // objects and arrays: encoding/json
}

func (p *featureParser) attributes(size int) (map[string]any, bool) {
	p.ws()
	if p.lit("null") {
		return nil, true
	}
	if !p.eat('{') {
		return nil, false
	}
	m := make(map[string]any, size)
	if p.eat('}') {
		return m, true
	}
	for {
		kb, ok := p.str()
		if !ok || !p.eat(':') {
			return nil, false
		}
		k, ok := p.keys[string(kb)]
		if !ok {
			k = string(kb)
			if len(p.keys) < 1024 {
				p.keys[k] = k
			}
		}
		v, ok := p.value()
		if !ok {
			return nil, false
		}
		m[k] = v
		if p.eat('}') {
			return m, true
		}
		if !p.eat(',') {
			return nil, false
		}
	}
}

// geometry delimits the geometry value (validated by decodeGeometry).
func (p *featureParser) geometry() ([]byte, bool) {
	p.ws()
	if p.lit("null") {
		return []byte("null"), true
	}
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return nil, false
	}
	start, depth := p.i, 0
	for k := p.i; k < len(p.b); k++ {
		switch p.b[k] {
		case '"':
			for k++; k < len(p.b) && p.b[k] != '"'; k++ {
				if p.b[k] == '\\' {
					k++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				p.i = k + 1
				return p.b[start:p.i], true
			}
		}
	}
	return nil, false
}

// feature decodes one feature's bytes into attributes and geometry.
func (p *featureParser) feature(b []byte, size int) (attrs map[string]any, geom *arcgis.Geometry, err error) {
	p.b, p.i = b, 0
	if !p.eat('{') {
		return nil, nil, errSlowFeature
	}
	var seenA, seenG bool
	if !p.eat('}') {
		for {
			kb, ok := p.str()
			if !ok || !p.eat(':') {
				return nil, nil, errSlowFeature
			}
			switch {
			case string(kb) == "attributes" && !seenA:
				seenA = true
				if attrs, ok = p.attributes(size); !ok {
					return nil, nil, errSlowFeature
				}
			case string(kb) == "geometry" && !seenG:
				seenG = true
				raw, ok := p.geometry()
				if !ok {
					return nil, nil, errSlowFeature
				}
				if geom, err = decodeGeometryWith(&p.geom, raw); err != nil {
					return nil, nil, errSlowFeature // let the slow path report it
				}
			default:
				return nil, nil, errSlowFeature // other or repeated members
			}
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return nil, nil, errSlowFeature
			}
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, nil, errSlowFeature
	}
	return attrs, geom, nil
}
