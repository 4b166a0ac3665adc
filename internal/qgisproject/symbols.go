package qgisproject

import (
	"encoding/json"
	"fmt"
	"strings"
)

// esriSymbol is the part of an Esri JSON symbol the translation reads.
type esriSymbol struct {
	Type        string      `json:"type"`
	Style       string      `json:"style"`
	Color       []float64   `json:"color"`
	Size        float64     `json:"size"`
	Width       float64     `json:"width"`
	Angle       float64     `json:"angle"`
	Outline     *esriSymbol `json:"outline"`
	ImageData   string      `json:"imageData"`
	ContentType string      `json:"contentType"`
	Height      float64     `json:"height"`
}

// esriRenderer is a drawingInfo.renderer.
type esriRenderer struct {
	Type             string      `json:"type"`
	Symbol           *esriSymbol `json:"symbol"`
	Label            string      `json:"label"`
	Field1           string      `json:"field1"`
	Field2           string      `json:"field2"`
	Field3           string      `json:"field3"`
	FieldDelimiter   string      `json:"fieldDelimiter"`
	DefaultSymbol    *esriSymbol `json:"defaultSymbol"`
	DefaultLabel     string      `json:"defaultLabel"`
	UniqueValueInfos []struct {
		Value  string      `json:"value"`
		Label  string      `json:"label"`
		Symbol *esriSymbol `json:"symbol"`
	} `json:"uniqueValueInfos"`
	Field           string   `json:"field"`
	MinValue        *float64 `json:"minValue"`
	ClassBreakInfos []struct {
		ClassMinValue *float64    `json:"classMinValue"`
		ClassMaxValue float64     `json:"classMaxValue"`
		Label         string      `json:"label"`
		Symbol        *esriSymbol `json:"symbol"`
	} `json:"classBreakInfos"`
}

// symbolKind is QGIS's symbol type for a layer geometry.
func symbolKind(geom string) string {
	switch geom {
	case "esriGeometryPoint", "esriGeometryMultipoint":
		return "marker"
	case "esriGeometryPolyline":
		return "line"
	default:
		return "fill"
	}
}

func color(c []float64, fallback string) string {
	if len(c) < 3 {
		return fallback
	}
	a := 255.0
	if len(c) >= 4 {
		a = c[3]
	}
	return fmt.Sprintf("%d,%d,%d,%d", int(c[0]), int(c[1]), int(c[2]), int(a))
}

var markerNames = map[string]string{
	"esriSMSCircle": "circle", "esriSMSSquare": "square", "esriSMSDiamond": "diamond",
	"esriSMSCross": "cross", "esriSMSX": "cross2", "esriSMSTriangle": "triangle",
}

var lineStyles = map[string]string{
	"esriSLSSolid": "solid", "esriSLSDash": "dash", "esriSLSDot": "dot", "esriSLSDashDot": "dash dot",
	"esriSLSDashDotDot": "dash dot dot", "esriSLSNull": "no",
}

var fillStyles = map[string]string{
	"esriSFSSolid": "solid", "esriSFSNull": "no", "esriSFSHorizontal": "horizontal", "esriSFSVertical": "vertical",
	"esriSFSCross": "cross", "esriSFSBackwardDiagonal": "b_diagonal", "esriSFSForwardDiagonal": "f_diagonal",
	"esriSFSDiagonalCross": "diagonal_x",
}

func orDefault(m map[string]string, k, def string) string {
	if v, ok := m[k]; ok {
		return v
	}
	return def
}

// fallbackSymbol is the symbol of a layer whose renderer or symbol has no
// translation: a mid-grey with a dark outline, so it is visible and clearly
// not the author's styling.
func fallbackSymbol(kind string) *esriSymbol {
	grey := []float64{128, 128, 128, 255}
	dark := &esriSymbol{Color: []float64{50, 50, 50, 255}, Width: 0.75}
	switch kind {
	case "marker":
		return &esriSymbol{Type: "esriSMS", Style: "esriSMSCircle", Color: grey, Size: 6, Outline: dark}
	case "line":
		return &esriSymbol{Type: "esriSLS", Style: "esriSLSSolid", Color: grey, Width: 1}
	}
	return &esriSymbol{Type: "esriSFS", Style: "esriSFSSolid", Color: []float64{128, 128, 128, 100}, Outline: dark}
}

// symbolXML translates an Esri symbol to a QGIS <symbol> of kind; a symbol
// of another geometry kind or type falls back to fallbackSymbol.
func symbolXML(name, kind string, s *esriSymbol) *node {
	if s == nil || symbolKindOf(s) != kind {
		s = fallbackSymbol(kind)
	}
	sym := el("symbol", "alpha", "1", "clip_to_extent", "1", "force_rhr", "0", "name", name, "type", kind)
	layer := func(class string, props ...*node) *node {
		return el("layer", "class", class, "enabled", "1", "locked", "0", "pass", "0").add(optMap("", props...))
	}
	switch s.Type {
	case "esriSMS":
		outline, ow := "35,35,35,255", 0.0
		if s.Outline != nil {
			outline, ow = color(s.Outline.Color, outline), s.Outline.Width
		}
		size := s.Size
		if size <= 0 {
			size = 6
		}
		sym.add(layer("SimpleMarker",
			optStr("angle", num(s.Angle)), optStr("color", color(s.Color, "128,128,128,255")),
			optStr("name", orDefault(markerNames, s.Style, "circle")),
			optStr("outline_color", outline), optStr("outline_style", "solid"),
			optStr("outline_width", num(ow)), optStr("outline_width_unit", "Point"),
			optStr("size", num(size)), optStr("size_unit", "Point")))
	case "esriPMS":
		w := s.Width
		if w <= 0 {
			w = 12
		}
		ct := s.ContentType
		if ct == "" {
			ct = "image/png"
		}
		sym.add(layer("RasterMarker",
			optStr("angle", num(s.Angle)), optStr("fixedAspectRatio", "0"),
			optStr("imageFile", "base64:"+s.ImageData), optStr("size", num(w)), optStr("size_unit", "Point")))
	case "esriSLS":
		w := s.Width
		if w <= 0 {
			w = 1
		}
		sym.add(layer("SimpleLine",
			optStr("capstyle", "round"), optStr("joinstyle", "round"),
			optStr("line_color", color(s.Color, "128,128,128,255")),
			optStr("line_style", orDefault(lineStyles, s.Style, "solid")),
			optStr("line_width", num(w)), optStr("line_width_unit", "Point")))
	default: // esriSFS, esriPFS (as a plain fill)
		outline, ow, os := "35,35,35,255", 0.0, "no"
		if s.Outline != nil {
			outline, ow = color(s.Outline.Color, outline), s.Outline.Width
			os = orDefault(lineStyles, s.Outline.Style, "solid")
		}
		fill := orDefault(fillStyles, s.Style, "solid")
		if s.Type == "esriPFS" {
			fill = "solid"
		}
		sym.add(layer("SimpleFill",
			optStr("color", color(s.Color, "128,128,128,100")),
			optStr("outline_color", outline), optStr("outline_style", os),
			optStr("outline_width", num(ow)), optStr("outline_width_unit", "Point"),
			optStr("style", fill)))
	}
	return sym
}

func symbolKindOf(s *esriSymbol) string {
	switch s.Type {
	case "esriSMS", "esriPMS":
		return "marker"
	case "esriSLS":
		return "line"
	case "esriSFS", "esriPFS":
		return "fill"
	}
	return ""
}

// rendererXML translates drawingInfo.renderer for a layer of geometry
// geom. It reports whether the renderer was translated; otherwise the
// layer gets a single fallback symbol.
func rendererXML(raw json.RawMessage, geom string) (*node, bool) {
	kind := symbolKind(geom)
	var r esriRenderer
	if len(raw) == 0 || json.Unmarshal(raw, &r) != nil {
		r = esriRenderer{}
	}
	base := func(typ string, attrs ...string) *node {
		return el("renderer-v2", append([]string{"enableorderby", "0", "forceraster", "0", "symbollevels", "0", "type", typ}, attrs...)...)
	}
	switch r.Type {
	case "simple":
		return base("singleSymbol").add(el("symbols").add(symbolXML("0", kind, r.Symbol))), true
	case "uniqueValue":
		if r.Field1 == "" {
			break
		}
		attr := r.Field1
		if r.Field2 != "" {
			delim := r.FieldDelimiter
			if delim == "" {
				delim = ","
			}
			parts := []string{qgsIdent(r.Field1), qgsString(delim), qgsIdent(r.Field2)}
			if r.Field3 != "" {
				parts = append(parts, qgsString(delim), qgsIdent(r.Field3))
			}
			attr = "concat(" + strings.Join(parts, ", ") + ")"
		}
		cats, syms := el("categories"), el("symbols")
		for i, u := range r.UniqueValueInfos {
			id := fmt.Sprint(i)
			label := u.Label
			if label == "" {
				label = u.Value
			}
			cats.add(el("category", "label", label, "render", "true", "symbol", id, "value", u.Value))
			syms.add(symbolXML(id, kind, u.Symbol))
		}
		if r.DefaultSymbol != nil {
			id := fmt.Sprint(len(r.UniqueValueInfos))
			cats.add(el("category", "label", r.DefaultLabel, "render", "true", "symbol", id, "value", ""))
			syms.add(symbolXML(id, kind, r.DefaultSymbol))
		}
		return base("categorizedSymbol", "attr", attr).add(cats, syms), true
	case "classBreaks":
		if r.Field == "" || len(r.ClassBreakInfos) == 0 {
			break
		}
		ranges, syms := el("ranges"), el("symbols")
		lower := 0.0
		if r.MinValue != nil {
			lower = *r.MinValue
		}
		for i, c := range r.ClassBreakInfos {
			if c.ClassMinValue != nil {
				lower = *c.ClassMinValue
			}
			id := fmt.Sprint(i)
			label := c.Label
			if label == "" {
				label = num(lower) + " - " + num(c.ClassMaxValue)
			}
			ranges.add(el("range", "label", label, "lower", num(lower), "render", "true", "symbol", id, "upper", num(c.ClassMaxValue)))
			syms.add(symbolXML(id, kind, c.Symbol))
			lower = c.ClassMaxValue
		}
		return base("graduatedSymbol", "attr", r.Field, "graduatedMethod", "GraduatedColor").add(ranges, syms), true
	}
	return base("singleSymbol").add(el("symbols").add(symbolXML("0", kind, nil))), false
}

// qgsIdent quotes a field name for a QGIS expression.
func qgsIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// qgsString quotes a string literal for a QGIS expression.
func qgsString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
