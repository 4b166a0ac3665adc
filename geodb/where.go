package geodb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/offlined/offlined/internal/whereclause"
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

// fromSyntax turns a whereclause syntax error into a WhereError.
func fromSyntax(err error) error {
	var se *whereclause.Error
	if errors.As(err, &se) {
		return &WhereError{Pos: se.Pos, Msg: se.Msg, Reason: ErrWhere}
	}
	return &WhereError{Msg: err.Error(), Reason: ErrWhere}
}

// whereParser compiles a parsed where clause (internal/whereclause, the
// dialect's one parser) into parameterised SQL against t's columns.
type whereParser struct {
	t    *Table
	args []any
	sb   strings.Builder
}

// operand is a compiled value: a column or a literal.
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
// Arithmetic, CURRENT_DATE/CURRENT_TIMESTAMP and TRUE/FALSE are refused.
func CompileWhere(t *Table, where string) (string, []any, error) {
	n, err := whereclause.Parse(where)
	if err != nil {
		return "", nil, fromSyntax(err)
	}
	if n == nil {
		return "1=1", nil, nil
	}
	p := &whereParser{t: t}
	if err := p.cond(n); err != nil {
		return "", nil, err
	}
	return p.sb.String(), p.args, nil
}

func werr(pos int, reason error, format string, a ...any) error {
	return &WhereError{Pos: pos, Msg: fmt.Sprintf(format, a...), Reason: reason}
}

// cond writes a condition.
func (p *whereParser) cond(n *whereclause.Node) error {
	if n.Paren {
		p.sb.WriteString("(")
		defer p.sb.WriteString(")")
	}
	switch n.Kind {
	case whereclause.And, whereclause.Or:
		if err := p.cond(n.Kids[0]); err != nil {
			return err
		}
		if n.Kind == whereclause.And {
			p.sb.WriteString(" AND ")
		} else {
			p.sb.WriteString(" OR ")
		}
		return p.cond(n.Kids[1])
	case whereclause.Not:
		p.sb.WriteString("NOT ")
		return p.cond(n.Kids[0])
	}
	neg := ""
	if n.Neg {
		neg = "NOT "
	}
	var left operand
	if n.Kind != whereclause.Lit {
		var err error
		if left, err = p.operand(n.Kids[0]); err != nil {
			return err
		}
	}
	switch n.Kind {
	case whereclause.IsNull:
		p.emit(left, nil)
		p.sb.WriteString(" IS " + neg + "NULL")
	case whereclause.In:
		var vals []operand
		for _, k := range n.Kids[1:] {
			v, err := p.operand(k)
			if err != nil {
				return err
			}
			if err := p.check(left, v); err != nil {
				return err
			}
			vals = append(vals, v)
		}
		p.emit(left, nil)
		p.sb.WriteString(" " + neg + "IN (")
		for i, v := range vals {
			if i > 0 {
				p.sb.WriteString(", ")
			}
			p.emit(v, left.col)
		}
		p.sb.WriteString(")")
	case whereclause.Like:
		pat, err := p.operand(n.Kids[1])
		if err != nil {
			return err
		}
		if _, ok := pat.lit.(string); !pat.isLit || !ok {
			return werr(pat.pos, ErrType, "LIKE needs a string pattern")
		}
		p.emit(left, nil)
		p.sb.WriteString(" " + neg + "LIKE ")
		p.emit(pat, nil)
		if n.Esc != "" {
			p.sb.WriteString(" ESCAPE ")
			p.emit(operand{lit: n.Esc, isLit: true}, nil)
		}
	case whereclause.Between:
		lo, err := p.operand(n.Kids[1])
		if err != nil {
			return err
		}
		hi, err := p.operand(n.Kids[2])
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
	case whereclause.Cmp:
		right, err := p.operand(n.Kids[1])
		if err != nil {
			return err
		}
		if err := p.check(left, right); err != nil {
			return err
		}
		p.emit(left, right.col)
		p.sb.WriteString(" " + n.Op + " ")
		p.emit(right, left.col)
	default:
		return werr(n.Pos, ErrWhere, "expected a comparison")
	}
	return nil
}

// operand compiles a value: a column (possibly in UPPER/LOWER) or a literal.
func (p *whereParser) operand(n *whereclause.Node) (operand, error) {
	switch n.Kind {
	case whereclause.Lit:
		switch v := n.Val.(type) {
		case string:
			return operand{lit: v, isLit: true, pos: n.Pos}, nil
		case whereclause.Number:
			return numberOperand(string(v), n.Pos)
		case whereclause.Date:
			tm, err := parseDateText(v.Text)
			if err != nil {
				return operand{}, werr(n.Pos, ErrType, "bad %s literal %q", v.Keyword, v.Text)
			}
			return operand{lit: tm, isLit: true, pos: n.Pos}, nil
		case nil:
			return operand{}, werr(n.Pos, ErrWhere, "use IS NULL to test for null")
		}
	case whereclause.Neg:
		if k := n.Kids[0]; k.Kind == whereclause.Lit && !k.Paren {
			if num, ok := k.Val.(whereclause.Number); ok {
				return numberOperand("-"+string(num), n.Pos)
			}
		}
	case whereclause.Func:
		if n.Op != "UPPER" && n.Op != "LOWER" {
			break
		}
		inner, err := p.operand(n.Kids[0])
		if err != nil {
			return operand{}, err
		}
		if inner.isLit {
			s, ok := inner.lit.(string)
			if !ok {
				return operand{}, werr(n.Pos, ErrType, "%s needs a string", n.Op)
			}
			if n.Op == "UPPER" {
				s = strings.ToUpper(s)
			} else {
				s = strings.ToLower(s)
			}
			return operand{lit: s, isLit: true, pos: inner.pos}, nil
		}
		inner.sql = n.Op + "(" + inner.sql + ")"
		return inner, nil
	case whereclause.Field:
		name := n.Name
		if i := strings.LastIndexByte(name, '.'); i >= 0 { // table.column
			name = name[i+1:]
		}
		c := p.t.Col(name)
		if c == nil {
			return operand{}, &WhereError{Pos: n.Pos, Msg: fmt.Sprintf("unknown field %q", n.Name), Field: n.Name, Reason: ErrUnknownField}
		}
		return operand{col: c, sql: qid(c.Name), pos: n.Pos}, nil
	}
	return operand{}, werr(n.Pos, ErrWhere, "expected a field or value (arithmetic, CURRENT_DATE and TRUE/FALSE are not supported here)")
}

func numberOperand(s string, pos int) (operand, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return operand{lit: i, isLit: true, pos: pos}, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return operand{}, werr(pos, ErrWhere, "bad number %q", s)
	}
	return operand{lit: f, isLit: true, pos: pos}, nil
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
