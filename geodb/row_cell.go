package geodb

import (
	"encoding/base64"
	"math"
	"strconv"
	"time"
)

// CellKind says which field of a Cell holds its value.
type CellKind uint8

// Cell kinds: the four types a value takes in its Esri JSON form.
const (
	CellNull  CellKind = iota
	CellInt            // Int
	CellFloat          // Float
	CellText           // Text
)

// Cell is one value of a row in its Esri JSON form (what Value boxes),
// without boxing or copying: Text points into the row's buffers and is
// valid only during Scan's callback.
type Cell struct {
	Kind  CellKind
	Int   int64
	Float float64
	Text  []byte
}

// rawType is the type of a stored value as read, before the conversion to
// its Esri JSON form.
type rawType uint8

const (
	rawNull rawType = iota
	rawInt
	rawFloat
	rawText
	rawBlob
	rawTime // a date column's text that the driver parses (driverTime)
)

// rawCell is one select-list value of a row as the database/sql driver
// would give it, unboxed; b is a buffer reused from row to row.
type rawCell struct {
	typ rawType
	i   int64
	f   float64
	b   []byte
	tm  time.Time
}

// setAny sets rc from a value the database/sql driver gave.
func (rc *rawCell) setAny(v any) {
	switch x := v.(type) {
	case nil:
		rc.typ = rawNull
	case int64:
		rc.typ, rc.i = rawInt, x
	case float64:
		rc.typ, rc.f = rawFloat, x
	case string:
		rc.typ, rc.b = rawText, append(rc.b[:0], x...)
	case []byte:
		rc.typ, rc.b = rawBlob, append(rc.b[:0], x...)
	case time.Time:
		rc.typ, rc.tm = rawTime, x
	default:
		// The driver gives no other type; keep the value's text form
		// rather than lose it.
		rc.typ, rc.b = rawText, append(rc.b[:0], describe(v)...)
	}
}

// cellOf converts rc, a value of column c, into its Esri JSON form
// exactly as fromSQL converts the driver's value (TestCellMatchesFromSQL,
// FuzzCellMatchesFromSQL). Text it derives (dates, base64, numbers of
// text columns) is appended to *scratch.
func cellOf(c *Column, rc *rawCell, scratch *[]byte) Cell {
	switch rc.typ {
	case rawNull:
		return Cell{}
	case rawTime:
		switch c.kind {
		case kDate:
			return Cell{Kind: CellInt, Int: rc.tm.UnixMilli()}
		case kDateOnly:
			return derived(scratch, rc.tm.UTC().AppendFormat(*scratch, "2006-01-02"))
		}
		return derived(scratch, rc.tm.AppendFormat(*scratch, time.RFC3339Nano))
	case rawBlob:
		if c.kind == kBlob {
			return derived(scratch, base64.StdEncoding.AppendEncode(*scratch, rc.b))
		}
		return textCell(c, rc.b, scratch)
	case rawText:
		return textCell(c, rc.b, scratch)
	case rawInt:
		switch c.kind {
		case kFloat32, kFloat64:
			return Cell{Kind: CellFloat, Float: float64(rc.i)}
		case kString, kGUID, kGlobalID, kXML:
			return derived(scratch, strconv.AppendInt(*scratch, rc.i, 10))
		}
		return Cell{Kind: CellInt, Int: rc.i}
	case rawFloat:
		switch c.kind {
		case kInt16, kInt32, kInt64, kOID, kDate:
			if rc.f == math.Trunc(rc.f) {
				return Cell{Kind: CellInt, Int: int64(rc.f)}
			}
		}
		return Cell{Kind: CellFloat, Float: rc.f}
	}
	return Cell{}
}

// textCell is cellOf for text (or a blob read as text) b of column c.
func textCell(c *Column, b []byte, scratch *[]byte) Cell {
	switch c.kind {
	case kDate:
		if tm, err := parseDateText(string(b)); err == nil {
			return Cell{Kind: CellInt, Int: tm.UnixMilli()}
		}
	case kBlob:
		return derived(scratch, base64.StdEncoding.AppendEncode(*scratch, b))
	case kInt16, kInt32, kInt64, kOID:
		if i, err := strconv.ParseInt(string(b), 10, 64); err == nil {
			return Cell{Kind: CellInt, Int: i}
		}
	case kFloat32, kFloat64:
		if f, err := strconv.ParseFloat(string(b), 64); err == nil {
			return Cell{Kind: CellFloat, Float: f}
		}
	}
	return Cell{Kind: CellText, Text: b}
}

// derived is a text cell of what was appended to *scratch (out is
// *scratch with the text at its end); *scratch keeps it.
func derived(scratch *[]byte, out []byte) Cell {
	start := len(*scratch)
	*scratch = out
	return Cell{Kind: CellText, Text: out[start:len(out):len(out)]}
}

// box is c as fromSQL gives it: nil, int64, float64 or string.
func (c Cell) box() any {
	switch c.Kind {
	case CellInt:
		return c.Int
	case CellFloat:
		return c.Float
	case CellText:
		return string(c.Text)
	}
	return nil
}
