package geodb

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/offlined/offlined/internal/whereclause"
)

// Validation failures; a *FieldError wraps one of them.
var (
	ErrUnknownField = errors.New("unknown field")
	ErrType         = errors.New("wrong type")
	ErrLength       = errors.New("too long")
	ErrNull         = errors.New("null not allowed")
	ErrDomain       = errors.New("value outside domain")
	ErrReadOnly     = errors.New("field not editable")
)

// FieldError says which field of which table rejected a value and why.
type FieldError struct {
	Table  string
	Field  string
	Reason error // one of ErrUnknownField, ErrType, ErrLength, ErrNull, ErrDomain, ErrReadOnly
	Detail string
}

func (e *FieldError) Error() string {
	s := fmt.Sprintf("%s.%s: %v", e.Table, e.Field, e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the reason.
func (e *FieldError) Unwrap() error { return e.Reason }

const dateLayout = "2006-01-02T15:04:05.000Z"

var guidRe = regexp.MustCompile(`^\{?([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})\}?$`)

// NormalizeGlobalID returns id in registry form {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}
// (upper case, braces) and whether it is a valid GUID.
func NormalizeGlobalID(id string) (string, bool) {
	// Fast path for the registry form itself (what servers send).
	if len(id) == 38 && id[0] == '{' && id[37] == '}' {
		ok := true
		for i := 1; i < 37; i++ {
			c := id[i]
			switch i {
			case 9, 14, 19, 24:
				ok = ok && c == '-'
			default:
				ok = ok && (c >= '0' && c <= '9' || c >= 'A' && c <= 'F')
			}
		}
		if ok {
			return id, true
		}
	}
	m := guidRe.FindStringSubmatch(strings.TrimSpace(id))
	if m == nil {
		return "", false
	}
	return "{" + strings.ToUpper(m[1]) + "}", true
}

func toInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, true
		}
		f, err := x.Float64()
		if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	case float64:
		if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
			return 0, false
		}
		return int64(x), true
	}
	return 0, false
}

// toSQL converts an Esri JSON attribute value into the value stored for c.
// strict adds length and domain checks (edits); bulk loads only convert.
func toSQL(t *Table, c *Column, v any, strict bool) (any, error) {
	fe := func(reason error, format string, a ...any) error {
		return &FieldError{Table: t.Name, Field: c.Name, Reason: reason, Detail: fmt.Sprintf(format, a...)}
	}
	if v == nil {
		if strict && !c.Field.IsNullable() && c.kind != kOID && c.kind != kGlobalID {
			return nil, fe(ErrNull, "field is not nullable")
		}
		return nil, nil
	}
	var out any
	switch c.kind {
	case kOID, kInt16, kInt32, kInt64:
		i, ok := toInt(v)
		if !ok {
			return nil, fe(ErrType, "want an integer, got %s", describe(v))
		}
		lim := int64(math.MaxInt64)
		switch c.kind {
		case kInt16:
			lim = math.MaxInt16
		case kInt32:
			lim = math.MaxInt32
		}
		if i > lim || i < -lim-1 {
			return nil, fe(ErrType, "%d out of range", i)
		}
		out = i
	case kFloat32, kFloat64:
		f, ok := whereclause.Numeric(v)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fe(ErrType, "want a number, got %s", describe(v))
		}
		if c.kind == kFloat32 {
			f = float64(float32(f))
		}
		out = f
	case kDate:
		switch x := v.(type) {
		case string:
			tm, err := parseDateText(x)
			if err != nil {
				return nil, fe(ErrType, "want epoch milliseconds or an ISO date, got %q", x)
			}
			out = tm.UTC().Format(dateLayout)
		default:
			ms, ok := toInt(v)
			if !ok {
				return nil, fe(ErrType, "want epoch milliseconds, got %s", describe(v))
			}
			tm := time.UnixMilli(ms).UTC()
			if y := tm.Year(); y < 1 || y > 9999 {
				return nil, fe(ErrType, "epoch milliseconds %d fall in year %d, outside 0001-9999", ms, y)
			}
			out = tm.Format(dateLayout)
		}
	case kDateOnly:
		s, ok := v.(string)
		if _, err := time.Parse("2006-01-02", s); !ok || err != nil {
			return nil, fe(ErrType, "want YYYY-MM-DD, got %s", describe(v))
		}
		out = s
	case kTimeOnly:
		s, ok := v.(string)
		if !ok || !validTime(s) {
			return nil, fe(ErrType, "want HH:MM:SS, got %s", describe(v))
		}
		out = s
	case kTimestampOffset:
		s, ok := v.(string)
		if _, err := time.Parse(time.RFC3339Nano, s); !ok || err != nil {
			return nil, fe(ErrType, "want an ISO 8601 timestamp with offset, got %s", describe(v))
		}
		out = s
	case kGlobalID, kGUID:
		s, ok := v.(string)
		if !ok {
			return nil, fe(ErrType, "want a GUID string, got %s", describe(v))
		}
		g, ok := NormalizeGlobalID(s)
		if !ok {
			return nil, fe(ErrType, "%q is not a GUID", s)
		}
		out = g
	case kBlob:
		s, ok := v.(string)
		if !ok {
			return nil, fe(ErrType, "want base64, got %s", describe(v))
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fe(ErrType, "invalid base64")
		}
		out = b
	default: // string, XML
		s, ok := v.(string)
		if n, isNum := v.(json.Number); isNum && c.kind == kString {
			s, ok = n.String(), true // numeric codes of string domains arrive as numbers
		} else if f, isF := v.(float64); isF && c.kind == kString {
			s, ok = strconv.FormatFloat(f, 'f', -1, 64), true
		}
		if !ok {
			return nil, fe(ErrType, "want a string, got %s", describe(v))
		}
		if strict && c.kind == kString && c.Field.Length > 0 && utf8.RuneCountInString(s) > c.Field.Length {
			return nil, fe(ErrLength, "%d characters, limit %d", utf8.RuneCountInString(s), c.Field.Length)
		}
		out = s
	}
	if strict {
		if err := checkDomain(c, out); err != nil {
			return nil, fe(ErrDomain, "%v", err)
		}
	}
	return out, nil
}

func checkDomain(c *Column, v any) error {
	d := c.Field.Domain
	if d == nil {
		return nil
	}
	if len(d.CodedValues) > 0 {
		s := fmt.Sprint(v)
		for _, cv := range d.CodedValues {
			if fmt.Sprint(normNum(cv.Code)) == s {
				return nil
			}
		}
		return fmt.Errorf("%v is not a code of domain %s", v, d.Name)
	}
	if len(d.Range) == 2 {
		f, ok := whereclause.Numeric(v)
		if ok && (f < d.Range[0] || f > d.Range[1]) {
			return fmt.Errorf("%v is outside [%v, %v] of domain %s", v, d.Range[0], d.Range[1], d.Name)
		}
	}
	return nil
}

// normNum renders integral float codes as integers (JSON decoding gives float64).
func normNum(v any) any {
	if f, ok := v.(float64); ok && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return int64(f)
	}
	return v
}

func validTime(s string) bool {
	for _, l := range []string{"15:04:05", "15:04:05.999999999", "15:04"} {
		if _, err := time.Parse(l, s); err == nil {
			return true
		}
	}
	return false
}

func parseDateText(s string) (time.Time, error) {
	for _, l := range []string{time.RFC3339Nano, dateLayout, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if tm, err := time.Parse(l, s); err == nil {
			return tm, nil
		}
	}
	return time.Time{}, fmt.Errorf("unparseable date %q", s)
}

func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return strconv.Quote(x)
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%v", v)
}

// fromSQL converts a stored value into its Esri JSON form.
func fromSQL(c *Column, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		switch c.kind {
		case kDate:
			return x.UnixMilli()
		case kDateOnly:
			return x.UTC().Format("2006-01-02")
		}
		return x.Format(time.RFC3339Nano)
	case []byte:
		if c.kind == kBlob {
			return base64.StdEncoding.EncodeToString(x)
		}
		return fromSQL(c, string(x))
	case string:
		switch c.kind {
		case kDate:
			if tm, err := parseDateText(x); err == nil {
				return tm.UnixMilli()
			}
		case kBlob:
			return base64.StdEncoding.EncodeToString([]byte(x))
		case kInt16, kInt32, kInt64, kOID:
			if i, err := strconv.ParseInt(x, 10, 64); err == nil {
				return i
			}
		case kFloat32, kFloat64:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f
			}
		}
		return v // unchanged: v, not x, which would be boxed anew (an allocation per value)
	case int64:
		switch c.kind {
		case kFloat32, kFloat64:
			return float64(x)
		case kString, kGUID, kGlobalID, kXML:
			return strconv.FormatInt(x, 10)
		}
		return v
	case float64:
		switch c.kind {
		case kInt16, kInt32, kInt64, kOID, kDate:
			if x == math.Trunc(x) {
				return int64(x)
			}
		}
		return x
	}
	return v
}
