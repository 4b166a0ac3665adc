package portal

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// searchExpr is a parsed portal search query (`q`). The grammar is the
// subset of the portal's Lucene syntax that clients send:
//
//	expr    = and { "OR" and }
//	and     = unary { ["AND"] unary }
//	unary   = ["NOT" | "-" | "+"] primary
//	primary = "(" expr ")" | [field ":"] (word | "quoted phrase")
//
// Fields: id, owner, title, type, typekeywords, tags, access, orgid, group
// (groups are not modelled: group terms match every item). Any other field
// is matched against the free-text fields. Terms without a field match the
// title, tags, snippet, description or type (case-insensitive substring).
// "*" and the empty query match everything.
type searchExpr interface {
	match(it *Item, orgID string) bool
}

type (
	orExpr   []searchExpr
	andExpr  []searchExpr
	notExpr  struct{ e searchExpr }
	termExpr struct{ field, value string }
	allExpr  struct{}
)

func (e orExpr) match(it *Item, org string) bool {
	for _, x := range e {
		if x.match(it, org) {
			return true
		}
	}
	return false
}

func (e andExpr) match(it *Item, org string) bool {
	for _, x := range e {
		if !x.match(it, org) {
			return false
		}
	}
	return true
}

func (e notExpr) match(it *Item, org string) bool { return !e.e.match(it, org) }
func (allExpr) match(*Item, string) bool          { return true }

func (t termExpr) match(it *Item, org string) bool {
	v := strings.ToLower(t.value)
	eq := func(s string) bool { return strings.ToLower(s) == v }
	anyEq := func(ss []string) bool { return slices.ContainsFunc(ss, eq) }
	has := func(s string) bool {
		return v == "*" || strings.Contains(strings.ToLower(s), strings.TrimSuffix(v, "*"))
	}
	switch t.field {
	case "id":
		return eq(it.ID)
	case "owner":
		return eq(it.Owner)
	case "title":
		return has(it.Title)
	case "type":
		return eq(it.Type)
	case "typekeywords", "typekeyword":
		return anyEq(it.TypeKeywords)
	case "tags", "tag":
		return anyEq(it.Tags)
	case "access":
		return eq(it.Access)
	case "orgid":
		return eq(org)
	case "group":
		return true
	}
	return has(it.Title) || slices.ContainsFunc(it.Tags, has) || has(it.Snippet) || has(it.Description) || has(it.Type)
}

// parseSearchQuery parses q. It returns an error for unbalanced
// parentheses, unterminated quotes and dangling operators.
func parseSearchQuery(q string) (searchExpr, error) {
	toks, err := lexSearch(q)
	if err != nil {
		return nil, err
	}
	p := &searchParser{toks: toks}
	if len(toks) == 0 {
		return allExpr{}, nil
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, fmt.Errorf("search query: unexpected %q", p.toks[p.pos].text)
	}
	return e, nil
}

// searchTok is one lexical token: an operator/paren, or a term.
type searchTok struct {
	text  string
	term  bool
	field string
}

func lexSearch(q string) ([]searchTok, error) {
	var toks []searchTok
	rs := []rune(q)
	stop := func(r rune) bool { return unicode.IsSpace(r) || r == '(' || r == ')' || r == '"' }
	// readValue reads a quoted phrase or a bare word starting at i.
	readValue := func(i int) (string, int, error) {
		if i < len(rs) && rs[i] == '"' {
			end := i + 1
			for end < len(rs) && rs[end] != '"' {
				end++
			}
			if end >= len(rs) {
				return "", 0, fmt.Errorf("search query: unterminated quote")
			}
			return string(rs[i+1 : end]), end + 1, nil
		}
		start := i
		for i < len(rs) && !stop(rs[i]) {
			i++
		}
		return string(rs[start:i]), i, nil
	}
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
			continue
		case c == '(' || c == ')':
			toks = append(toks, searchTok{text: string(c)})
			i++
			continue
		case (c == '+' || c == '-') && i+1 < len(rs) && !unicode.IsSpace(rs[i+1]) && rs[i+1] != ')':
			toks = append(toks, searchTok{text: string(c)})
			i++
			continue
		case c == '"':
			v, next, err := readValue(i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, searchTok{term: true, text: v})
			i = next
			continue
		}
		start := i
		for i < len(rs) && !stop(rs[i]) && rs[i] != ':' {
			i++
		}
		word := string(rs[start:i])
		if i < len(rs) && rs[i] == ':' && word != "" {
			v, next, err := readValue(i + 1)
			if err != nil {
				return nil, err
			}
			if v == "" {
				return nil, fmt.Errorf("search query: field %q without value", word)
			}
			toks = append(toks, searchTok{term: true, field: strings.ToLower(word), text: v})
			i = next
			continue
		}
		if word == "" { // a stray ':' or lone '+'/'-'
			i++
			continue
		}
		if word == "AND" || word == "OR" || word == "NOT" {
			toks = append(toks, searchTok{text: word})
			continue
		}
		toks = append(toks, searchTok{term: true, text: word})
	}
	return toks, nil
}

type searchParser struct {
	toks []searchTok
	pos  int
}

func (p *searchParser) peek() (searchTok, bool) {
	if p.pos >= len(p.toks) {
		return searchTok{}, false
	}
	return p.toks[p.pos], true
}

func (p *searchParser) parseOr() (searchExpr, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	terms := orExpr{first}
	for {
		t, ok := p.peek()
		if !ok || t.term || t.text != "OR" {
			break
		}
		p.pos++
		next, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		terms = append(terms, next)
	}
	if len(terms) == 1 {
		return first, nil
	}
	return terms, nil
}

func (p *searchParser) parseAnd() (searchExpr, error) {
	var terms andExpr
	for {
		t, ok := p.peek()
		if !ok || !t.term && (t.text == "OR" || t.text == ")") {
			break
		}
		if !t.term && t.text == "AND" {
			p.pos++
			if n, ok := p.peek(); len(terms) == 0 || !ok || !n.term && (n.text == "OR" || n.text == "AND" || n.text == ")") {
				return nil, fmt.Errorf("search query: AND needs a term on both sides")
			}
			continue
		}
		e, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, e)
	}
	switch len(terms) {
	case 0:
		return nil, fmt.Errorf("search query: missing term")
	case 1:
		return terms[0], nil
	}
	return terms, nil
}

func (p *searchParser) parseUnary() (searchExpr, error) {
	t, _ := p.peek()
	if !t.term && (t.text == "NOT" || t.text == "-") {
		p.pos++
		e, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		return notExpr{e}, nil
	}
	if !t.term && t.text == "+" {
		p.pos++
	}
	return p.parsePrimary()
}

func (p *searchParser) parsePrimary() (searchExpr, error) {
	t, ok := p.peek()
	if !ok {
		return nil, fmt.Errorf("search query: missing term at end")
	}
	p.pos++
	if t.term {
		if t.field == "" && t.text == "*" {
			return allExpr{}, nil
		}
		return termExpr{field: t.field, value: t.text}, nil
	}
	if t.text != "(" {
		return nil, fmt.Errorf("search query: unexpected %q", t.text)
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if c, ok := p.peek(); !ok || c.term || c.text != ")" {
		return nil, fmt.Errorf("search query: missing )")
	}
	p.pos++
	return e, nil
}
