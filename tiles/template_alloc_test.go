package tiles

import "testing"

// A tile URL costs one allocation (the string): the download makes one per
// tile. It was five (builder growth and number strings).
func TestTemplateURLOneAllocation(t *testing.T) {
	tm, err := ParseTemplate("http://{s}.tiles.example.com:8080/tile/{z}/{y}/{x}.png?layer=roads", []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	k := TileKey{Level: 17, Row: 123456, Col: 98765}
	if got, want := tm.URL(k), "http://b.tiles.example.com:8080/tile/17/123456/98765.png?layer=roads"; got != want {
		t.Fatalf("URL %q, want %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { tm.URL(k) }); n != 1 {
		t.Fatalf("%v allocations per URL, want 1", n)
	}
}
