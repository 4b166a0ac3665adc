package tiles

import (
	"bytes"
	"os"
	"testing"
)

func FuzzParseBundleHeader(f *testing.F) {
	var b bytes.Buffer
	WriteBundle(&b, map[[2]int][]byte{{0, 0}: []byte("tile"), {127, 127}: []byte("x")})
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:64])
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := ParseBundleHeader(data)
		if err == nil && len(idx) != bundleRecords {
			t.Fatalf("index of %d records", len(idx))
		}
		bd, err := OpenBundle(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		// Every indexed tile must be readable within the file.
		if err := bd.Each(func(r, c int, d []byte) error { return nil }); err != nil {
			t.Fatalf("accepted bundle fails to read: %v", err)
		}
	})
}

func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"https://{subDomain}.tile.example.com/{level}/{col}/{row}.png",
		"http://127.0.0.1/tile/{z}/{y}/{x}.pbf",
		"https://example.com/{z}/{x}/{-y}.png?key=1",
		"https://example.com/{z}/{x}.png", "{z}{x}{y}", "https://e.com/{z}/{x}/{y", "https://e.com/}{z}/{x}/{y}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTemplate(s, []string{"a", "b"})
		if err != nil {
			return
		}
		// Every brace belongs to a token, so none survives expansion.
		if u := tm.URL(TileKey{Level: 3, Row: 5, Col: 7}); bytes.ContainsAny([]byte(u), "{}") {
			t.Fatalf("URL %q from %q still has braces", u, s)
		}
	})
}

func FuzzParseTileJSON(f *testing.F) {
	f.Add([]byte(`{"tilejson":"3.0.0","tiles":["https://e.com/{z}/{x}/{y}.pbf"],"minzoom":0,"maxzoom":14,"bounds":[-180,-85,180,85],"scheme":"tms"}`))
	f.Add([]byte(`{"tiles":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tj, err := ParseTileJSON(b)
		if err != nil {
			return
		}
		if len(tj.Tiles) == 0 {
			t.Fatal("accepted TileJSON without tiles")
		}
		_, _ = tj.Template("https://example.com/tiles.json")
	})
}

func FuzzParseStyle(f *testing.F) {
	if b, err := os.ReadFile("testdata/style-expressions.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"version":8,"sources":{},"layers":[{"layout":{"text-font":[["a"],[[]]]}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStyle(b)
		if err != nil {
			return
		}
		_ = s.Fontstacks()
		_ = s.VectorSources()
		_ = s.LocalStyle("http://127.0.0.1/x", 0, 1)
	})
}

func FuzzParseTilemap(f *testing.F) {
	f.Add([]byte(`{"adjusted":true,"location":{"left":0,"top":0,"width":2,"height":2},"data":[1,0,0,1]}`), 0, 0, 2, 2)
	f.Add([]byte(`{"error":{"code":422,"message":"x"}}`), 0, 0, 1, 1)
	f.Fuzz(func(t *testing.T, b []byte, row, col, w, h int) {
		if w < 1 || h < 1 || w > 256 || h > 256 {
			return
		}
		p, err := ParseTilemap(b, row, col, w, h)
		if err == nil && len(p) != w*h {
			t.Fatalf("%d values for %dx%d", len(p), w, h)
		}
	})
}

func FuzzDecodeMVTSchema(f *testing.F) {
	// A hand-built layer: name "l", key "k", string value "v", one feature tagged k=v.
	layer := []byte{0x0a, 0x01, 'l', 0x1a, 0x01, 'k', 0x22, 0x03, 0x0a, 0x01, 'v', 0x12, 0x04, 0x12, 0x02, 0x00, 0x00, 0x78, 0x02}
	tile := append([]byte{0x1a, byte(len(layer))}, layer...)
	f.Add(tile)
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = DecodeMVTSchema(b)
	})
}

func TestDecodeMVTSchemaHandBuilt(t *testing.T) {
	layer := []byte{0x0a, 0x01, 'l', 0x1a, 0x01, 'k', 0x22, 0x03, 0x0a, 0x01, 'v', 0x12, 0x04, 0x12, 0x02, 0x00, 0x00, 0x78, 0x02}
	tile := append([]byte{0x1a, byte(len(layer))}, layer...)
	ls, err := DecodeMVTSchema(tile)
	if err != nil || len(ls) != 1 || ls[0].Name != "l" || ls[0].Fields["k"] != "String" || ls[0].Features != 1 || ls[0].Strings[0] != "v" {
		t.Fatalf("%+v %v", ls, err)
	}
	if _, err := DecodeMVTSchema(tile[:len(tile)-3]); err == nil {
		t.Fatal("truncated tile accepted")
	}
}
