package qgisproject

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// node is one XML element. The project is built as a tree and written in
// one pass so attribute order and indentation are stable (golden tests).
type node struct {
	name     string
	attrs    [][2]string
	children []*node
	text     string
}

func el(name string, attrs ...string) *node {
	n := &node{name: name}
	for i := 0; i+1 < len(attrs); i += 2 {
		n.attrs = append(n.attrs, [2]string{attrs[i], attrs[i+1]})
	}
	return n
}

// add appends children and returns n.
func (n *node) add(cs ...*node) *node {
	for _, c := range cs {
		if c != nil {
			n.children = append(n.children, c)
		}
	}
	return n
}

// textEl is <name>text</name>.
func textEl(name, text string) *node { return &node{name: name, text: text} }

func (n *node) write(b *strings.Builder, depth int) {
	ind := strings.Repeat(" ", depth)
	b.WriteString(ind)
	b.WriteByte('<')
	b.WriteString(n.name)
	for _, a := range n.attrs {
		b.WriteByte(' ')
		b.WriteString(a[0])
		b.WriteString(`="`)
		escape(b, a[1])
		b.WriteByte('"')
	}
	switch {
	case len(n.children) == 0 && n.text == "":
		b.WriteString("/>\n")
	case len(n.children) == 0:
		b.WriteByte('>')
		escape(b, n.text)
		b.WriteString("</" + n.name + ">\n")
	default:
		b.WriteString(">\n")
		for _, c := range n.children {
			c.write(b, depth+1)
		}
		b.WriteString(ind + "</" + n.name + ">\n")
	}
}

func escape(b *strings.Builder, s string) {
	var sb strings.Builder
	xml.EscapeText(&sb, []byte(s)) //nolint:errcheck // a strings.Builder does not fail
	b.WriteString(sb.String())
}

// option is QGIS's typed option tree (<Option type="Map">…), used for
// symbol layer properties and widget configurations.
func optMap(name string, kv ...*node) *node {
	n := el("Option", "type", "Map")
	if name != "" {
		n = el("Option", "name", name, "type", "Map")
	}
	return n.add(kv...)
}

func optStr(name, value string) *node {
	return el("Option", "name", name, "type", "QString", "value", value)
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
