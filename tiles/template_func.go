package tiles

// FuncTemplate returns a template whose tile URLs come from fn (a WMTS
// layer names its levels by tile matrix identifiers, which no token
// template can write); shown is what String returns (for progress and
// errors).
func FuncTemplate(shown string, fn func(TileKey) string) *Template {
	return &Template{raw: shown, fn: fn}
}
