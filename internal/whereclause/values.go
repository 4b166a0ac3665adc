package whereclause

import (
	"cmp"
	"fmt"
	"strings"
)

// Numeric returns the numeric value of an attribute value as decoded from
// JSON (float64, json.Number) or read from a store (Go integer and float
// types); ok is false for anything else, strings included.
func Numeric(v any) (f float64, ok bool) {
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
	case interface{ Float64() (float64, error) }: // json.Number
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// Compare orders two attribute values the way the dialect compares them:
// NULL (nil) first, two numbers by value (so 3, int64(3) and
// json.Number("3.0") are equal), anything else by its text.
func Compare(a, b any) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	af, aok := Numeric(a)
	bf, bok := Numeric(b)
	if aok && bok {
		return cmp.Compare(af, bf)
	}
	return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
}
