package tiles

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// journalMode reads the journal mode of the store's connections.
func journalMode(t *testing.T, st *Store) string {
	t.Helper()
	var m string
	if err := st.db.QueryRowContext(context.Background(), `PRAGMA journal_mode`).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(m)
}

// TestOpenStoreForBuild: a new store being built uses the rollback journal;
// a store open in WAL elsewhere (served while a job writes it) opens for a
// build without contending for the journal switch and stays in WAL; and what
// the build wrote reads back through OpenStore.
func TestOpenStoreForBuild(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "b.mbtiles")
	s := WebMercatorScheme(256, 0, 19)

	b := openModeStore(t, "build", path, s)
	if m := journalMode(t, b); m != "delete" {
		t.Fatalf("OpenStoreForBuild journal mode %q on a new file, want delete", m)
	}
	if err := b.Put(ctx, []TileRecord{{Key: TileKey{Level: 1, Row: 0, Col: 1}, Data: []byte("\x89PNG one")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	served := openModeStore(t, "serve", path, s)
	defer served.Close()
	if m := journalMode(t, served); m != "wal" {
		t.Fatalf("OpenStore journal mode %q, want wal", m)
	}
	b = openModeStore(t, "build", path, s)
	if m := journalMode(t, b); m != "wal" {
		t.Fatalf("OpenStoreForBuild on a served store: journal mode %q, want wal kept", m)
	}
	if err := b.Put(ctx, []TileRecord{{Key: TileKey{Level: 1, Row: 1, Col: 1}, Data: []byte("\x89PNG two")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	r := served
	for _, k := range []TileKey{{Level: 1, Row: 0, Col: 1}, {Level: 1, Row: 1, Col: 1}} {
		if got, err := r.TileByKey(ctx, k); err != nil || !strings.HasPrefix(string(got), "\x89PNG") {
			t.Fatalf("tile %+v after the build: %q, %v", k, got, err)
		}
	}
}

// pageSize reads the page size of the store's file.
func pageSize(t *testing.T, st *Store) int {
	t.Helper()
	var n int
	if err := st.db.QueryRowContext(context.Background(), `PRAGMA page_size`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStorePlan: a new store planned for a big download gets 64 KiB pages
// and keeps its application_id, metadata and schema; one planned small
// keeps 4 KiB pages; a store that holds a tile, or is in WAL, keeps its
// page size whatever the plan, and reopening a store never changes it.
func TestStorePlan(t *testing.T) {
	ctx := context.Background()
	s := WebMercatorScheme(256, 0, 19)
	dir := t.TempDir()
	one := []TileRecord{{Key: TileKey{Level: 3, Row: 2, Col: 5}, Data: []byte("\x89PNG one")}}

	big := openModeStore(t, "build", filepath.Join(dir, "big.mbtiles"), s)
	if err := big.Plan(ctx, bigStoreTiles); err != nil {
		t.Fatal(err)
	}
	if got := pageSize(t, big); got != bigStorePage {
		t.Fatalf("planned %d tiles: page size %d, want %d", bigStoreTiles, got, bigStorePage)
	}
	var app int
	if err := big.db.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&app); err != nil || app != mbtilesApplicationID {
		t.Fatalf("application_id %x after Plan (%v)", app, err)
	}
	if md, err := big.Metadata(ctx); err != nil || md[MetaGrid] != "xyz" {
		t.Fatalf("metadata after Plan: %v %v", md, err)
	}
	if err := big.Put(ctx, one); err != nil {
		t.Fatal(err)
	}
	if got, err := big.TileByKey(ctx, one[0].Key); err != nil || string(got) != "\x89PNG one" {
		t.Fatalf("tile after Plan: %q %v", got, err)
	}
	if err := big.Close(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"build", "serve"} {
		st := openModeStore(t, mode, filepath.Join(dir, "big.mbtiles"), s)
		if got := pageSize(t, st); got != bigStorePage {
			t.Errorf("reopened (%s): page size %d, want %d kept", mode, got, bigStorePage)
		}
		st.Close()
	}

	small := openModeStore(t, "build", filepath.Join(dir, "small.mbtiles"), s)
	defer small.Close()
	if err := small.Plan(ctx, bigStoreTiles-1); err != nil {
		t.Fatal(err)
	}
	if got := pageSize(t, small); got != smallStorePage {
		t.Fatalf("planned %d tiles: page size %d, want %d", bigStoreTiles-1, got, smallStorePage)
	}
	// A resumed store holds tiles: a bigger plan keeps its pages.
	if err := small.Put(ctx, one); err != nil {
		t.Fatal(err)
	}
	if err := small.Plan(ctx, 1<<20); err != nil {
		t.Fatal(err)
	}
	if got := pageSize(t, small); got != smallStorePage {
		t.Fatalf("a store holding a tile changed its page size to %d", got)
	}
	if got, err := small.TileByKey(ctx, one[0].Key); err != nil || string(got) != "\x89PNG one" {
		t.Fatalf("tile after a refused Plan: %q %v", got, err)
	}

	// Absent records count as content too, and a WAL store keeps its pages.
	absent := openModeStore(t, "build", filepath.Join(dir, "absent.mbtiles"), s)
	defer absent.Close()
	if err := absent.Put(ctx, []TileRecord{{Key: TileKey{Level: 3, Row: 1, Col: 1}, Absent: true}}); err != nil {
		t.Fatal(err)
	}
	wal := openModeStore(t, "serve", filepath.Join(dir, "wal.mbtiles"), s)
	defer wal.Close()
	for _, st := range []*Store{absent, wal} {
		if err := st.Plan(ctx, 1<<20); err != nil {
			t.Fatal(err)
		}
		if got := pageSize(t, st); got != smallStorePage {
			t.Errorf("%s: page size %d after Plan, want %d kept", st.Path(), got, smallStorePage)
		}
	}
}

// TestStorePlanTileSize: a store planned big takes its page size from the
// first Put: tiles of 40 KB get 32 KiB pages (two would not fit a 64 KiB
// page), tiles of 13 KB keep 64 KiB pages, absent records in the batch do
// not count, and later batches change nothing.
func TestStorePlanTileSize(t *testing.T) {
	ctx := context.Background()
	s := WebMercatorScheme(256, 0, 19)
	dir := t.TempDir()
	for _, c := range []struct {
		size, want int
	}{{40000, midStorePage}, {13000, bigStorePage}} {
		st := openModeStore(t, "build", filepath.Join(dir, fmt.Sprintf("%d.mbtiles", c.size)), s)
		if err := st.Plan(ctx, 1<<20); err != nil {
			t.Fatal(err)
		}
		recs := []TileRecord{{Key: TileKey{Level: 5, Row: 0, Col: 9}, Absent: true}}
		for i := 0; i < 8; i++ {
			recs = append(recs, TileRecord{Key: TileKey{Level: 5, Row: 1, Col: i}, Data: bytes.Repeat([]byte{byte(i)}, c.size)})
		}
		if err := st.Put(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if got := pageSize(t, st); got != c.want {
			t.Errorf("tiles of %d B: page size %d, want %d", c.size, got, c.want)
		}
		other := bytes.Repeat([]byte{1}, 53000-c.size)
		if err := st.Put(ctx, []TileRecord{{Key: TileKey{Level: 5, Row: 2, Col: 0}, Data: other}}); err != nil {
			t.Fatal(err)
		}
		if got := pageSize(t, st); got != c.want {
			t.Errorf("tiles of %d B, then %d B: page size %d, want %d kept", c.size, len(other), got, c.want)
		}
		for _, r := range recs[1:] {
			if got, err := st.TileByKey(ctx, r.Key); err != nil || !bytes.Equal(got, r.Data) {
				t.Fatalf("tile %s after the page change: %d bytes, %v", r.Key, len(got), err)
			}
		}
		if tiles, absent, err := st.Count(ctx); err != nil || tiles != 9 || absent != 1 {
			t.Fatalf("count %d tiles %d absent %v, want 9 and 1", tiles, absent, err)
		}
		st.Close()
	}
}

// TestPlannedStoreOpensInGDAL: a download into a store planned big (64 KiB
// pages) is an MBTiles file GDAL opens, and the serving path (OpenStore)
// reads its tiles back.
func TestPlannedStoreOpensInGDAL(t *testing.T) {
	ctx := context.Background()
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 10, 14)
	f := newFakeTiles(t)
	path := filepath.Join(t.TempDir(), "big.mbtiles")
	st := openModeStore(t, "build", path, s)
	if err := st.Plan(ctx, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := Download(ctx, st, f.fetcher(t, 4), covers, DownloadOptions{Concurrency: 4}); err != nil {
		t.Fatal(err)
	}
	b, _ := demoAOI.WGS84Bounds()
	if err := st.Finalize(ctx, "demo", &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}); err != nil {
		t.Fatal(err)
	}
	if got := pageSize(t, st); got != bigStorePage {
		t.Fatalf("page size %d, want %d", got, bigStorePage)
	}
	st.Close()
	served := openModeStore(t, "serve", path, s)
	defer served.Close()
	k := TileKey{Level: covers[0].Level, Row: covers[0].Spans[0].Row, Col: covers[0].Spans[0].Col0}
	if got, err := served.TileByKey(ctx, k); err != nil || !bytes.Equal(got, makePNG(k.Level, k.Row, k.Col)) {
		t.Fatalf("served tile %s: %d bytes, %v", k, len(got), err)
	}
	out := gdalOpens(t, "gdalinfo", path, "Driver: MBTiles")
	if !strings.Contains(out, "ZOOM_LEVEL=14") && !strings.Contains(out, "Overviews") {
		t.Fatalf("gdalinfo shows no zoom levels:\n%s", out)
	}
}

// TestWriterSynchronous: the writer of a store in the rollback journal
// syncs FULL (the journal header is synced before the file is written, so
// a power cut cannot corrupt it), truncates its journal at commit instead
// of deleting it and keeps a small page cache; a WAL store's writer stays
// NORMAL with the big cache. Closing (or re-planning) a built store leaves
// no journal file beside it.
func TestWriterSynchronous(t *testing.T) {
	ctx := context.Background()
	s := WebMercatorScheme(256, 0, 19)
	dir := t.TempDir()
	for _, c := range []struct {
		mode    string
		want    int
		journal string
		cache   int
	}{{"build", 2, "truncate", -buildCacheKiB}, {"serve", 1, "wal", -writerCacheKiB}} {
		path := filepath.Join(dir, c.mode+".mbtiles")
		st := openModeStore(t, c.mode, path, s)
		if err := st.Put(ctx, []TileRecord{{Key: TileKey{Level: 1, Row: 0, Col: 0}, Data: []byte("t")}}); err != nil {
			t.Fatal(err)
		}
		var got, cache int
		var journal string
		if err := st.wconn.QueryRowContext(ctx, `SELECT (SELECT synchronous FROM pragma_synchronous), (SELECT journal_mode FROM pragma_journal_mode), (SELECT cache_size FROM pragma_cache_size)`).Scan(&got, &journal, &cache); err != nil {
			t.Fatal(err)
		}
		if got != c.want || journal != c.journal || cache != c.cache {
			t.Errorf("%s store: writer synchronous %d, journal %s, cache %d; want %d, %s, %d", c.mode, got, journal, cache, c.want, c.journal, c.cache)
		}
		if c.mode == "build" {
			// Plan on an empty store drops the writer; a later Put opens another.
			empty := openModeStore(t, "build", filepath.Join(dir, "empty.mbtiles"), s)
			if err := empty.Plan(ctx, 1<<20); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(empty.Path() + "-journal"); !os.IsNotExist(err) {
				t.Errorf("journal beside a store after Plan: %v", err)
			}
			empty.Close()
		}
		st.Close()
		if _, err := os.Stat(path + "-journal"); !os.IsNotExist(err) {
			t.Errorf("%s store: journal file left after Close: %v", c.mode, err)
		}
	}
}

// TestTileIndexRowMajor: a new store's tile_index orders rows before
// columns, the order a download inserts a level in, and the tile lookup
// (all three columns, as GDAL asks too) searches it.
func TestTileIndexRowMajor(t *testing.T) {
	ctx := context.Background()
	st := openModeStore(t, "build", filepath.Join(t.TempDir(), "i.mbtiles"), WebMercatorScheme(256, 0, 19))
	defer st.Close()
	rows, err := st.db.QueryContext(ctx, `SELECT name FROM pragma_index_info('tile_index') ORDER BY seqno`)
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if got := strings.Join(cols, ","); got != "zoom_level,tile_row,tile_column" {
		t.Fatalf("tile_index columns %s, want zoom_level,tile_row,tile_column", got)
	}
	var id, parent, unused int
	var detail string
	if err := st.db.QueryRowContext(ctx, `EXPLAIN QUERY PLAN `+tileSQL, 3, 2, 1).Scan(&id, &parent, &unused, &detail); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(detail, "INDEX tile_index") {
		t.Fatalf("tile lookup plan %q does not search tile_index", detail)
	}
}
