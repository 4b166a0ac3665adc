package geodb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// ErrWhere is wrapped by every where-clause error.
var ErrWhere = errors.New("invalid where clause")

// WhereError locates a where-clause problem.
type WhereError struct {
	Pos    int    // byte offset in the clause
	Msg    string // what is wrong
	Field  string // the field involved, if any
	Reason error  // ErrWhere, or ErrUnknownField / ErrType for column problems
}

func (e *WhereError) Error() string {
	return fmt.Sprintf("where clause at %d: %s", e.Pos, e.Msg)
}

// Unwrap returns the reason; errors.Is(err, ErrWhere) holds for all.
func (e *WhereError) Unwrap() []error {
	if e.Reason == nil || e.Reason == ErrWhere {
		return []error{ErrWhere}
	}
	return []error{ErrWhere, e.Reason}
}

// maxWhereDepth bounds the nesting of parentheses, NOT and UPPER/LOWER in a
// where clause: deeper clauses are refused before SQLite's expression depth
// limit turns them into an internal error.
const maxWhereDepth = 100

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tComma
)

type token struct {
	k   tokKind
	s   string
	pos int
}

func lexWhere(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == ',':
			out = append(out, token{tComma, ",", i})
			i++
		case c == '\'':
			start := i
			i++
			var b strings.Builder
			for {
				if i >= len(s) {
					return nil, &WhereError{Pos: start, Msg: "unterminated string literal", Reason: ErrWhere}
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
			out = append(out, token{tString, b.String(), start})
		case c == '"': // quoted identifier
			start := i
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, &WhereError{Pos: start, Msg: "unterminated quoted name", Reason: ErrWhere}
			}
			out = append(out, token{tIdent, s[i+1 : i+1+j], start})
			i += j + 2
		case c >= '0' && c <= '9' || c == '.' || ((c == '-' || c == '+') && i+1 < len(s) && (s[i+1] >= '0' && s[i+1] <= '9' || s[i+1] == '.') && prevAllowsSign(out)):
			start := i
			i++
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == 'e' || s[i] == 'E' ||
				((s[i] == '-' || s[i] == '+') && (s[i-1] == 'e' || s[i-1] == 'E'))) {
				i++
			}
			if _, err := strconv.ParseFloat(s[start:i], 64); err != nil {
				return nil, &WhereError{Pos: start, Msg: fmt.Sprintf("bad number %q", s[start:i]), Reason: ErrWhere}
			}
			out = append(out, token{tNumber, s[start:i], start})
		case c == '=':
			out = append(out, token{tOp, "=", i})
			i++
		case c == '<' || c == '>' || c == '!':
			two := ""
			if i+1 < len(s) {
				two = s[i : i+2]
			}
			switch two {
			case "<=", ">=", "<>":
				out = append(out, token{tOp, two, i})
				i += 2
			case "!=":
				out = append(out, token{tOp, "<>", i})
				i += 2
			default:
				if c == '!' {
					return nil, &WhereError{Pos: i, Msg: "unexpected '!'", Reason: ErrWhere}
				}
				out = append(out, token{tOp, string(c), i})
				i++
			}
		case c == '_' || unicode.IsLetter(rune(c)):
			start := i
			for i < len(s) && (s[i] == '_' || s[i] == '.' || s[i] >= '0' && s[i] <= '9' || unicode.IsLetter(rune(s[i]))) {
				i++
			}
			out = append(out, token{tIdent, s[start:i], start})
		default:
			return nil, &WhereError{Pos: i, Msg: fmt.Sprintf("unexpected character %q", c), Reason: ErrWhere}
		}
	}
	out = append(out, token{tEOF, "", len(s)})
	return out, nil
}

func prevAllowsSign(out []token) bool {
	if len(out) == 0 {
		return true
	}
	p := out[len(out)-1]
	return p.k == tOp || p.k == tLParen || p.k == tComma || (p.k == tIdent && isKeyword(p.s))
}

func isKeyword(s string) bool {
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT", "IN", "LIKE", "IS", "NULL", "BETWEEN", "ESCAPE":
		return true
	}
	return false
}

// whereParser turns the SQL-92 subset into parameterised SQL.
type whereParser struct {
	toks []token
	i    int
	t    *Table
	args []any
	sb   strings.Builder
	dep  int
}

// operand is a parsed value: a column or a literal.
type operand struct {
	col   *Column
	lit   any // string, float64/int64, or time.Time for DATE/TIMESTAMP literals
	isLit bool
	sql   string // SQL text for columns (possibly wrapped in UPPER/LOWER)
	pos   int
}

// CompileWhere parses an ArcGIS where clause against t's columns and
// returns SQL with ? placeholders and the values to bind. Column names are
// checked and re-quoted from the schema; literals are always bound.
func CompileWhere(t *Table, where string) (string, []any, error) {
	where = strings.TrimSpace(where)
	if where == "" {
		return "1=1", nil, nil
	}
	if len(where) > 16384 {
		return "", nil, &WhereError{Pos: 0, Msg: "clause too long", Reason: ErrWhere}
	}
	toks, err := lexWhere(where)
	if err != nil {
		return "", nil, err
	}
	p := &whereParser{toks: toks, t: t}
	if err := p.or(); err != nil {
		return "", nil, err
	}
	if p.peek().k != tEOF {
		return "", nil, p.errf("unexpected %q", p.peek().s)
	}
	return p.sb.String(), p.args, nil
}

func (p *whereParser) peek() token { return p.toks[p.i] }
func (p *whereParser) next() token {
	t := p.toks[p.i]
	if t.k != tEOF {
		p.i++
	}
	return t
}
func (p *whereParser) kw(s string) bool {
	t := p.peek()
	if t.k == tIdent && strings.EqualFold(t.s, s) {
		p.i++
		return true
	}
	return false
}
func (p *whereParser) errf(format string, a ...any) error {
	return &WhereError{Pos: p.peek().pos, Msg: fmt.Sprintf(format, a...), Reason: ErrWhere}
}

func (p *whereParser) or() error {
	p.dep++
	defer func() { p.dep-- }()
	if p.dep > maxWhereDepth {
		return p.errf("nesting too deep (over %d levels)", maxWhereDepth)
	}
	if err := p.and(); err != nil {
		return err
	}
	for p.kw("OR") {
		p.sb.WriteString(" OR ")
		if err := p.and(); err != nil {
			return err
		}
	}
	return nil
}

func (p *whereParser) and() error {
	if err := p.not(); err != nil {
		return err
	}
	for p.kw("AND") {
		p.sb.WriteString(" AND ")
		if err := p.not(); err != nil {
			return err
		}
	}
	return nil
}

func (p *whereParser) not() error {
	if p.kw("NOT") {
		p.dep++
		defer func() { p.dep-- }()
		if p.dep > maxWhereDepth {
			return p.errf("nesting too deep (over %d levels)", maxWhereDepth)
		}
		p.sb.WriteString("NOT ")
		return p.not()
	}
	return p.predicate()
}

func (p *whereParser) predicate() error {
	// Parenthesised boolean expression.
	if p.peek().k == tLParen {
		p.next()
		p.sb.WriteString("(")
		if err := p.or(); err != nil {
			return err
		}
		if p.next().k != tRParen {
			return p.errf("expected ')'")
		}
		p.sb.WriteString(")")
		return nil
	}
	left, err := p.operand()
	if err != nil {
		return err
	}
	neg := ""
	switch {
	case p.kw("IS"):
		if p.kw("NOT") {
			neg = "NOT "
		}
		if !p.kw("NULL") {
			return p.errf("expected NULL after IS")
		}
		p.emit(left, nil)
		p.sb.WriteString(" IS " + neg + "NULL")
		return nil
	case p.kw("NOT"):
		neg = "NOT "
		if !(p.peekKw("IN") || p.peekKw("LIKE") || p.peekKw("BETWEEN")) {
			return p.errf("expected IN, LIKE or BETWEEN after NOT")
		}
	}
	switch {
	case p.kw("IN"):
		if p.next().k != tLParen {
			return p.errf("expected '(' after IN")
		}
		p.emit(left, nil)
		p.sb.WriteString(" " + neg + "IN (")
		for n := 0; ; n++ {
			if n > 1000 {
				return p.errf("IN list too long")
			}
			v, err := p.operand()
			if err != nil {
				return err
			}
			if err := p.check(left, v); err != nil {
				return err
			}
			if n > 0 {
				p.sb.WriteString(", ")
			}
			p.emit(v, left.col)
			t := p.next()
			if t.k == tRParen {
				break
			}
			if t.k != tComma {
				return p.errf("expected ',' or ')' in IN list")
			}
		}
		p.sb.WriteString(")")
	case p.kw("LIKE"):
		pat, err := p.operand()
		if err != nil {
			return err
		}
		if !pat.isLit {
			return &WhereError{Pos: pat.pos, Msg: "LIKE needs a string pattern", Reason: ErrType}
		}
		if _, ok := pat.lit.(string); !ok {
			return &WhereError{Pos: pat.pos, Msg: "LIKE needs a string pattern", Reason: ErrType}
		}
		p.emit(left, nil)
		p.sb.WriteString(" " + neg + "LIKE ")
		p.emit(pat, nil)
		if p.kw("ESCAPE") {
			esc, err := p.operand()
			if err != nil {
				return err
			}
			s, ok := esc.lit.(string)
			if !esc.isLit || !ok || len([]rune(s)) != 1 {
				return &WhereError{Pos: esc.pos, Msg: "ESCAPE needs a one-character string", Reason: ErrType}
			}
			p.sb.WriteString(" ESCAPE ")
			p.emit(esc, nil)
		}
	case p.kw("BETWEEN"):
		lo, err := p.operand()
		if err != nil {
			return err
		}
		if !p.kw("AND") {
			return p.errf("expected AND in BETWEEN")
		}
		hi, err := p.operand()
		if err != nil {
			return err
		}
		for _, v := range []operand{lo, hi} {
			if err := p.check(left, v); err != nil {
				return err
			}
		}
		p.emit(left, nil)
		p.sb.WriteString(" " + neg + "BETWEEN ")
		p.emit(lo, left.col)
		p.sb.WriteString(" AND ")
		p.emit(hi, left.col)
	default:
		if neg != "" {
			return p.errf("expected IN, LIKE or BETWEEN")
		}
		op := p.next()
		if op.k != tOp {
			return &WhereError{Pos: op.pos, Msg: fmt.Sprintf("expected a comparison operator, got %q", op.s), Reason: ErrWhere}
		}
		right, err := p.operand()
		if err != nil {
			return err
		}
		if err := p.check(left, right); err != nil {
			return err
		}
		p.emit(left, right.col)
		p.sb.WriteString(" " + op.s + " ")
		p.emit(right, left.col)
	}
	return nil
}

func (p *whereParser) peekKw(s string) bool {
	t := p.peek()
	return t.k == tIdent && strings.EqualFold(t.s, s)
}

func (p *whereParser) operand() (operand, error) {
	t := p.next()
	switch t.k {
	case tString:
		return operand{lit: t.s, isLit: true, pos: t.pos}, nil
	case tNumber:
		if i, err := strconv.ParseInt(t.s, 10, 64); err == nil {
			return operand{lit: i, isLit: true, pos: t.pos}, nil
		}
		f, _ := strconv.ParseFloat(t.s, 64)
		return operand{lit: f, isLit: true, pos: t.pos}, nil
	case tIdent:
		u := strings.ToUpper(t.s)
		switch u {
		case "DATE", "TIMESTAMP":
			if p.peek().k == tString {
				s := p.next()
				tm, err := parseDateText(s.s)
				if err != nil {
					return operand{}, &WhereError{Pos: s.pos, Msg: fmt.Sprintf("bad %s literal %q", u, s.s), Reason: ErrType}
				}
				return operand{lit: tm, isLit: true, pos: t.pos}, nil
			}
		case "UPPER", "LOWER":
			if p.peek().k == tLParen {
				p.next()
				p.dep++
				defer func() { p.dep-- }()
				if p.dep > maxWhereDepth {
					return operand{}, p.errf("nesting too deep (over %d levels)", maxWhereDepth)
				}
				inner, err := p.operand()
				if err != nil {
					return operand{}, err
				}
				if p.next().k != tRParen {
					return operand{}, p.errf("expected ')'")
				}
				if inner.isLit {
					s, ok := inner.lit.(string)
					if !ok {
						return operand{}, &WhereError{Pos: t.pos, Msg: u + " needs a string", Reason: ErrType}
					}
					if u == "UPPER" {
						s = strings.ToUpper(s)
					} else {
						s = strings.ToLower(s)
					}
					return operand{lit: s, isLit: true, pos: inner.pos}, nil
				}
				inner.sql = u + "(" + inner.sql + ")"
				return inner, nil
			}
		case "NULL":
			return operand{}, &WhereError{Pos: t.pos, Msg: "use IS NULL to test for null", Reason: ErrWhere}
		}
		if isKeyword(t.s) {
			return operand{}, &WhereError{Pos: t.pos, Msg: fmt.Sprintf("unexpected keyword %s", u), Reason: ErrWhere}
		}
		name := t.s
		if i := strings.LastIndexByte(name, '.'); i >= 0 { // table.column
			name = name[i+1:]
		}
		c := p.t.Col(name)
		if c == nil {
			return operand{}, &WhereError{Pos: t.pos, Msg: fmt.Sprintf("unknown field %q", t.s), Field: t.s, Reason: ErrUnknownField}
		}
		return operand{col: c, sql: qid(c.Name), pos: t.pos}, nil
	}
	return operand{}, &WhereError{Pos: t.pos, Msg: fmt.Sprintf("expected a field or value, got %q", t.s), Reason: ErrWhere}
}

func isNumericKind(k kind) bool { return k == kOID || (k >= kInt16 && k <= kFloat64) }

// check enforces type compatibility between a column and a literal.
func (p *whereParser) check(a, b operand) error {
	col, lit := a, b
	if !a.isLit && b.isLit {
		col, lit = a, b
	} else if a.isLit && !b.isLit {
		col, lit = b, a
	} else {
		return nil
	}
	switch v := lit.lit.(type) {
	case string:
		if isNumericKind(col.col.kind) {
			return &WhereError{Pos: lit.pos, Msg: fmt.Sprintf("field %s is numeric, got string %q", col.col.Name, v), Field: col.col.Name, Reason: ErrType}
		}
		if col.col.kind == kDate {
			if _, err := parseDateText(v); err != nil {
				return &WhereError{Pos: lit.pos, Msg: fmt.Sprintf("field %s is a date, got %q", col.col.Name, v), Field: col.col.Name, Reason: ErrType}
			}
		}
	case int64, float64:
		if !isNumericKind(col.col.kind) && col.col.kind != kDate {
			return &WhereError{Pos: lit.pos, Msg: fmt.Sprintf("field %s is not numeric", col.col.Name), Field: col.col.Name, Reason: ErrType}
		}
	case time.Time:
		if col.col.kind != kDate && col.col.kind != kDateOnly && col.col.kind != kTimestampOffset {
			return &WhereError{Pos: lit.pos, Msg: fmt.Sprintf("field %s is not a date", col.col.Name), Field: col.col.Name, Reason: ErrType}
		}
	}
	return nil
}

// emit writes an operand; literals are bound, converted to the storage form
// of the column they are compared with.
func (p *whereParser) emit(o operand, against *Column) {
	if !o.isLit {
		p.sb.WriteString(o.sql)
		return
	}
	v := o.lit
	if against != nil {
		switch against.kind {
		case kDate:
			switch x := v.(type) {
			case time.Time:
				v = x.UTC().Format(dateLayout)
			case string:
				if tm, err := parseDateText(x); err == nil {
					v = tm.UTC().Format(dateLayout)
				}
			case int64:
				v = time.UnixMilli(x).UTC().Format(dateLayout)
			case float64:
				v = time.UnixMilli(int64(x)).UTC().Format(dateLayout)
			}
		case kDateOnly:
			if x, ok := v.(time.Time); ok {
				v = x.Format("2006-01-02")
			}
		case kGlobalID, kGUID:
			if s, ok := v.(string); ok {
				if g, ok := NormalizeGlobalID(s); ok {
					v = g
				}
			}
		}
	}
	if x, ok := v.(time.Time); ok {
		v = x.UTC().Format(dateLayout)
	}
	p.args = append(p.args, v)
	p.sb.WriteString("?")
}
