package features

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/whereclause"
)

// The emulator's where-clause subset (ArcGIS "standardized queries"),
// parsed by internal/whereclause and evaluated here in memory:
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

// parseWhere parses a where clause with the dialect's one parser
// (internal/whereclause) and binds it to a layer's fields. fieldType
// resolves a field name (case-insensitively) to its canonical name and
// esriFieldType; unknown names are errors. An empty clause means 1=1.
func parseWhere(src string, fieldType func(string) (string, string, bool)) (*whereExpr, error) {
	n, err := whereclause.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errWhere, err)
	}
	if n == nil {
		return &whereExpr{root: wnode{kind: wLit, val: true}}, nil
	}
	root, err := bindWhere(n, fieldType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errWhere, err)
	}
	return &whereExpr{root: root}, nil
}

// operatorKinds maps the syntax tree's operator nodes to evaluable ones.
var operatorKinds = map[whereclause.Kind]wkind{
	whereclause.Cmp: wCmp, whereclause.And: wAnd, whereclause.Or: wOr, whereclause.Not: wNot,
	whereclause.In: wIn, whereclause.Like: wLike, whereclause.IsNull: wIsNull, whereclause.Between: wBetween,
	whereclause.Arith: wArith, whereclause.Func: wFunc, whereclause.Neg: wNeg,
}

// bindWhere turns a syntax tree into an evaluable node: fields resolved,
// numbers and date literals read.
func bindWhere(n *whereclause.Node, fieldType func(string) (string, string, bool)) (wnode, error) {
	out := wnode{neg: n.Neg, op: n.Op}
	if n.Esc != "" {
		out.esc = []rune(n.Esc)[0]
	}
	for _, k := range n.Kids {
		b, err := bindWhere(k, fieldType)
		if err != nil {
			return wnode{}, err
		}
		out.kids = append(out.kids, b)
	}
	switch n.Kind {
	case whereclause.Lit:
		out.kind = wLit
		switch v := n.Val.(type) {
		case whereclause.Number:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				return wnode{}, fmt.Errorf("bad number %q", string(v))
			}
			out.val = f
		case whereclause.Date:
			ms, ok := parseDateLiteral(v.Text)
			if !ok {
				return wnode{}, fmt.Errorf("bad date %q", v.Text)
			}
			out.val = float64(ms)
		default:
			out.val = v // nil, string, bool
		}
	case whereclause.Field:
		canon, typ, ok := fieldType(n.Name)
		if !ok {
			return wnode{}, fmt.Errorf("unknown field %q", n.Name)
		}
		out.kind, out.field, out.ftype = wField, canon, typ
	default:
		k, ok := operatorKinds[n.Kind]
		if !ok {
			return wnode{}, fmt.Errorf("unsupported expression")
		}
		out.kind = k
	}
	return out, nil
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
func toNum(v any) (float64, bool) { return whereclause.Numeric(v) }

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
