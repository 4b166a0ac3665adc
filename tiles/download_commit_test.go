package tiles

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"testing"
	"time"
)

// changeCounter reads the file change counter of the SQLite database at
// path (header bytes 24-27): in the rollback journal it counts the write
// transactions committed to the file.
func changeCounter(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [28]byte
	if _, err := io.ReadFull(f, h[:]); err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(h[24:])
}

// Bug: every level a download completed cost a transaction of its own
// (MarkLevelComplete after the batch's commit), with the journal and file
// syncs of a commit: 8 of a benchmark download's ~100 commits. A level
// completed by a batch is now marked in that batch's transaction.
func TestDownloadMarksLevelsInTheBatchCommit(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 12) // five levels, well under one batch
	f := newFakeTiles(t)
	f.setAbsent(absentEvery7)
	path := t.TempDir() + "/m.mbtiles"
	st := openModeStore(t, "build", path, s)
	defer st.Close()
	before := changeCounter(t, path)
	// One batch: too small to be handed before the workers finish, and
	// BatchInterval never passes.
	p, err := Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{
		Concurrency: 4, BatchSize: 4096, BatchInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Fetched == 0 || p.Fetched+p.Absent != p.Planned {
		t.Fatalf("progress %+v", p.LevelProgress)
	}
	if got := changeCounter(t, path) - before; got != 1 {
		t.Fatalf("download of %d levels in one batch committed %d transactions, want 1 (tiles and level marks together)", len(covers), got)
	}
	for _, c := range covers {
		done, err := st.LevelComplete(context.Background(), c.Level)
		if err != nil || !done {
			t.Fatalf("level %d complete = %v, %v", c.Level, done, err)
		}
	}
	// Complete levels are skipped by the next run.
	n := f.requests.Load()
	p2, err := Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{Concurrency: 4})
	if err != nil || f.requests.Load() != n || p2.Skipped != p.Planned {
		t.Fatalf("second run: %v, %d requests, skipped %d of %d", err, f.requests.Load()-n, p2.Skipped, p.Planned)
	}
}

// A level with a failed tile is not marked complete, also when the batch
// that settles its last tile commits the level's other tiles.
func TestDownloadFailedTileKeepsLevelOpen(t *testing.T) {
	s := WebMercatorScheme(256, 0, 19)
	covers := testCovers(t, s, demoAOI, 8, 10)
	f := newFakeTiles(t)
	bad := covers[len(covers)-1]
	f.setHook(func(_ int64, z, row, col int) int {
		if z == bad.Level && row == bad.Spans[0].Row && col == bad.Spans[0].Col0 {
			return 400 // not retryable: fails at once
		}
		return 0
	})
	path := t.TempDir() + "/f.mbtiles"
	st := openModeStore(t, "build", path, s)
	defer st.Close()
	p, err := Download(context.Background(), st, f.fetcher(t, 4), covers, DownloadOptions{
		Concurrency: 4, BatchSize: 4096, BatchInterval: time.Hour,
	})
	if err == nil || p.Failed != 1 {
		t.Fatalf("want one failed tile, got %v, progress %+v", err, p.LevelProgress)
	}
	for _, c := range covers {
		done, err := st.LevelComplete(context.Background(), c.Level)
		if err != nil || done != (c.Level != bad.Level) {
			t.Fatalf("level %d complete = %v, %v (failed tile on level %d)", c.Level, done, err, bad.Level)
		}
	}
}

// Bug: the build writer's page cache (4 MiB) was smaller than the batch a
// download commits (tiles handed at a third of defaultBatchBytes): the
// transaction spilled pages into the file before its commit, and every
// spill synced the journal twice more (6.5 syncs per commit instead of 5).
// A download-sized batch must stay in the cache until COMMIT: the file
// does not grow while the transaction is open.
func TestBuildWriterHoldsADownloadBatch(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/c.mbtiles"
	st := openModeStore(t, "build", path, WebMercatorScheme(256, 0, 30))
	defer st.Close()
	if err := st.Plan(ctx, 1<<20); err != nil { // a big download: 64 KiB pages
		t.Fatal(err)
	}
	data := benchTiles(64)
	var recs []TileRecord
	var bytes int64
	for i := 0; bytes < defaultBatchBytes/handShare+int64(len(data[0])); i++ {
		recs = append(recs, TileRecord{Key: TileKey{Level: 15, Row: i / 1000, Col: i % 1000}, Data: data[i%len(data)]})
		bytes += int64(len(data[i%len(data)]))
	}
	// A first batch sets the page size (Store.Plan, sizePages), as a
	// download's first commit does.
	if err := st.Put(ctx, recs[:8]); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	st.wmu.Lock()
	defer st.wmu.Unlock()
	conn, err := st.writer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if err := st.putRecords(ctx, conn, recs[8:]); err != nil {
		t.Fatal(err)
	}
	during := size()
	if _, err := conn.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	after := size()
	if during != before || after <= before {
		t.Fatalf("a batch of %d tiles (%d bytes) spilled before COMMIT: file %d bytes before, %d while open, %d after", len(recs)-8, bytes, before, during, after)
	}
}

// Bug: with the default bounds a download's batch was committed at half of
// them, so while it committed (mostly waiting for its syncs) the workers
// had room for one more batch only and then waited: side by side, room for
// two batches fetched 8-11% more tiles/s. While a default batch of ~13 KB
// tiles commits, the collector takes twice as much again (twice the bytes
// a batch is committed at, less a tile each).
func TestCollectorRoomWhileCommitting(t *testing.T) {
	c := newCollector(defaultBatchSize, defaultBatchBytes)
	tile := make([]byte, 13<<10)
	add := func() {
		t.Helper()
		if c.full(int64(len(tile))) {
			t.Fatalf("collector full at %d tiles (%d bytes) waiting and %d (%d bytes) in commit", c.cur.len(), c.cur.bytes, c.inCommit, c.inCommitBytes)
		}
		c.add(result{rec: TileRecord{Data: tile}})
	}
	for !c.ready() {
		add()
	}
	b, _ := c.take(false)
	if b == nil || b.bytes < defaultBatchBytes/handShare {
		t.Fatalf("take: %v", b)
	}
	for c.cur.bytes < 2*(defaultBatchBytes/handShare-int64(len(tile))) {
		add()
	}
}
