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

type gparser struct {
	b    []byte
	i    int
	flat []float64 // scratch: a ring's numbers
	ends []int     // scratch: where each point ends in flat
}

func (p *gparser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *gparser) eat(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// key reads a plain (escape-free) object key and the colon after it.
func (p *gparser) key() (string, error) {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", errFallback
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch p.b[j] {
		case '\\':
			return "", errFallback
		case '"':
			p.i = j + 1
			if !p.eat(':') {
				return "", errFallback
			}
			return string(p.b[start:j]), nil
		}
	}
	return "", errFallback
}

// number reads a number in JSON's grammar (strconv.ParseFloat alone would
// also take "+1", ".5" or "1.", which encoding/json rejects).
func (p *gparser) number() (float64, error) {
	p.ws()
	start := p.i
	end := scanNumber(p.b, start)
	if end < 0 {
		return 0, errFallback
	}
	p.i = end
	f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
	if err != nil {
		return 0, errFallback
	}
	return f, nil
}

func (p *gparser) boolean() (bool, error) {
	p.ws()
	switch {
	case len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "true":
		p.i += 4
		return true, nil
	case len(p.b)-p.i >= 5 && string(p.b[p.i:p.i+5]) == "false":
		p.i += 5
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
			b := memberBit(k)
			if b == 0 || seen&b != 0 {
				return nil, errFallback // unknown or duplicate member: let encoding/json decide
			}
			seen |= b
			switch k {
			case "x", "y", "z", "m", "xmin", "ymin", "xmax", "ymax":
				f, err := p.number()
				if err != nil {
					return nil, err
				}
				switch k {
				case "x":
					g.X = &f
				case "y":
					g.Y = &f
				case "z":
					g.Z = &f
				case "m":
					g.M = &f
				case "xmin":
					g.XMin = &f
				case "ymin":
					g.YMin = &f
				case "xmax":
					g.XMax = &f
				default:
					g.YMax = &f
				}
			case "points":
				if g.Points, err = p.coords(); err != nil {
					return nil, err
				}
			case "paths":
				if g.Paths, err = p.parts(); err != nil {
					return nil, err
				}
			case "rings":
				if g.Rings, err = p.parts(); err != nil {
					return nil, err
				}
			case "hasZ":
				if g.HasZ, err = p.boolean(); err != nil {
					return nil, err
				}
			case "hasM":
				if g.HasM, err = p.boolean(); err != nil {
					return nil, err
				}
			default:
				return nil, errFallback // spatialReference and the rest: rare per feature
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

func memberBit(k string) uint32 {
	for i, name := range [...]string{"x", "y", "z", "m", "xmin", "ymin", "xmax", "ymax", "points", "paths", "rings", "hasZ", "hasM"} {
		if k == name {
			return 1 << i
		}
	}
	return 0
}
