package emulator

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/offlined/offlined/internal/arcgis"
)

// The emulator's where-clause subset (ArcGIS "standardized queries"):
//
//	expr   := expr OR expr | expr AND expr | NOT expr | pred
//	pred   := sum (= | <> | != | < | > | <= | >=) sum
//	        | sum [NOT] IN (sum, …) | sum [NOT] LIKE sum [ESCAPE 'c']
//	        | sum IS [NOT] NULL | sum [NOT] BETWEEN sum AND sum | sum
//	sum    := term ((+|-) term)* ; term := unary ((*|/) unary)*
//	unary  := - unary | primary
//	primary:= number | 'string' | DATE 'yyyy-mm-dd' | TIMESTAMP 'yyyy-mm-dd hh:mm:ss'
//	        | CURRENT_DATE | CURRENT_TIMESTAMP | NULL | TRUE | FALSE
//	        | field | UPPER(sum) | LOWER(sum) | (expr)
//
// Comparisons with NULL are unknown (SQL three-valued logic); LIKE is
// case-insensitive; GUID fields compare case-insensitively with or without
// braces; date fields (epoch ms) compare with DATE/TIMESTAMP literals or
// date strings.

// errWhere is wrapped by every where parse or bind error.
var errWhere = errors.New("'where' parameter is invalid")

// whereExpr is a parsed where clause bound to a layer's fields.
type whereExpr struct{ root wnode }

type wkind int

const (
	wLit wkind = iota
	wField
	wCmp
	wAnd
	wOr
	wNot
	wIn
	wLike
	wIsNull
	wBetween
	wArith
	wFunc
	wNeg
)

type wnode struct {
	kind  wkind
	op    string // comparison/arith operator or function name
	val   any    // literal: nil, float64, string, bool
	field string // canonical field name
	ftype string // field type
	kids  []wnode
	neg   bool // NOT IN / NOT LIKE / IS NOT NULL / NOT BETWEEN
	esc   rune
}

// parseWhere parses a where clause. fieldType resolves a field name
// (case-insensitively) to its canonical name and esriFieldType; unknown
// names are errors. An empty clause means 1=1.
func parseWhere(src string, fieldType func(string) (string, string, bool)) (*whereExpr, error) {
	if strings.TrimSpace(src) == "" {
		return &whereExpr{root: wnode{kind: wLit, val: true}}, nil
	}
	toks, err := lexWhere(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errWhere, err)
	}
	p := &wparser{toks: toks, field: fieldType}
	n, err := p.or()
	if err == nil && p.pos < len(p.toks) {
		err = fmt.Errorf("unexpected %q", p.toks[p.pos].s)
	}
	if err == nil && !n.isBool() {
		err = fmt.Errorf("not a condition")
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errWhere, err)
	}
	return &whereExpr{root: n}, nil
}

func (n wnode) isBool() bool {
	switch n.kind {
	case wCmp, wAnd, wOr, wNot, wIn, wLike, wIsNull, wBetween:
		return true
	case wLit:
		_, ok := n.val.(bool)
		return ok
	}
	return false
}

type wtok struct {
	t string // "num", "str", "id", "op", "("…
	s string
}

func lexWhere(src string) ([]wtok, error) {
	var out []wtok
	rs := []rune(src)
	for i := 0; i < len(rs); {
		c := rs[i]
		switch {
		case unicode.IsSpace(c):
			i++
		case c == '\'':
			var b strings.Builder
			i++
			closed := false
			for i < len(rs) {
				if rs[i] == '\'' {
					if i+1 < len(rs) && rs[i+1] == '\'' {
						b.WriteRune('\'')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				b.WriteRune(rs[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, wtok{"str", b.String()})
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(rs) && rs[i+1] >= '0' && rs[i+1] <= '9':
			j := i
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == '.' || rs[j] == 'e' || rs[j] == 'E' ||
				(rs[j] == '-' || rs[j] == '+') && j > i && (rs[j-1] == 'e' || rs[j-1] == 'E')) {
				j++
			}
			out = append(out, wtok{"num", string(rs[i:j])})
			i = j
		case unicode.IsLetter(c) || c == '_' || c == '"' || c == '[':
			if c == '"' || c == '[' { // quoted identifier
				end := '"'
				if c == '[' {
					end = ']'
				}
				j := i + 1
				for j < len(rs) && rs[j] != end {
					j++
				}
				if j >= len(rs) {
					return nil, fmt.Errorf("unterminated identifier")
				}
				out = append(out, wtok{"qid", string(rs[i+1 : j])})
				i = j + 1
				continue
			}
			j := i
			for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_' || rs[j] == '.') {
				j++
			}
			out = append(out, wtok{"id", string(rs[i:j])})
			i = j
		case c == '(' || c == ')' || c == ',':
			out = append(out, wtok{string(c), string(c)})
			i++
		case strings.ContainsRune("=<>!+-*/", c):
			if i+1 < len(rs) {
				two := string(rs[i : i+2])
				if two == "<>" || two == "<=" || two == ">=" || two == "!=" {
					out = append(out, wtok{"op", two})
					i += 2
					continue
				}
			}
			if c == '!' {
				return nil, fmt.Errorf("unexpected '!'")
			}
			out = append(out, wtok{"op", string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q", c)
		}
	}
	return out, nil
}

type wparser struct {
	toks  []wtok
	pos   int
	field func(string) (string, string, bool)
	depth int
}

func (p *wparser) peek() wtok {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return wtok{}
}

func (p *wparser) kw(word string) bool {
	t := p.peek()
	if t.t == "id" && strings.EqualFold(t.s, word) {
		p.pos++
		return true
	}
	return false
}

func (p *wparser) isKw(off int, word string) bool {
	if p.pos+off < len(p.toks) {
		t := p.toks[p.pos+off]
		return t.t == "id" && strings.EqualFold(t.s, word)
	}
	return false
}

func (p *wparser) expect(t string) error {
	if p.peek().t != t {
		return fmt.Errorf("expected %q", t)
	}
	p.pos++
	return nil
}

func (p *wparser) or() (wnode, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 200 {
		return wnode{}, fmt.Errorf("expression too deep")
	}
	l, err := p.and()
	if err != nil {
		return l, err
	}
	for p.kw("OR") {
		r, err := p.and()
		if err != nil {
			return r, err
		}
		if !l.isBool() || !r.isBool() {
			return l, fmt.Errorf("OR needs conditions")
		}
		l = wnode{kind: wOr, kids: []wnode{l, r}}
	}
	return l, nil
}

func (p *wparser) and() (wnode, error) {
	l, err := p.not()
	if err != nil {
		return l, err
	}
	for p.kw("AND") {
		r, err := p.not()
		if err != nil {
			return r, err
		}
		if !l.isBool() || !r.isBool() {
			return l, fmt.Errorf("AND needs conditions")
		}
		l = wnode{kind: wAnd, kids: []wnode{l, r}}
	}
	return l, nil
}

func (p *wparser) not() (wnode, error) {
	if p.kw("NOT") {
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 200 {
			return wnode{}, fmt.Errorf("expression too deep")
		}
		n, err := p.not()
		if err != nil {
			return n, err
		}
		if !n.isBool() {
			return n, fmt.Errorf("NOT needs a condition")
		}
		return wnode{kind: wNot, kids: []wnode{n}}, nil
	}
	return p.pred()
}

func (p *wparser) pred() (wnode, error) {
	l, err := p.sum()
	if err != nil {
		return l, err
	}
	t := p.peek()
	if t.t == "op" {
		switch t.s {
		case "=", "<>", "!=", "<", ">", "<=", ">=":
			p.pos++
			r, err := p.sum()
			if err != nil {
				return r, err
			}
			op := t.s
			if op == "!=" {
				op = "<>"
			}
			return wnode{kind: wCmp, op: op, kids: []wnode{l, r}}, nil
		}
	}
	neg := false
	if p.isKw(0, "NOT") && (p.isKw(1, "IN") || p.isKw(1, "LIKE") || p.isKw(1, "BETWEEN")) {
		p.pos++
		neg = true
	}
	switch {
	case p.kw("IN"):
		if err := p.expect("("); err != nil {
			return l, err
		}
		n := wnode{kind: wIn, neg: neg, kids: []wnode{l}}
		for {
			v, err := p.sum()
			if err != nil {
				return v, err
			}
			n.kids = append(n.kids, v)
			if p.peek().t == "," {
				p.pos++
				continue
			}
			break
		}
		return n, p.expect(")")
	case p.kw("LIKE"):
		r, err := p.sum()
		if err != nil {
			return r, err
		}
		n := wnode{kind: wLike, neg: neg, kids: []wnode{l, r}}
		if p.kw("ESCAPE") {
			e := p.peek()
			if e.t != "str" || len([]rune(e.s)) != 1 {
				return n, fmt.Errorf("ESCAPE needs one character")
			}
			n.esc = []rune(e.s)[0]
			p.pos++
		}
		return n, nil
	case p.kw("BETWEEN"):
		lo, err := p.sum()
		if err != nil {
			return lo, err
		}
		if !p.kw("AND") {
			return lo, fmt.Errorf("BETWEEN needs AND")
		}
		hi, err := p.sum()
		if err != nil {
			return hi, err
		}
		return wnode{kind: wBetween, neg: neg, kids: []wnode{l, lo, hi}}, nil
	case neg:
		return l, fmt.Errorf("misplaced NOT")
	case p.kw("IS"):
		n := wnode{kind: wIsNull, kids: []wnode{l}}
		if p.kw("NOT") {
			n.neg = true
		}
		if !p.kw("NULL") {
			return n, fmt.Errorf("IS needs NULL")
		}
		return n, nil
	}
	return l, nil
}

func (p *wparser) sum() (wnode, error) {
	l, err := p.term()
	if err != nil {
		return l, err
	}
	for t := p.peek(); t.t == "op" && (t.s == "+" || t.s == "-"); t = p.peek() {
		p.pos++
		r, err := p.term()
		if err != nil {
			return r, err
		}
		l = wnode{kind: wArith, op: t.s, kids: []wnode{l, r}}
	}
	return l, nil
}

func (p *wparser) term() (wnode, error) {
	l, err := p.unary()
	if err != nil {
		return l, err
	}
	for t := p.peek(); t.t == "op" && (t.s == "*" || t.s == "/"); t = p.peek() {
		p.pos++
		r, err := p.unary()
		if err != nil {
			return r, err
		}
		l = wnode{kind: wArith, op: t.s, kids: []wnode{l, r}}
	}
	return l, nil
}

func (p *wparser) unary() (wnode, error) {
	if t := p.peek(); t.t == "op" && t.s == "-" {
		p.pos++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 200 {
			return wnode{}, fmt.Errorf("expression too deep")
		}
		n, err := p.unary()
		return wnode{kind: wNeg, kids: []wnode{n}}, err
	}
	return p.primary()
}

var reservedWords = map[string]bool{"AND": true, "OR": true, "NOT": true, "IN": true, "LIKE": true, "IS": true, "BETWEEN": true, "ESCAPE": true}

func (p *wparser) primary() (wnode, error) {
	t := p.peek()
	switch t.t {
	case "":
		return wnode{}, fmt.Errorf("unexpected end")
	case "num":
		p.pos++
		f, err := strconv.ParseFloat(t.s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return wnode{}, fmt.Errorf("bad number %q", t.s)
		}
		return wnode{kind: wLit, val: f}, nil
	case "str":
		p.pos++
		return wnode{kind: wLit, val: t.s}, nil
	case "(":
		p.pos++
		n, err := p.or()
		if err != nil {
			return n, err
		}
		return n, p.expect(")")
	case "qid":
		p.pos++
		return p.fieldNode(t.s)
	case "id":
		up := strings.ToUpper(t.s)
		switch up {
		case "NULL":
			p.pos++
			return wnode{kind: wLit, val: nil}, nil
		case "TRUE", "FALSE":
			p.pos++
			return wnode{kind: wLit, val: up == "TRUE"}, nil
		case "CURRENT_DATE", "CURRENT_TIMESTAMP":
			p.pos++
			return wnode{kind: wFunc, op: up}, nil
		case "DATE", "TIMESTAMP":
			if p.pos+1 < len(p.toks) && p.toks[p.pos+1].t == "str" {
				ms, ok := parseDateLiteral(p.toks[p.pos+1].s)
				if !ok {
					return wnode{}, fmt.Errorf("bad date %q", p.toks[p.pos+1].s)
				}
				p.pos += 2
				return wnode{kind: wLit, val: float64(ms)}, nil
			}
		case "UPPER", "LOWER":
			if p.pos+1 < len(p.toks) && p.toks[p.pos+1].t == "(" {
				p.pos += 2
				arg, err := p.sum()
				if err != nil {
					return arg, err
				}
				return wnode{kind: wFunc, op: up, kids: []wnode{arg}}, p.expect(")")
			}
		}
		if reservedWords[up] {
			return wnode{}, fmt.Errorf("unexpected %s", up)
		}
		p.pos++
		return p.fieldNode(t.s)
	}
	return wnode{}, fmt.Errorf("unexpected %q", t.s)
}

func (p *wparser) fieldNode(name string) (wnode, error) {
	canon, typ, ok := p.field(name)
	if !ok {
		return wnode{}, fmt.Errorf("unknown field %q", name)
	}
	return wnode{kind: wField, field: canon, ftype: typ}, nil
}

// parseDateLiteral reads 'yyyy-mm-dd[ hh:mm:ss[.fff]]' (UTC) as epoch ms.
func parseDateLiteral(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02 15:04:05.999", "2006-01-02 15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02", "01/02/2006 15:04:05", "01/02/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// trivial reports whether the clause is a constant true (empty, 1=1).
func (w *whereExpr) trivial() bool {
	if w == nil {
		return true
	}
	if w.root.kind == wLit {
		b, ok := w.root.val.(bool)
		return ok && b
	}
	if w.root.kind == wCmp && w.root.op == "=" && w.root.kids[0].kind == wLit && w.root.kids[1].kind == wLit {
		c, ok := compareW(w.root.kids[0].val, w.root.kids[1].val)
		return ok && c == 0
	}
	return false
}

// globalIDs recognises "<gidField> = 'g'" and "<gidField> IN ('g', …)"
// and returns the GlobalIDs, so queries can look them up directly.
func (w *whereExpr) globalIDs(gidField string) ([]string, bool) {
	if w == nil {
		return nil, false
	}
	n := w.root
	isField := func(k wnode) bool { return k.kind == wField && strings.EqualFold(k.field, gidField) }
	lit := func(k wnode) (string, bool) {
		s, ok := k.val.(string)
		return s, ok && k.kind == wLit
	}
	switch {
	case n.kind == wCmp && n.op == "=" && isField(n.kids[0]):
		if s, ok := lit(n.kids[1]); ok {
			return []string{s}, true
		}
	case n.kind == wIn && !n.neg && isField(n.kids[0]):
		var out []string
		for _, k := range n.kids[1:] {
			s, ok := lit(k)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, true
	}
	return nil, false
}

// match evaluates the clause against a feature's attributes; unknown (NULL)
// results count as false.
func (w *whereExpr) match(attrs map[string]any) bool {
	if w == nil {
		return true
	}
	v := evalW(w.root, attrs)
	b, ok := v.(bool)
	return ok && b
}

// toNum converts attribute values to float64 where possible.
func toNum(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int16:
		return float64(x), true
	case interface{ Float64() (float64, error) }:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

func evalW(n wnode, a map[string]any) any {
	switch n.kind {
	case wLit:
		return n.val
	case wField:
		v := a[n.field]
		if f, ok := toNum(v); ok {
			return f
		}
		if s, ok := v.(string); ok && (n.ftype == arcgis.FieldGUID || n.ftype == arcgis.FieldGlobalID) {
			return normGUID(s)
		}
		return v
	case wFunc:
		switch n.op {
		case "CURRENT_DATE":
			t := time.Now().UTC()
			return float64(time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).UnixMilli())
		case "CURRENT_TIMESTAMP":
			return float64(time.Now().UnixMilli())
		}
		s, ok := evalW(n.kids[0], a).(string)
		if !ok {
			return nil
		}
		if n.op == "UPPER" {
			return strings.ToUpper(s)
		}
		return strings.ToLower(s)
	case wNeg:
		f, ok := toNum(evalW(n.kids[0], a))
		if !ok {
			return nil
		}
		return -f
	case wArith:
		l, ok1 := toNum(evalW(n.kids[0], a))
		r, ok2 := toNum(evalW(n.kids[1], a))
		if !ok1 || !ok2 {
			return nil
		}
		switch n.op {
		case "+":
			return l + r
		case "-":
			return l - r
		case "*":
			return l * r
		default:
			if r == 0 {
				return nil
			}
			return l / r
		}
	case wAnd, wOr:
		l, r := evalW(n.kids[0], a), evalW(n.kids[1], a)
		lb, lok := l.(bool)
		rb, rok := r.(bool)
		if n.kind == wAnd {
			if lok && !lb || rok && !rb {
				return false
			}
			if lok && rok {
				return true
			}
			return nil
		}
		if lok && lb || rok && rb {
			return true
		}
		if lok && rok {
			return false
		}
		return nil
	case wNot:
		b, ok := evalW(n.kids[0], a).(bool)
		if !ok {
			return nil
		}
		return !b
	case wCmp:
		c, ok := compareW(evalW(n.kids[0], a), evalW(n.kids[1], a))
		if !ok {
			return nil
		}
		switch n.op {
		case "=":
			return c == 0
		case "<>":
			return c != 0
		case "<":
			return c < 0
		case ">":
			return c > 0
		case "<=":
			return c <= 0
		default:
			return c >= 0
		}
	case wIn:
		l := evalW(n.kids[0], a)
		if l == nil {
			return nil
		}
		found, unknown := false, false
		for _, k := range n.kids[1:] {
			c, ok := compareW(l, evalW(k, a))
			if !ok {
				unknown = true
			} else if c == 0 {
				found = true
				break
			}
		}
		if !found && unknown {
			return nil
		}
		return found != n.neg
	case wBetween:
		v := evalW(n.kids[0], a)
		c1, ok1 := compareW(v, evalW(n.kids[1], a))
		c2, ok2 := compareW(v, evalW(n.kids[2], a))
		if !ok1 || !ok2 {
			return nil
		}
		return (c1 >= 0 && c2 <= 0) != n.neg
	case wIsNull:
		return (evalW(n.kids[0], a) == nil) != n.neg
	case wLike:
		s, ok1 := evalW(n.kids[0], a).(string)
		pat, ok2 := evalW(n.kids[1], a).(string)
		if !ok1 || !ok2 {
			if f, ok := toNum(evalW(n.kids[0], a)); ok && ok2 {
				s, ok1 = strconv.FormatFloat(f, 'f', -1, 64), true
			}
			if !ok1 || !ok2 {
				return nil
			}
		}
		return likeMatch([]rune(strings.ToLower(s)), []rune(strings.ToLower(pat)), n.esc) != n.neg
	}
	return nil
}

// compareW compares two values: numbers numerically (strings that parse
// as numbers or dates are converted), strings lexically; ok is false when
// either side is NULL or the types cannot be compared.
func compareW(l, r any) (int, bool) {
	if l == nil || r == nil {
		return 0, false
	}
	lf, lnum := toNum(l)
	rf, rnum := toNum(r)
	ls, lstr := l.(string)
	rs, rstr := r.(string)
	if lnum && rstr {
		rf, rnum = strNum(rs)
	}
	if rnum && lstr {
		lf, lnum = strNum(ls)
	}
	switch {
	case lnum && rnum:
		switch {
		case lf < rf:
			return -1, true
		case lf > rf:
			return 1, true
		}
		return 0, true
	case lstr && rstr:
		if isGUIDish(ls) && isGUIDish(rs) {
			ls, rs = normGUID(ls), normGUID(rs)
		}
		return strings.Compare(ls, rs), true
	}
	lb, lok := l.(bool)
	rb, rok := r.(bool)
	if lok && rok {
		if lb == rb {
			return 0, true
		}
		return 1, true
	}
	return 0, false
}

func strNum(s string) (float64, bool) {
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
		return f, true
	}
	if ms, ok := parseDateLiteral(s); ok {
		return float64(ms), true
	}
	return 0, false
}

func isGUIDish(s string) bool {
	t := strings.Trim(s, "{}")
	return len(t) == 36 && t[8] == '-' && t[13] == '-' && t[18] == '-' && t[23] == '-'
}

// likeMatch matches s against a SQL LIKE pattern (% any run, _ one char).
func likeMatch(s, p []rune, esc rune) bool {
	// iterative matcher with backtracking on the last %
	si, pi := 0, 0
	starP, starS := -1, 0
	for si < len(s) {
		if pi < len(p) {
			c := p[pi]
			if esc != 0 && c == esc && pi+1 < len(p) {
				if s[si] == p[pi+1] {
					si++
					pi += 2
					continue
				}
			} else if c == '%' {
				starP, starS = pi, si
				pi++
				continue
			} else if c == '_' || c == s[si] {
				si++
				pi++
				continue
			}
		}
		if starP >= 0 {
			starS++
			si, pi = starS, starP+1
			continue
		}
		return false
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}
