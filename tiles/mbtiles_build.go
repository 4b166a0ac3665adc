package tiles

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"
)

// OpenStoreForBuild opens or creates an MBTiles file that a job is building.
// A new file, or one closed by Store.Close, keeps SQLite's rollback journal
// instead of switching to WAL: a tile appended to the file is written once,
// where WAL writes every page twice (the log, then the checkpoint): about
// 40% less CPU per tile on the download write path (BenchmarkStorePut).
// Commits stay atomic and durable, so a killed download resumes as with
// OpenStore. A file already in WAL (open
// elsewhere, or left by a crash in WAL) stays in WAL, so opening never
// contends for the journal switch. In rollback mode a reader blocks a commit
// (busy_timeout waits), which is why stores served while written use OpenStore.
func OpenStoreForBuild(ctx context.Context, path string) (*Store, error) {
	return openStore(ctx, path, "")
}

// Page sizes of new stores. SQLite writes a page per system call and keeps
// a cache entry per page, so a tile of ~13 KB costs four page writes with
// 4 KiB pages and a quarter of one with 64 KiB pages: about 25% less CPU
// per tile for a download (bench/tiles-download-results.txt). Big pages
// cost room in a small store (every table and index takes a page of its
// own), so only stores planned for bigStoreTiles tiles or more get them.
// A table row is stored whole in its leaf while it fits (up to a page
// less 35 bytes), so tiles between half a page and a page take a page
// each: 30-50 KB tiles in 64 KiB pages made a file 1.6 times their bytes
// (1.1 with 32 KiB pages, where they spill into one overflow page and
// share the leaves with a small remainder). A big store whose first
// tiles are that size gets midStorePage pages (about 15% more CPU per
// tile than 64 KiB; 16 KiB pages would save a few percent more room for
// 40-60% more CPU).
const (
	smallStorePage = 4096
	midStorePage   = 32768
	bigStorePage   = 65536
	bigStoreTiles  = 4096
	// midPageGain is how much less room (by StoreSize's model) 32 KiB
	// pages must take than 64 KiB ones for a big store to get them.
	midPageGain = 0.10
)

// storePageSize is the page size of a new store planned for tiles tiles
// of mean bytes each (0: not known yet): the rule Store.Plan and the first
// Put apply and StoreSize models.
func storePageSize(tiles int64, mean float64) int {
	switch {
	case tiles < bigStoreTiles:
		return smallStorePage
	case mean > 0 && blobCost(mean, midStorePage) < (1-midPageGain)*blobCost(mean, bigStorePage):
		return midStorePage
	}
	return bigStorePage
}

// Plan tells a store being built how many tiles the job will put in it.
// A store that holds no tile and no absent record yet, in the rollback
// journal (OpenStoreForBuild), is rebuilt with the page size for that many
// tiles (storePageSize; VACUUM of the empty schema, a few pages). A store
// planned big looks at the size of the tiles in the first Put: if big
// pages would waste room on tiles of that size it is rebuilt once more,
// with 32 KiB pages. A store holding anything keeps its page size,
// so a resumed download never changes it, and so does a store in WAL
// (SQLite cannot change a WAL file's page size).
func (s *Store) Plan(ctx context.Context, tiles int64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.planned = tiles
	if err := s.setPageSize(ctx, storePageSize(tiles, 0)); err != nil {
		return fmt.Errorf("mbtiles %s: plan %d tiles: %w", s.path, tiles, err)
	}
	return nil
}

// sizePages applies the page-size rule to the mean size of recs' tiles,
// once: on the first Put into a store planned big (a first batch of
// absent records only keeps the plan's pages). s.wmu must be held.
func (s *Store) sizePages(ctx context.Context, recs []TileRecord) error {
	planned := s.planned
	s.planned = 0
	if planned < bigStoreTiles {
		return nil
	}
	var n, bytes int
	for i := range recs {
		if !recs[i].Absent {
			n++
			bytes += len(recs[i].Data)
		}
	}
	if n == 0 {
		return nil
	}
	if err := s.setPageSize(ctx, storePageSize(planned, float64(bytes)/float64(n))); err != nil {
		return fmt.Errorf("mbtiles %s: page size for tiles of %d B: %w", s.path, bytes/n, err)
	}
	return nil
}

// setPageSize rebuilds an empty store in the rollback journal with pages
// of want bytes; a store holding tiles or absent records, or in WAL, is
// left as it is. s.wmu must be held.
func (s *Store) setPageSize(ctx context.Context, want int) error {
	conn, err := s.writer(ctx)
	if err != nil {
		return err
	}
	var page, used int64
	var journal string
	if err := conn.QueryRowContext(ctx, `SELECT (SELECT page_size FROM pragma_page_size), (SELECT journal_mode FROM pragma_journal_mode),
		EXISTS (SELECT 1 FROM tiles) OR EXISTS (SELECT 1 FROM offlined_tile_state)`).Scan(&page, &journal, &used); err != nil {
		return err
	}
	// The writer's journal is TRUNCATE, not WAL, in a store being built.
	if page == int64(want) || used != 0 || strings.EqualFold(journal, "wal") {
		return nil
	}
	for _, q := range []string{fmt.Sprintf(`PRAGMA page_size = %d`, want), `VACUUM`} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	// Connections that were open before keep a page cache sized for the
	// old pages (the writer's then held 16 times its memory, every new
	// page a fresh allocation: 6x the CPU per tile). Close them all; the
	// next use opens new ones.
	_, _ = conn.ExecContext(ctx, `PRAGMA journal_mode = DELETE`) // removes the empty journal
	s.put.close()
	_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // discards it
	conn.Close()
	s.wconn = nil
	s.db.SetMaxIdleConns(0)
	s.db.SetMaxIdleConns(readerConns)
	return nil
}

// coverCount is the number of tiles in covers: what a store is planned for.
func coverCount(covers []LevelCover) int64 {
	var n int64
	for _, c := range covers {
		n += c.Count()
	}
	return n
}
