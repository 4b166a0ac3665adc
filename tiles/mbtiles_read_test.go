package tiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// AppendTile answers what Tile answers, for present, absent and
// out-of-grid tiles, on XYZ and tileinfo grids, appending to the buffer.
func TestAppendTileSameAsTile(t *testing.T) {
	ctx := context.Background()
	for _, sc := range []*Scheme{WebMercatorScheme(256, 0, 19), tileInfoTestScheme(t)} {
		st := openTestStore(t, t.TempDir(), "a.mbtiles", sc)
		var batch []TileRecord
		for r := 0; r < 4; r++ {
			for c := 0; c < 4; c++ {
				batch = append(batch, TileRecord{Key: TileKey{2, r, c}, Data: bytes.Repeat([]byte(fmt.Sprintf("%d/%d;", r, c)), 100*(r+1))})
			}
		}
		batch = append(batch, TileRecord{Key: TileKey{1, 0, 0}, Absent: true})
		if err := st.Put(ctx, batch); err != nil {
			t.Fatal(err)
		}
		buf := []byte("prefix")
		found := 0
		for z := -1; z <= 3; z++ {
			for x := -1; x <= 4; x++ {
				for y := -1; y <= 4; y++ {
					want, werr := st.Tile(ctx, z, x, y)
					got, gerr := st.AppendTile(ctx, buf, z, x, y)
					if errors.Is(werr, ErrTileNotFound) != errors.Is(gerr, ErrTileNotFound) || (werr == nil) != (gerr == nil) {
						t.Fatalf("xyz=%v %d/%d/%d: AppendTile error %v, Tile error %v", sc.XYZ(), z, x, y, gerr, werr)
					}
					if werr != nil {
						if string(got) != "prefix" {
							t.Fatalf("%d/%d/%d: buffer %q after an error, want it as given", z, x, y, got)
						}
						continue
					}
					found++
					if string(got) != "prefix"+string(want) {
						t.Fatalf("%d/%d/%d: AppendTile %d bytes, want prefix + %d", z, x, y, len(got), len(want))
					}
				}
			}
		}
		if found != 16 {
			t.Fatalf("xyz=%v: %d tiles found, want 16", sc.XYZ(), found)
		}
		if st.readers.open == 0 {
			t.Fatal("no fast reader opened: every read took database/sql")
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// tileInfoTestScheme is a non-XYZ grid (rows stored as is).
func tileInfoTestScheme(t *testing.T) *Scheme {
	t.Helper()
	sc := WebMercatorScheme(256, 0, 19)
	info := sc.Info
	info.SpatialReference = &arcgis.SpatialReference{WKID: 2193} // not Web Mercator: a tileinfo grid
	ns, err := NewScheme(info)
	if err != nil {
		t.Fatal(err)
	}
	if ns.XYZ() {
		t.Fatal("scheme is XYZ; want a tileinfo grid")
	}
	return ns
}

// More concurrent readers than the pool holds fall back to database/sql
// and read the same bytes; the pool never opens more than its bound, and
// a tile written while readers run is seen by later reads.
func TestAppendTileConcurrentAndPoolBound(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t, t.TempDir(), "c.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{3, 1, 2}, Data: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := 0; i < 200; i++ {
				b, err := st.AppendTile(ctx, buf[:0], 3, 2, 1)
				if err != nil || string(b) != "one" {
					errs <- fmt.Errorf("read %q, %v", b, err)
					return
				}
				buf = b
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st.readers.open > maxTileReaders {
		t.Fatalf("%d fast readers open, want at most %d", st.readers.open, maxTileReaders)
	}
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{3, 1, 2}, Data: []byte("two")}}); err != nil {
		t.Fatal(err)
	}
	if b, err := st.AppendTile(ctx, nil, 3, 2, 1); err != nil || string(b) != "two" {
		t.Fatalf("after an update: %q, %v; want two", b, err)
	}
}

// A closed store's readers are closed: Close switches the journal mode,
// which needs every connection gone, and a read after Close fails.
func TestAppendTileAfterClose(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t, t.TempDir(), "c.mbtiles", WebMercatorScheme(256, 0, 19))
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{0, 0, 0}, Data: []byte("t")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendTile(ctx, nil, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st.readers.open != 0 {
		t.Fatalf("%d fast readers open after Close", st.readers.open)
	}
	if _, err := st.AppendTile(ctx, nil, 0, 0, 0); err == nil {
		t.Fatal("read after Close succeeded")
	}
}

// A read through the pool allocates nothing once the buffer is big
// enough (database/sql's path made 10 allocations and two copies).
func TestAppendTileAllocs(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t, t.TempDir(), "c.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{0, 0, 0}, Data: bytes.Repeat([]byte("x"), 2048)}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		if _, err := st.AppendTile(ctx, buf[:0], 0, 0, 0); err != nil {
			t.Fatal(err)
		}
	})
	if n > 0 {
		t.Fatalf("%.1f allocations per tile read, want 0", n)
	}
}

// Format is read once and follows later metadata writes (Configure,
// Finalize's sniffing, SetMetadata).
func TestFormatFollowsMetadata(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t, t.TempDir(), "f.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	for _, want := range []string{"png", "jpg", ""} {
		if want != "png" {
			if err := st.SetMetadata(ctx, map[string]string{"format": want}); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 { // the second answer comes from the cache
			if f, err := st.Format(ctx); err != nil || f != want {
				t.Fatalf("Format = %q, %v; want %q", f, err, want)
			}
		}
	}
}
