package localapi

import (
	"crypto/subtle"
	"testing"
)

// tokenEqual agrees with subtle.ConstantTimeCompare and never accepts an
// empty expected token.
func FuzzTokenEqual(f *testing.F) {
	for _, c := range [][2]string{{"", ""}, {"a", ""}, {"", "a"}, {"tok", "tok"}, {"tok", "toK"}, {"tok", "tokn"}, {"toke", "tok"}, {"\x00", "\x00"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, got, want string) {
		wantEq := want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
		if eq := tokenEqual(got, want); eq != wantEq {
			t.Errorf("tokenEqual(%q, %q) = %v, want %v", got, want, eq, wantEq)
		}
	})
}
