package whereclause

import (
	"encoding/json"
	"testing"
)

func TestNumeric(t *testing.T) {
	for _, c := range []struct {
		v    any
		want float64
		ok   bool
	}{
		{float64(1.5), 1.5, true},
		{float32(2.5), 2.5, true},
		{int(3), 3, true},
		{int64(-4), -4, true},
		{int32(5), 5, true},
		{int16(6), 6, true},
		{json.Number("7.25"), 7.25, true},
		{json.Number("x"), 0, false},
		{"8", 0, false},
		{true, 0, false},
		{nil, 0, false},
	} {
		if f, ok := Numeric(c.v); f != c.want || ok != c.ok {
			t.Errorf("Numeric(%#v) = %v, %v; want %v, %v", c.v, f, ok, c.want, c.ok)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, c := range []struct {
		a, b any
		want int
	}{
		{nil, nil, 0},
		{nil, 1.0, -1},
		{"a", nil, 1},
		{3.0, int64(3), 0},
		{json.Number("3.0"), int32(3), 0},
		{2.0, json.Number("10"), -1}, // by value, not by text
		{"10", "9", -1},              // text
		{"x", "x", 0},
		{"3", 3.0, 0}, // a string and a number compare as text
		{true, "true", 0},
	} {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%#v, %#v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
