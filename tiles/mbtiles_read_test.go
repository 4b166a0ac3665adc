package tiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/internal/sqlitepool"
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
		if st.readers.Stats().Opened == 0 {
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
	if s := st.readers.Stats(); s.Opened > tileReaderCount() || s.Open != s.Idle || s.Opened == 0 {
		t.Fatalf("fast readers %+v, want at most %d opened, all idle", s, tileReaderCount())
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
	if s := st.readers.Stats(); s.Open != 0 || s.Opened == 0 {
		t.Fatalf("fast readers %+v after Close, want none open", s)
	}
	if _, err := st.AppendTile(ctx, nil, 0, 0, 0); err == nil {
		t.Fatal("read after Close succeeded")
	}
}

// A fast reader that fails to open (here: the file is away for a moment,
// as with a passing EMFILE) sends reads to database/sql, tries no open
// again until the backoff has passed, and then takes the fast path again
// (the old pool gave it up for the store's lifetime).
func TestAppendTileHealsAfterFailedOpen(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t, t.TempDir(), "h.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	if err := st.Put(ctx, []TileRecord{{Key: TileKey{0, 0, 0}, Data: []byte("t")}}); err != nil {
		t.Fatal(err)
	}
	// database/sql keeps an idle reader on the file, which reads on
	// while the path is away.
	if b, err := st.Tile(ctx, 0, 0, 0); err != nil || string(b) != "t" {
		t.Fatalf("Tile: %q, %v", b, err)
	}
	clk := clock.NewFake(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC))
	st.readers.Close()
	st.readers = newTileReaders(st.path, clk.Now)
	away := st.path + ".away"
	if err := os.Rename(st.path, away); err != nil {
		t.Fatal(err)
	}
	read := func(step string, wantOpened, wantFailures int) {
		t.Helper()
		if b, err := st.AppendTile(ctx, nil, 0, 0, 0); err != nil || string(b) != "t" {
			t.Fatalf("%s: AppendTile %q, %v", step, b, err)
		}
		if s := st.readers.Stats(); s.Opened != wantOpened || s.Failures != wantFailures {
			t.Fatalf("%s: fast readers %+v, want %d opened, %d failures in a row", step, s, wantOpened, wantFailures)
		}
	}
	read("file away", 0, 1)
	read("within the backoff", 0, 1) // no second open tried
	if err := os.Rename(away, st.path); err != nil {
		t.Fatal(err)
	}
	read("file back, within the backoff", 0, 1)
	clk.Advance(sqlitepool.FirstBackoff)
	read("after the backoff", 1, 0)
	read("reused", 1, 0)
}

// The pool holds GOMAXPROCS connections (at least 4): the local API's
// gate admits that many tile reads at once by default, and each one gets
// a fast reader.
func TestTileReadersSizedByGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8))
	st := openTestStore(t, t.TempDir(), "g.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	var taken []*tileConn
	for {
		c, ok := st.readers.Get()
		if !ok {
			break
		}
		taken = append(taken, c)
	}
	for _, c := range taken {
		st.readers.Put(c)
	}
	if len(taken) != 8 {
		t.Fatalf("%d fast readers with GOMAXPROCS 8, want 8", len(taken))
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

// BenchmarkAppendTile reads one 2 KB tile through the pool from one
// goroutine: the pool's Get and Put and the SQLite read, per tile.
func BenchmarkAppendTile(b *testing.B) {
	ctx := context.Background()
	st := openTestStore(b, b.TempDir(), "b.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	var recs []TileRecord
	for r := range 16 {
		for c := range 16 {
			recs = append(recs, TileRecord{Key: TileKey{4, r, c}, Data: bytes.Repeat([]byte{byte(r), byte(c)}, 1024)})
		}
	}
	if err := st.Put(ctx, recs); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := st.AppendTile(ctx, buf[:0], 4, i%16, (i/16)%16); err != nil {
			b.Fatal(err)
		}
	}
}
