package qgisproject

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// A MapLibre (Mapbox GL) style translated to QGIS's basic vector tile
// renderer: fill, line and circle layers with constant paint values, icon
// symbols as plain markers, zoom ranges and simple equality filters. Data-
// driven values take their first stop or a default; labels and other
// expressions are not translated (QGIS draws those features unlabelled).

type glStyle struct {
	Layers []glLayer `json:"layers"`
}

type glLayer struct {
	ID          string                     `json:"id"`
	Type        string                     `json:"type"`
	SourceLayer string                     `json:"source-layer"`
	MinZoom     *float64                   `json:"minzoom"`
	MaxZoom     *float64                   `json:"maxzoom"`
	Filter      json.RawMessage            `json:"filter"`
	Paint       map[string]json.RawMessage `json:"paint"`
	Layout      map[string]json.RawMessage `json:"layout"`
}

// vectorTileRenderer returns the <renderer> of a vector tile layer styled by
// style (nil style or no translatable layer: nil, QGIS's default style).
func vectorTileRenderer(style json.RawMessage) *node {
	var st glStyle
	if len(style) == 0 || json.Unmarshal(style, &st) != nil {
		return nil
	}
	styles := el("styles")
	n := 0
	for _, l := range st.Layers {
		if l.SourceLayer == "" {
			continue
		}
		var geom, kind string
		var s *esriSymbol
		switch l.Type {
		case "fill":
			geom, kind = "2", "fill"
			c := glColor(l.Paint["fill-color"], []float64{128, 128, 128, 255}, glNumber(l.Paint["fill-opacity"], 1))
			s = &esriSymbol{Type: "esriSFS", Style: "esriSFSSolid", Color: c}
			if raw, ok := l.Paint["fill-outline-color"]; ok {
				s.Outline = &esriSymbol{Color: glColor(raw, c, 1), Width: 0.75, Style: "esriSLSSolid"}
			}
		case "line":
			geom, kind = "1", "line"
			s = &esriSymbol{Type: "esriSLS", Style: "esriSLSSolid",
				Color: glColor(l.Paint["line-color"], []float64{0, 0, 0, 255}, glNumber(l.Paint["line-opacity"], 1)),
				Width: glNumber(l.Paint["line-width"], 1) * 0.75} // px → pt
		case "circle":
			geom, kind = "0", "marker"
			s = &esriSymbol{Type: "esriSMS", Style: "esriSMSCircle",
				Color: glColor(l.Paint["circle-color"], []float64{0, 0, 0, 255}, glNumber(l.Paint["circle-opacity"], 1)),
				Size:  glNumber(l.Paint["circle-radius"], 5) * 2 * 0.75,
				Outline: &esriSymbol{Color: glColor(l.Paint["circle-stroke-color"], []float64{0, 0, 0, 255}, 1),
					Width: glNumber(l.Paint["circle-stroke-width"], 0) * 0.75}}
		case "symbol":
			if _, icon := l.Layout["icon-image"]; !icon {
				continue // a label layer
			}
			geom, kind = "0", "marker"
			s = &esriSymbol{Type: "esriSMS", Style: "esriSMSCircle", Color: []float64{230, 90, 40, 255}, Size: 6,
				Outline: &esriSymbol{Color: []float64{255, 255, 255, 255}, Width: 0.75}}
		default:
			continue
		}
		minZ, maxZ := "-1", "-1"
		if l.MinZoom != nil {
			minZ = strconv.Itoa(int(zoom(*l.MinZoom)))
		}
		if l.MaxZoom != nil {
			maxZ = strconv.Itoa(int(math.Ceil(zoom(*l.MaxZoom))) - 1) // MapLibre's maxzoom is exclusive
		}
		styles.add(el("style", "enabled", "1", "expression", glFilter(l.Filter), "geometry", geom, "layer", l.SourceLayer,
			"max-zoom", maxZ, "min-zoom", minZ, "name", l.ID).add(el("symbols").add(symbolXML("0", kind, s))))
		n++
	}
	if n == 0 {
		return nil
	}
	return el("renderer", "type", "basic").add(styles)
}

// zoom clamps a style zoom level to MapLibre's range 0-24.
func zoom(z float64) float64 { return math.Max(0, math.Min(24, z)) }

// glValue is a paint value: a constant, or the first output of a zoom
// function ({"stops":[[z, v], …]}) or interpolate/step expression.
func glValue(raw json.RawMessage) any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	switch t := v.(type) {
	case map[string]any:
		if stops, ok := t["stops"].([]any); ok && len(stops) > 0 {
			if s, ok := stops[0].([]any); ok && len(s) == 2 {
				return s[1]
			}
		}
		return nil
	case []any:
		if len(t) > 0 {
			if op, _ := t[0].(string); op == "interpolate" && len(t) >= 5 {
				return t[4]
			} else if op == "step" && len(t) >= 3 {
				return t[2]
			}
		}
		return nil
	}
	return v
}

func glNumber(raw json.RawMessage, def float64) float64 {
	if f, ok := glValue(raw).(float64); ok {
		return f
	}
	return def
}

// glColor parses a CSS colour (#rgb, #rrggbb, rgb(), rgba()) into Esri's
// [r, g, b, a] with opacity applied; def when it does not parse.
func glColor(raw json.RawMessage, def []float64, opacity float64) []float64 {
	s, _ := glValue(raw).(string)
	s = strings.TrimSpace(strings.ToLower(s))
	var c []float64
	switch {
	case strings.HasPrefix(s, "#") && (len(s) == 4 || len(s) == 7):
		h := s[1:]
		if len(h) == 3 {
			h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
		}
		if v, err := strconv.ParseUint(h, 16, 32); err == nil {
			c = []float64{float64(v >> 16 & 255), float64(v >> 8 & 255), float64(v & 255), 255}
		}
	case strings.HasPrefix(s, "rgb(") || strings.HasPrefix(s, "rgba("):
		inner := s[strings.IndexByte(s, '(')+1:]
		inner = strings.TrimSuffix(inner, ")")
		parts := strings.Split(inner, ",")
		if len(parts) == 3 || len(parts) == 4 {
			c = make([]float64, 4)
			c[3] = 255
			for i, p := range parts {
				f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
				if err != nil {
					c = nil
					break
				}
				if i == 3 {
					f *= 255
				}
				c[i] = math.Max(0, math.Min(255, f))
			}
		}
	}
	if c == nil {
		c = append([]float64(nil), def...)
	}
	if len(c) == 4 {
		c[3] = math.Round(c[3] * math.Max(0, math.Min(1, opacity)))
	}
	return c
}

// glFilter translates ["==", key, value] (legacy or with ["get", key]) and
// ["all", …] of those into a QGIS expression; anything else gives "" (no
// filter).
func glFilter(raw json.RawMessage) string {
	var f []any
	if len(raw) == 0 || json.Unmarshal(raw, &f) != nil || len(f) == 0 {
		return ""
	}
	return glExpr(f)
}

func glExpr(f []any) string {
	op, _ := f[0].(string)
	switch op {
	case "all":
		var parts []string
		for _, sub := range f[1:] {
			s, ok := sub.([]any)
			if !ok {
				return ""
			}
			e := glExpr(s)
			if e == "" {
				return ""
			}
			parts = append(parts, "("+e+")")
		}
		return strings.Join(parts, " AND ")
	case "==", "!=":
		if len(f) != 3 {
			return ""
		}
		key, ok := f[1].(string)
		if get, isGet := f[1].([]any); isGet && len(get) == 2 && get[0] == "get" {
			key, ok = get[1].(string)
		}
		if !ok {
			return ""
		}
		var lit string
		switch v := f[2].(type) {
		case string:
			lit = qgsString(v)
		case float64:
			lit = strconv.FormatFloat(v, 'f', -1, 64)
		case bool:
			lit = fmt.Sprint(v)
		default:
			return ""
		}
		if key == "$type" {
			return ""
		}
		qop := "="
		if op == "!=" {
			qop = "<>"
		}
		return qgsIdent(key) + " " + qop + " " + lit
	}
	return ""
}
