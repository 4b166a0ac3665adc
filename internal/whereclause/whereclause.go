// Package whereclause parses ArcGIS where clauses (the SQL-92 subset of
// "standardized queries") into a syntax tree. It is the one parser of the
// dialect: geodb compiles the tree to parameterised SQL, the emulator
// evaluates it in memory. Field names are not resolved here; each back-end
// binds them to its schema and decides which constructs it supports.
//
//	expr    := expr OR expr | expr AND expr | NOT expr | pred
//	pred    := sum (= | <> | != | < | > | <= | >=) sum
//	         | sum [NOT] IN (sum, …) | sum [NOT] LIKE sum [ESCAPE 'c']
//	         | sum IS [NOT] NULL | sum [NOT] BETWEEN sum AND sum | sum
//	sum     := term ((+|-) term)* ; term := unary ((*|/) unary)*
//	unary   := (-|+) unary | primary
//	primary := number | 'string' | DATE 'text' | TIMESTAMP 'text'
//	         | CURRENT_DATE | CURRENT_TIMESTAMP | NULL | TRUE | FALSE
//	         | field | "field" | [field] | UPPER(sum) | LOWER(sum) | (expr)
package whereclause

import (
	"fmt"
	"strings"
)

// MaxLen is the longest clause Parse accepts, in bytes.
const MaxLen = 16384

// MaxDepth bounds the nesting of parentheses, NOT, unary signs and
// UPPER/LOWER, so no clause reaches a back-end's recursion limit (SQLite's
// expression depth is 1000; 831 nested UPPER( was an internal error).
const MaxDepth = 100

// MaxHeight bounds the height of the whole tree: a flat chain of 1,100
// ORs is a tree as deep as its length, past SQLite's expression depth
// limit (1000).
const MaxHeight = 500

// Error is a syntax error at a byte offset of the clause.
type Error struct {
	Pos int    // byte offset
	Msg string // what is wrong
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("at %d: %s", e.Pos, e.Msg) }

// Kind is a node's kind.
type Kind int

// Node kinds.
const (
	Lit     Kind = iota // Val: nil (NULL), string, bool, Number or Date
	Field               // Name as written (quotes removed)
	Cmp                 // Op: = <> < > <= >=; Kids: left, right
	And                 // Kids: left, right
	Or                  // Kids: left, right
	Not                 // Kids: operand
	In                  // Neg; Kids: value, list…
	Like                // Neg, Esc; Kids: value, pattern
	IsNull              // Neg (IS NOT NULL); Kids: value
	Between             // Neg; Kids: value, low, high
	Arith               // Op: + - * /; Kids: left, right
	Func                // Op: UPPER, LOWER (Kids: argument), CURRENT_DATE, CURRENT_TIMESTAMP
	Neg                 // unary minus; Kids: operand
)

// Number is a numeric literal's text.
type Number string

// Date is a DATE '…' or TIMESTAMP '…' literal; the back-end reads Text.
type Date struct {
	Keyword string // DATE or TIMESTAMP
	Text    string
}

// Node is one syntax tree node.
type Node struct {
	Kind  Kind
	Op    string
	Val   any
	Name  string
	Kids  []*Node
	Neg   bool   // NOT IN, NOT LIKE, NOT BETWEEN, IS NOT NULL
	Esc   string // LIKE … ESCAPE character ("" when absent)
	Paren bool   // written in parentheses
	Pos   int    // byte offset in the clause
}

// IsBool reports whether n is a condition (not a value).
func (n *Node) IsBool() bool {
	switch n.Kind {
	case Cmp, And, Or, Not, In, Like, IsNull, Between:
		return true
	case Lit:
		_, ok := n.Val.(bool)
		return ok
	}
	return false
}

// Parse parses a where clause; an empty clause is nil, nil (every row).
// Errors are *Error.
func Parse(src string) (*Node, error) {
	if strings.TrimSpace(src) == "" {
		return nil, nil
	}
	if len(src) > MaxLen {
		return nil, &Error{Pos: 0, Msg: fmt.Sprintf("clause longer than %d bytes", MaxLen)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.k != tEOF {
		return nil, p.errf("unexpected %q", t.s)
	}
	if !n.IsBool() {
		return nil, &Error{Pos: n.Pos, Msg: "not a condition"}
	}
	if height(n) > MaxHeight {
		return nil, &Error{Pos: 0, Msg: fmt.Sprintf("clause too complex (over %d levels of operators): split it or use IN", MaxHeight)}
	}
	return n, nil
}

// height is the number of nodes on n's longest root-to-leaf path.
func height(n *Node) int {
	h := 0
	for _, k := range n.Kids {
		h = max(h, height(k))
	}
	return h + 1
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) at(off int) token {
	if p.i+off < len(p.toks) {
		return p.toks[p.i+off]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.k != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isKw(off int, word string) bool {
	t := p.at(off)
	return t.k == tIdent && strings.EqualFold(t.s, word)
}

func (p *parser) kw(word string) bool {
	if p.isKw(0, word) {
		p.i++
		return true
	}
	return false
}

func (p *parser) errf(format string, a ...any) error {
	return &Error{Pos: p.peek().pos, Msg: fmt.Sprintf(format, a...)}
}

func (p *parser) expect(k tokKind, what string) error {
	if p.peek().k != k {
		return p.errf("expected %s", what)
	}
	p.i++
	return nil
}

// enter counts one nesting level; the caller defers p.leave.
func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errf("nesting too deep (over %d levels)", MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) or() (*Node, error)  { return p.logical("OR", Or, p.and) }
func (p *parser) and() (*Node, error) { return p.logical("AND", And, p.not) }

// logical parses conditions (each by operand) joined by keyword kw into
// left-nested nodes of kind.
func (p *parser) logical(kw string, kind Kind, operand func() (*Node, error)) (*Node, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for p.isKw(0, kw) {
		pos := p.next().pos
		r, err := operand()
		if err != nil {
			return nil, err
		}
		if !l.IsBool() || !r.IsBool() {
			return nil, &Error{Pos: pos, Msg: kw + " needs conditions"}
		}
		l = &Node{Kind: kind, Kids: []*Node{l, r}, Pos: l.Pos}
	}
	return l, nil
}

func (p *parser) not() (*Node, error) {
	if !p.isKw(0, "NOT") {
		return p.pred()
	}
	pos := p.next().pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	n, err := p.not()
	if err != nil {
		return nil, err
	}
	if !n.IsBool() {
		return nil, &Error{Pos: pos, Msg: "NOT needs a condition"}
	}
	return &Node{Kind: Not, Kids: []*Node{n}, Pos: pos}, nil
}

func (p *parser) pred() (*Node, error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.k == tOp {
		switch t.s {
		case "=", "<>", "<", ">", "<=", ">=":
			p.i++
			r, err := p.sum()
			if err != nil {
				return nil, err
			}
			return &Node{Kind: Cmp, Op: t.s, Kids: []*Node{l, r}, Pos: l.Pos}, nil
		}
	}
	neg := false
	if p.isKw(0, "NOT") && (p.isKw(1, "IN") || p.isKw(1, "LIKE") || p.isKw(1, "BETWEEN")) {
		p.i++
		neg = true
	}
	switch {
	case p.kw("IN"):
		if err := p.expect(tLParen, "'(' after IN"); err != nil {
			return nil, err
		}
		n := &Node{Kind: In, Neg: neg, Kids: []*Node{l}, Pos: l.Pos}
		for {
			if len(n.Kids) > 1000 {
				return nil, p.errf("IN list too long")
			}
			v, err := p.sum()
			if err != nil {
				return nil, err
			}
			n.Kids = append(n.Kids, v)
			if p.peek().k != tComma {
				break
			}
			p.i++
		}
		return n, p.expect(tRParen, "',' or ')' in IN list")
	case p.kw("LIKE"):
		r, err := p.sum()
		if err != nil {
			return nil, err
		}
		n := &Node{Kind: Like, Neg: neg, Kids: []*Node{l, r}, Pos: l.Pos}
		if p.kw("ESCAPE") {
			e := p.peek()
			if e.k != tString || len([]rune(e.s)) != 1 {
				return nil, p.errf("ESCAPE needs a one-character string")
			}
			n.Esc = e.s
			p.i++
		}
		return n, nil
	case p.kw("BETWEEN"):
		lo, err := p.sum()
		if err != nil {
			return nil, err
		}
		if !p.kw("AND") {
			return nil, p.errf("expected AND in BETWEEN")
		}
		hi, err := p.sum()
		if err != nil {
			return nil, err
		}
		return &Node{Kind: Between, Neg: neg, Kids: []*Node{l, lo, hi}, Pos: l.Pos}, nil
	case neg:
		return nil, p.errf("expected IN, LIKE or BETWEEN after NOT")
	case p.kw("IS"):
		n := &Node{Kind: IsNull, Kids: []*Node{l}, Pos: l.Pos}
		n.Neg = p.kw("NOT")
		if !p.kw("NULL") {
			return nil, p.errf("expected NULL after IS")
		}
		return n, nil
	}
	return l, nil
}

func (p *parser) sum() (*Node, error)  { return p.arith("+", "-", p.term) }
func (p *parser) term() (*Node, error) { return p.arith("*", "/", p.unary) }

// arith parses operands joined by operator op1 or op2 into left-nested
// Arith nodes.
func (p *parser) arith(op1, op2 string, operand func() (*Node, error)) (*Node, error) {
	l, err := operand()
	if err != nil {
		return nil, err
	}
	for t := p.peek(); t.k == tOp && (t.s == op1 || t.s == op2); t = p.peek() {
		p.i++
		r, err := operand()
		if err != nil {
			return nil, err
		}
		l = &Node{Kind: Arith, Op: t.s, Kids: []*Node{l, r}, Pos: l.Pos}
	}
	return l, nil
}

func (p *parser) unary() (*Node, error) {
	t := p.peek()
	if t.k != tOp || (t.s != "-" && t.s != "+") {
		return p.primary()
	}
	p.i++
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	n, err := p.unary()
	if err != nil {
		return nil, err
	}
	if t.s == "+" {
		return n, nil
	}
	return &Node{Kind: Neg, Kids: []*Node{n}, Pos: t.pos}, nil
}

// reserved words cannot be field names.
var reserved = map[string]bool{"AND": true, "OR": true, "NOT": true, "IN": true, "LIKE": true, "IS": true, "BETWEEN": true, "ESCAPE": true}

func (p *parser) primary() (*Node, error) {
	t := p.peek()
	switch t.k {
	case tEOF:
		return nil, p.errf("unexpected end of clause")
	case tNumber:
		p.i++
		return &Node{Kind: Lit, Val: Number(t.s), Pos: t.pos}, nil
	case tString:
		p.i++
		return &Node{Kind: Lit, Val: t.s, Pos: t.pos}, nil
	case tLParen:
		p.i++
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		n.Paren = true
		return n, p.expect(tRParen, "')'")
	case tQuoted:
		p.i++
		return &Node{Kind: Field, Name: t.s, Pos: t.pos}, nil
	case tIdent:
		up := strings.ToUpper(t.s)
		switch up {
		case "NULL":
			p.i++
			return &Node{Kind: Lit, Val: nil, Pos: t.pos}, nil
		case "TRUE", "FALSE":
			p.i++
			return &Node{Kind: Lit, Val: up == "TRUE", Pos: t.pos}, nil
		case "CURRENT_DATE", "CURRENT_TIMESTAMP":
			p.i++
			return &Node{Kind: Func, Op: up, Pos: t.pos}, nil
		case "DATE", "TIMESTAMP":
			if s := p.at(1); s.k == tString {
				p.i += 2
				return &Node{Kind: Lit, Val: Date{Keyword: up, Text: s.s}, Pos: t.pos}, nil
			}
		case "UPPER", "LOWER":
			if p.at(1).k == tLParen {
				p.i += 2
				if err := p.enter(); err != nil {
					return nil, err
				}
				defer p.leave()
				arg, err := p.sum()
				if err != nil {
					return nil, err
				}
				return &Node{Kind: Func, Op: up, Kids: []*Node{arg}, Pos: t.pos}, p.expect(tRParen, "')'")
			}
		}
		if reserved[up] {
			return nil, p.errf("unexpected keyword %s", up)
		}
		p.i++
		return &Node{Kind: Field, Name: t.s, Pos: t.pos}, nil
	}
	return nil, p.errf("expected a field or value, got %q", t.s)
}
