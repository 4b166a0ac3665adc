package localapi

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/offlined/offlined/geodb"
)

// property is one GeoJSON property of a query's features: the index of
// its value in the row and its key, already written as `"name":`.
type property struct {
	idx int
	key string
}

// propertyOrder returns the properties of a query's features: the columns
// of t in table order that are among cols (the query's columns).
func propertyOrder(t *geodb.Table, cols []*geodb.Column) []property {
	props := make([]property, 0, len(cols))
	for _, c := range t.Cols {
		for j, oc := range cols {
			if oc.Name == c.Name {
				props = append(props, property{idx: j, key: string(append(appendJSONString(nil, c.Name), ':'))})
				break
			}
		}
	}
	return props
}

// appendFeature appends row as a GeoJSON Feature: properties in the
// table's column order (props, from propertyOrder), coordinates converted
// by x. A point is written straight from its blob. It avoids
// encoding/json's reflection and map-key sorting on the hot path of
// feature queries.
func appendFeature(b []byte, row *geodb.RowView, t *geodb.Table, props []property, x coordXform) ([]byte, error) {
	b = append(b, `{"type":"Feature","id":`...)
	b = strconv.AppendInt(b, row.OID, 10)
	b = append(b, `,"geometry":`...)
	if t.GeomCol == "" {
		b = append(b, "null"...)
	} else if px, py, pz, hasZ, ok := row.Point(); ok {
		lon, lat := x.toWGS(px, py)
		b = append(b, `{"type":"Point","coordinates":[`...)
		b = appendFloat(b, lon)
		b = append(b, ',')
		b = appendFloat(b, lat)
		if hasZ {
			b = append(b, ',')
			b = appendFloat(b, pz)
		}
		b = append(b, "]}"...)
	} else {
		g, err := row.Geometry()
		if err != nil {
			return b, err
		}
		if g == nil || g.IsEmpty() {
			b = append(b, "null"...)
		} else {
			b = appendGeometry(b, g, x)
		}
	}
	b = append(b, `,"properties":{`...)
	for i, p := range props {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.key...)
		b = appendCell(b, row.Cell(p.idx))
	}
	return append(b, "}}"...), nil
}

// appendCell appends value c (null, a number or a string).
func appendCell(b []byte, c geodb.Cell) []byte {
	switch c.Kind {
	case geodb.CellInt:
		return strconv.AppendInt(b, c.Int, 10)
	case geodb.CellFloat:
		return appendFloat(b, c.Float)
	case geodb.CellText:
		return appendJSONString(b, c.Text)
	}
	return append(b, "null"...)
}

func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (invalid UTF-8 becomes U+FFFD,
// as encoding/json does).
func appendJSONString[S ~string | ~[]byte](b []byte, s S) []byte {
	b = append(b, '"')
	plain := 0 // s[:plain] needs no escaping: copied at once
	for plain < len(s) && s[plain] >= 0x20 && s[plain] < utf8.RuneSelf && s[plain] != '"' && s[plain] != '\\' {
		plain++
	}
	b = append(b, s[:plain]...)
	for i := plain; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				switch c {
				case '\n':
					b = append(b, '\\', 'n')
				case '\r':
					b = append(b, '\\', 'r')
				case '\t':
					b = append(b, '\\', 't')
				default:
					b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
				}
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// decodeRune is utf8.DecodeRune for a string or bytes.
func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	var buf [utf8.UTFMax]byte
	return utf8.DecodeRune(buf[:copy(buf[:], s)])
}

func appendPos(b []byte, c []float64, g *geodb.Geom, x coordXform) []byte {
	lon, lat := x.toWGS(c[0], c[1])
	b = append(b, '[')
	b = appendFloat(b, lon)
	b = append(b, ',')
	b = appendFloat(b, lat)
	if g.HasZ && len(c) > 2 {
		b = append(b, ',')
		b = appendFloat(b, c[2])
	}
	return append(b, ']')
}

func appendLine(b []byte, l [][]float64, g *geodb.Geom, x coordXform, reversed bool) []byte {
	b = append(b, '[')
	for i := range l {
		if i > 0 {
			b = append(b, ',')
		}
		j := i
		if reversed {
			j = len(l) - 1 - i
		}
		b = appendPos(b, l[j], g, x)
	}
	return append(b, ']')
}

// appendPoly writes rings with RFC 7946 orientation (exterior counter-
// clockwise, holes clockwise), judged after the coordinate conversion.
func appendPoly(b []byte, p [][][]float64, g *geodb.Geom, x coordXform) []byte {
	b = append(b, '[')
	for i, r := range p {
		if i > 0 {
			b = append(b, ',')
		}
		// The conversions used keep orientation, so the raw coordinates
		// suffice.
		ccw := ringArea(r) > 0
		b = appendLine(b, r, g, x, (i == 0) != ccw)
	}
	return append(b, ']')
}

func appendGeometry(b []byte, g *geodb.Geom, x coordXform) []byte {
	switch g.Type {
	case geodb.GeomPoint:
		b = append(b, `{"type":"Point","coordinates":`...)
		b = appendPos(b, g.Points[0], g, x)
	case geodb.GeomMultiPoint:
		b = append(b, `{"type":"MultiPoint","coordinates":`...)
		b = appendLine(b, g.Points, g, x, false)
	case geodb.GeomLineString:
		b = append(b, `{"type":"LineString","coordinates":`...)
		b = appendLine(b, g.Lines[0], g, x, false)
	case geodb.GeomMultiLineString:
		b = append(b, `{"type":"MultiLineString","coordinates":[`...)
		for i, l := range g.Lines {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendLine(b, l, g, x, false)
		}
		b = append(b, ']')
	case geodb.GeomPolygon:
		b = append(b, `{"type":"Polygon","coordinates":`...)
		b = appendPoly(b, g.Polys[0], g, x)
	case geodb.GeomMultiPolygon:
		b = append(b, `{"type":"MultiPolygon","coordinates":[`...)
		for i, p := range g.Polys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendPoly(b, p, g, x)
		}
		b = append(b, ']')
	default:
		return append(b, "null"...)
	}
	return append(b, '}')
}
