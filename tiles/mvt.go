package tiles

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
)

// MVTLayer is what a Mapbox Vector Tile layer tells about its schema.
type MVTLayer struct {
	Name     string
	Features int
	// Fields maps attribute names to "String", "Number" or "Boolean".
	Fields map[string]string
	// Strings are the string values seen (for glyph coverage).
	Strings []string
}

var errMVT = errors.New("malformed vector tile")

// DecodeMVTSchema reads the layers of a vector tile (gzip or plain) without
// decoding geometry: names, attribute types and string values.
func DecodeMVTSchema(b []byte) ([]MVTLayer, error) {
	if len(b) > 2 && b[0] == 0x1f && b[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("vector tile: %w", err)
		}
		raw, err := io.ReadAll(io.LimitReader(zr, 64<<20))
		if err != nil {
			return nil, fmt.Errorf("vector tile: gunzip: %w", err)
		}
		b = raw
	}
	var out []MVTLayer
	err := pbFields(b, func(num int, wt int, v uint64, data []byte) error {
		if num != 3 || wt != 2 {
			return nil
		}
		l, err := decodeLayer(data)
		if err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

type mvtValue struct {
	typ string
	str string
}

func decodeLayer(b []byte) (MVTLayer, error) {
	l := MVTLayer{Fields: map[string]string{}}
	var keys []string
	var vals []mvtValue
	var tags [][]uint64
	err := pbFields(b, func(num, wt int, v uint64, data []byte) error {
		switch {
		case num == 1 && wt == 2:
			l.Name = string(data)
		case num == 3 && wt == 2:
			keys = append(keys, string(data))
		case num == 4 && wt == 2:
			val := mvtValue{}
			err := pbFields(data, func(n, w int, v uint64, d []byte) error {
				switch n {
				case 1:
					val = mvtValue{typ: "String", str: string(d)}
				case 2, 3, 4, 5, 6:
					val = mvtValue{typ: "Number"}
				case 7:
					val = mvtValue{typ: "Boolean"}
				}
				return nil
			})
			if err != nil {
				return err
			}
			vals = append(vals, val)
		case num == 2 && wt == 2:
			l.Features++
			return pbFields(data, func(n, w int, v uint64, d []byte) error {
				if n != 2 || w != 2 {
					return nil
				}
				t, err := pbPacked(d)
				if err != nil {
					return err
				}
				tags = append(tags, t)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return l, err
	}
	if l.Name == "" {
		return l, fmt.Errorf("%w: layer without a name", errMVT)
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if len(t)%2 != 0 {
			return l, fmt.Errorf("%w: odd tag count in layer %s", errMVT, l.Name)
		}
		for i := 0; i < len(t); i += 2 {
			if t[i] >= uint64(len(keys)) || t[i+1] >= uint64(len(vals)) {
				return l, fmt.Errorf("%w: tag index out of range in layer %s", errMVT, l.Name)
			}
			k, v := keys[t[i]], vals[t[i+1]]
			if v.typ == "" {
				continue
			}
			if old, ok := l.Fields[k]; ok && old != v.typ {
				l.Fields[k] = "String" // mixed types: MBTiles says String
			} else if !ok {
				l.Fields[k] = v.typ
			}
		}
	}
	for _, v := range vals {
		if v.typ == "String" && !seen[v.str] {
			seen[v.str] = true
			l.Strings = append(l.Strings, v.str)
		}
	}
	sort.Strings(l.Strings)
	return l, nil
}

// pbFields walks protobuf fields; data is set for length-delimited ones.
func pbFields(b []byte, fn func(num, wt int, v uint64, data []byte) error) error {
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return errMVT
		}
		b = b[n:]
		num, wt := int(key>>3), int(key&7)
		if num == 0 {
			return errMVT
		}
		switch wt {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return errMVT
			}
			b = b[n:]
			if err := fn(num, wt, v, nil); err != nil {
				return err
			}
		case 1:
			if len(b) < 8 {
				return errMVT
			}
			if err := fn(num, wt, binary.LittleEndian.Uint64(b), nil); err != nil {
				return err
			}
			b = b[8:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) || l > math.MaxInt32 {
				return errMVT
			}
			data := b[n : n+int(l)]
			b = b[n+int(l):]
			if err := fn(num, wt, 0, data); err != nil {
				return err
			}
		case 5:
			if len(b) < 4 {
				return errMVT
			}
			if err := fn(num, wt, uint64(binary.LittleEndian.Uint32(b)), nil); err != nil {
				return err
			}
			b = b[4:]
		default:
			return errMVT
		}
	}
	return nil
}

func pbPacked(b []byte) ([]uint64, error) {
	var out []uint64
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errMVT
		}
		out = append(out, v)
		b = b[n:]
	}
	return out, nil
}
