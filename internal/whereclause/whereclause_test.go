package whereclause

import (
	"errors"
	"strings"
	"testing"
)

// render prints a tree in prefix form for comparisons.
func render(n *Node) string {
	var b strings.Builder
	var walk func(n *Node)
	walk = func(n *Node) {
		switch n.Kind {
		case Lit:
			switch v := n.Val.(type) {
			case nil:
				b.WriteString("NULL")
			case string:
				b.WriteString("'" + v + "'")
			case Number:
				b.WriteString(string(v))
			case Date:
				b.WriteString(v.Keyword + "'" + v.Text + "'")
			case bool:
				if v {
					b.WriteString("TRUE")
				} else {
					b.WriteString("FALSE")
				}
			}
			return
		case Field:
			b.WriteString("$" + n.Name)
			return
		}
		name := map[Kind]string{Cmp: n.Op, And: "and", Or: "or", Not: "not", In: "in", Like: "like", IsNull: "null",
			Between: "between", Arith: n.Op, Func: n.Op, Neg: "neg"}[n.Kind]
		if n.Neg {
			name = "!" + name
		}
		b.WriteString("(" + name)
		for _, k := range n.Kids {
			b.WriteString(" ")
			walk(k)
		}
		if n.Esc != "" {
			b.WriteString(" esc" + n.Esc)
		}
		b.WriteString(")")
	}
	walk(n)
	return b.String()
}

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"a = 1":                              "(= $a 1)",
		"a != 'x''y'":                        "(<> $a 'x'y')",
		"a = 1 OR b = 2 AND NOT c < 3":       "(or (= $a 1) (and (= $b 2) (not (< $c 3))))",
		"(a = 1 OR b = 2) AND c IS NOT NULL": "(and (or (= $a 1) (= $b 2)) (!null $c))",
		"a NOT IN (1, -2, +3)":               "(!in $a 1 (neg 2) 3)",
		"UPPER(a) LIKE 'X%' ESCAPE '\\'":     "(like (UPPER $a) 'X%' esc\\)",
		"a NOT BETWEEN 1 AND 2e3":            "(!between $a 1 2e3)",
		"d > DATE '2024-01-01'":              "(> $d DATE'2024-01-01')",
		"a * 2 + 1 = -b":                     "(= (+ (* $a 2) 1) (neg $b))",
		`"my field" = [other]`:               "(= $my field $other)",
		"TRUE":                               "TRUE",
		"d < CURRENT_DATE":                   "(< $d (CURRENT_DATE))",
		"t.name = 'é' AND ñame = 1":          "(and (= $t.name 'é') (= $ñame 1))",
		"a = .5":                             "(= $a .5)",
	} {
		n, err := Parse(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := render(n); got != want {
			t.Errorf("%q:\n got %s\nwant %s", in, got, want)
		}
	}
	if n, err := Parse("  "); n != nil || err != nil {
		t.Errorf("empty clause: %v %v", n, err)
	}
}

func TestParseErrors(t *testing.T) {
	for _, in := range []string{
		"a = 1; DROP TABLE x", "a = '' OR 1=1 --", "a = 'x' UNION SELECT 1", "a = 'open", "(a = 1",
		"f() = 1", "a IN ()", "a", "1", "a = 1 AND 2", "NOT 1", "a IS 1", "a NOT = 1", "a LIKE 'x' ESCAPE 'ab'",
		"a = 1e999", "a ! 1", `"a = 1`, "OR = 1",
		strings.Repeat("(", 500) + "a = 1" + strings.Repeat(")", 500),
		strings.Repeat("UPPER(", 831) + "a" + strings.Repeat(")", 831) + " = 'X'",
		strings.Repeat("NOT ", 200) + "a = 1",
		"a = " + strings.Repeat("-", 200) + "1",
		"a = '" + strings.Repeat("x", MaxLen) + "'",
		"a=1" + strings.Repeat(" OR a=1", MaxHeight),
	} {
		_, err := Parse(in)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%.60q: err = %v, want *Error", in, err)
		}
	}
	_, err := Parse(strings.Repeat("UPPER(", 831) + "a" + strings.Repeat(")", 831) + " = 'X'")
	if !strings.Contains(err.Error(), "nesting too deep") {
		t.Errorf("deep UPPER: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a = 1", "a NOT IN (1, 2) OR b LIKE 'x%' ESCAPE '!'", "(a = 1) AND NOT b IS NULL",
		"UPPER(a) = LOWER('X')", "a * -2 >= [b] / 3", `"a b" BETWEEN DATE '2024-01-01' AND CURRENT_DATE`, "TRUE"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Pos < 0 || e.Pos > len(s) {
				t.Fatalf("error %v (%T) for %q", err, err, s)
			}
			return
		}
		if n == nil {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("nil tree for %q", s)
			}
			return
		}
		if !n.IsBool() {
			t.Fatalf("root of %q is not a condition", s)
		}
		var depth func(n *Node) int
		depth = func(n *Node) int {
			d := 0
			for _, k := range n.Kids {
				d = max(d, depth(k))
			}
			return d + 1
		}
		if d := depth(n); d > MaxHeight {
			t.Fatalf("tree height %d over %d for %q", d, MaxHeight, s)
		}
	})
}
