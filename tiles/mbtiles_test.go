package tiles

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestStoreConcurrentReadersAndWriter(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	st := openTestStore(t, t.TempDir(), "c.mbtiles", s)
	defer st.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := 0; r < 50; r++ {
			var batch []TileRecord
			for c := 0; c < 20; c++ {
				batch = append(batch, TileRecord{Key: TileKey{12, r, c}, Data: []byte(fmt.Sprintf("%d/%d", r, c))})
			}
			if err := st.Put(ctx, batch); err != nil {
				errs <- err
				return
			}
		}
	}()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				r, c := i%50, i%20
				b, err := st.Tile(ctx, 12, c, (1<<12)-1-r)
				if errors.Is(err, ErrTileNotFound) {
					continue
				}
				if err != nil || string(b) != fmt.Sprintf("%d/%d", r, c) {
					errs <- fmt.Errorf("tile %d/%d: %q %v", r, c, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _, _ := st.Count(ctx); n != 1000 {
		t.Fatalf("%d tiles", n)
	}
	// Out-of-range addresses are not found rather than errors.
	for _, a := range [][3]int{{-1, 0, 0}, {12, 4096, 0}, {12, 0, 4096}, {31, 0, 0}} {
		if _, err := st.Tile(ctx, a[0], a[1], a[2]); !errors.Is(err, ErrTileNotFound) {
			t.Fatalf("%v: %v", a, err)
		}
	}
}

func TestReadLocalStyle(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "styles"), 0o755)
	b, _ := os.ReadFile("testdata/style-expressions.json")
	os.WriteFile(filepath.Join(dir, "styles", "root.json"), b, 0o644)
	out, err := ReadLocalStyle(dir, "http://127.0.0.1:7/t/L", 0, 14)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"http://127.0.0.1:7/t/L/{z}/{x}/{y}.pbf"`, `"sprite":"http://127.0.0.1:7/t/L/sprites/sprite"`, `"https://example.com/{z}/{x}/{y}.png"`} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("local style lacks %s: %s", want, out)
		}
	}
	if strings.Contains(string(out), `"../../"`) {
		t.Fatal("service-relative source URL left in the local style")
	}
}
