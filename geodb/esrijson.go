package geodb

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/offlined/offlined/internal/arcgis"
)

// wireFeature is a feature as read by the bulk loader: attributes through
// encoding/json, the geometry kept raw for parseEsriGeometry.
type wireFeature struct {
	Attributes map[string]any  `json:"attributes"`
	Geometry   json.RawMessage `json:"geometry"`
}

// decodeFeature decodes one feature's bytes: the common shape by fp,
// anything else by encoding/json. gerr is a geometry that could not be
// decoded (the feature loads without it); err is bad JSON.
func decodeFeature(fp *featureParser, raw []byte, size int) (f arcgis.Feature, gerr, err error) {
	attrs, g, ferr := fp.feature(raw, size)
	if ferr == nil {
		return arcgis.Feature{Attributes: attrs, Geometry: g}, nil, nil
	}
	var w wireFeature
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&w); err != nil {
		return f, nil, err
	}
	if d.InputOffset() != int64(len(raw)) {
		if _, err := d.Token(); err != io.EOF {
			return f, nil, fmt.Errorf("invalid data after feature at offset %d", d.InputOffset())
		}
	}
	eg, gerr := decodeGeometry(w.Geometry)
	return arcgis.Feature{Attributes: w.Attributes, Geometry: eg}, gerr, nil
}

// errFallback means "not the common shape": use encoding/json instead.
var errFallback = errors.New("fallback")

// decodeGeometry parses Esri JSON geometry bytes. The hand-written parser
// covers the shapes servers send (numbers, nested coordinate arrays, hasZ,
// hasM, spatialReference) several times faster than reflection; anything
// else (quoted or null coordinates, unknown members) goes through
// arcgis.Geometry's own decoder, so results are identical.
func decodeGeometry(raw []byte) (*arcgis.Geometry, error) {
	return decodeGeometryWith(&gparser{}, raw)
}

// decodeGeometryWith is decodeGeometry reusing p's scratch buffers.
func decodeGeometryWith(p *gparser, raw []byte) (*arcgis.Geometry, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	p.b, p.i = raw, 0
	g, err := p.geometry()
	if err == nil {
		return g, nil
	}
	var slow arcgis.Geometry
	if err := json.Unmarshal(raw, &slow); err != nil {
		return nil, err
	}
	return &slow, nil
}

// scanner is the cursor the hand-written JSON parsers (gparser,
// featureParser) share: the bytes of one value and a position in them.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// eat consumes c (after white space) if it comes next.
func (s *scanner) eat(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// lit consumes the literal l if it comes next.
func (s *scanner) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// str reads a plain string (see plainString) and returns its contents,
// aliasing s.b.
func (s *scanner) str() ([]byte, bool) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for k := start; k < len(s.b); k++ {
		c := s.b[k]
		if c == '"' {
			if !plainString(s.b[start:k]) {
				return nil, false
			}
			s.i = k + 1
			return s.b[start:k], true
		}
		if c == '\\' || c < 0x20 {
			return nil, false
		}
	}
	return nil, false
}

// number reads a number in JSON's grammar and returns its text.
func (s *scanner) number() ([]byte, bool) {
	s.ws()
	end := scanNumber(s.b, s.i)
	if end < 0 {
		return nil, false
	}
	start := s.i
	s.i = end
	return s.b[start:end], true
}

type gparser struct {
	scanner
	flat []float64 // scratch: a ring's numbers
	ends []int     // scratch: where each point ends in flat
}

// key reads a plain object key and the colon after it.
func (p *gparser) key() (string, error) {
	k, ok := p.str()
	if !ok || !p.eat(':') {
		return "", errFallback
	}
	return string(k), nil
}

// number reads a number in JSON's grammar (strconv.ParseFloat alone would
// also take "+1", ".5" or "1.", which encoding/json rejects).
func (p *gparser) number() (float64, error) {
	t, ok := p.scanner.number()
	if !ok {
		return 0, errFallback
	}
	f, err := strconv.ParseFloat(string(t), 64)
	if err != nil {
		return 0, errFallback
	}
	return f, nil
}

func (p *gparser) boolean() (bool, error) {
	p.ws()
	switch {
	case p.lit("true"):
		return true, nil
	case p.lit("false"):
		return false, nil
	}
	return false, errFallback
}

// coords reads [[n,n,…],…]. The numbers go to a scratch buffer first and
// then to one backing array the points slice (two allocations a ring
// instead of one a point).
func (p *gparser) coords() ([][]float64, error) {
	if !p.eat('[') {
		return nil, errFallback
	}
	if p.eat(']') {
		return [][]float64{}, nil
	}
	p.flat, p.ends = p.flat[:0], p.ends[:0]
	for {
		if !p.eat('[') {
			return nil, errFallback
		}
		if !p.eat(']') {
			for {
				f, err := p.number()
				if err != nil {
					return nil, err
				}
				p.flat = append(p.flat, f)
				if p.eat(']') {
					break
				}
				if !p.eat(',') {
					return nil, errFallback
				}
			}
		}
		p.ends = append(p.ends, len(p.flat))
		if p.eat(']') {
			break
		}
		if !p.eat(',') {
			return nil, errFallback
		}
	}
	backing := make([]float64, len(p.flat))
	copy(backing, p.flat)
	out := make([][]float64, len(p.ends))
	start := 0
	for i, end := range p.ends {
		out[i] = backing[start:end:end]
		start = end
	}
	return out, nil
}

// parts reads [[[n,…],…],…].
func (p *gparser) parts() ([][][]float64, error) {
	if !p.eat('[') {
		return nil, errFallback
	}
	out := [][][]float64{}
	if p.eat(']') {
		return out, nil
	}
	for {
		c, err := p.coords()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
		if p.eat(']') {
			return out, nil
		}
		if !p.eat(',') {
			return nil, errFallback
		}
	}
}

func (p *gparser) geometry() (*arcgis.Geometry, error) {
	g := &arcgis.Geometry{}
	if !p.eat('{') {
		return nil, errFallback
	}
	var seen uint32
	if !p.eat('}') {
		for {
			k, err := p.key()
			if err != nil {
				return nil, err
			}
			m := memberIndex(k)
			if m < 0 || seen&(1<<m) != 0 {
				return nil, errFallback // unknown or duplicate member: let encoding/json decide
			}
			seen |= 1 << m
			switch k {
			case "points":
				g.Points, err = p.coords()
			case "paths":
				g.Paths, err = p.parts()
			case "rings":
				g.Rings, err = p.parts()
			case "hasZ":
				g.HasZ, err = p.boolean()
			case "hasM":
				g.HasM, err = p.boolean()
			default: // memberIndex lets only the number members get here
				err = p.numberInto(numberMembers(g)[m])
			}
			if err != nil {
				return nil, err
			}
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return nil, errFallback
			}
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, errFallback
	}
	if (g.X == nil) != (g.Y == nil) {
		return nil, errFallback
	}
	return g, nil
}

// numberInto reads a number and points *dst at it.
func (p *gparser) numberInto(dst **float64) error {
	f, err := p.number()
	if err != nil {
		return err
	}
	*dst = &f
	return nil
}

// geometryMembers are the members gparser reads, the numbers first.
var geometryMembers = [...]string{"x", "y", "z", "m", "xmin", "ymin", "xmax", "ymax", "points", "paths", "rings", "hasZ", "hasM"}

// memberIndex is k's index in geometryMembers, or -1.
func memberIndex(k string) int {
	for i, name := range geometryMembers {
		if k == name {
			return i
		}
	}
	return -1
}

// numberMembers are where g keeps the number members, in
// geometryMembers' order.
func numberMembers(g *arcgis.Geometry) [8]**float64 {
	return [8]**float64{&g.X, &g.Y, &g.Z, &g.M, &g.XMin, &g.YMin, &g.XMax, &g.YMax}
}
