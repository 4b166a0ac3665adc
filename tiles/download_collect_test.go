package tiles

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Bug: every release made a new channel to wake waiting acquires, also
// with nobody waiting: an allocation (and a close) per tile.
func TestLimiterReleaseWithoutWaitersAllocatesNothing(t *testing.T) {
	l := newLimiter(1, 8, time.Millisecond)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		if err := l.acquire(ctx); err != nil {
			t.Fatal(err)
		}
		l.release(time.Millisecond, false, 0)
	})
	if allocs != 0 {
		t.Fatalf("acquire+release allocates %.1f times, want 0", allocs)
	}
}

// A release still wakes an acquire that waits for a slot.
func TestLimiterReleaseWakesWaiter(t *testing.T) {
	l := newLimiter(1, 1, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() { got <- l.acquire(ctx) }()
	var ch chan struct{}
	for ch == nil {
		l.mu.Lock()
		if l.waiters == 1 {
			ch = l.changed
		}
		l.mu.Unlock()
		if ch == nil {
			select {
			case err := <-got:
				t.Fatalf("second acquire returned %v while the only slot was taken", err)
			default:
			}
		}
	}
	l.release(time.Millisecond, false, 0)
	select {
	case <-ch:
	default:
		t.Fatal("release with a waiter did not signal it")
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiters != 0 || l.inflight != 1 {
		t.Fatalf("waiters %d inflight %d, want 0 and 1", l.waiters, l.inflight)
	}
}

// A cancelled acquire gives up its place among the waiters.
func TestLimiterAcquireCancel(t *testing.T) {
	l := newLimiter(1, 1, time.Millisecond)
	if err := l.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.acquire(ctx); err != context.Canceled {
		t.Fatalf("acquire on a cancelled context: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.waiters != 0 {
		t.Fatalf("%d waiters left", l.waiters)
	}
}

func TestChunkLen(t *testing.T) {
	d := &downloader{opt: DownloadOptions{Concurrency: 8}}
	for _, c := range []struct {
		left int64
		want int
	}{{1, 1}, {8, 1}, {32, 1}, {64, 2}, {256, 8}, {512, maxChunk}, {1 << 20, maxChunk}} {
		if got := d.chunkLen(c.left); got != c.want {
			t.Errorf("chunkLen(%d) = %d, want %d", c.left, got, c.want)
		}
	}
}

// gateFetcher answers every tile from memory; requests for keys in gate
// wait until all of them are in flight at once (or the deadline passes).
type gateFetcher struct {
	gate     map[TileKey]bool
	mu       sync.Mutex
	waiting  int
	open     chan struct{}
	deadline time.Time
	calls    atomic.Int64
}

func (g *gateFetcher) FetchTile(ctx context.Context, k TileKey) ([]byte, bool, error) {
	g.calls.Add(1)
	if g.gate[k] {
		g.mu.Lock()
		if g.waiting++; g.waiting == len(g.gate) {
			close(g.open)
		}
		g.mu.Unlock()
		select {
		case <-g.open:
		case <-time.After(time.Until(g.deadline)):
			return nil, false, fmt.Errorf("tile %v: the gated tiles were never in flight together", k)
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	return []byte(k.String()), false, nil
}

// Keys go to the workers in chunks; the last keys of a level must still go
// out one by one, so that they are fetched in parallel and not one after
// the other by the worker holding a chunk.
func TestDownloadLastTilesSpreadOverWorkers(t *testing.T) {
	const conc = 8
	for _, n := range []int64{1 + 4 + 16, 3000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			covers := benchPyramid(n)
			last := covers[len(covers)-1]
			var keys []TileKey
			last.Each(func(row, col int) bool {
				keys = append(keys, TileKey{Level: last.Level, Row: row, Col: col})
				return true
			})
			g := &gateFetcher{gate: map[TileKey]bool{}, open: make(chan struct{}), deadline: time.Now().Add(20 * time.Second)}
			for _, k := range keys[len(keys)-conc:] {
				g.gate[k] = true
			}
			st := openTestStore(t, t.TempDir(), "s.mbtiles", WebMercatorScheme(256, 0, 19))
			defer st.Close()
			p, err := Download(context.Background(), st, g, covers, DownloadOptions{Concurrency: conc, Retries: 1, RetryBackoff: time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if p.Fetched != n {
				t.Fatalf("fetched %d of %d", p.Fetched, n)
			}
		})
	}
}

// countFetcher answers every tile from memory and counts the answers.
type countFetcher struct{ returned atomic.Int64 }

func (c *countFetcher) FetchTile(ctx context.Context, k TileKey) ([]byte, bool, error) {
	c.returned.Add(1)
	return []byte(k.String()), false, nil
}

// Fetched tiles not yet committed never exceed BatchSize plus one in the
// hand of each worker: that is all a crash can lose.
func TestDownloadBoundsUncommittedTiles(t *testing.T) {
	const conc, batch = 4, 32
	f := &countFetcher{}
	st := openTestStore(t, t.TempDir(), "b.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	worst, reports := int64(0), 0
	p, err := Download(context.Background(), st, f, benchPyramid(2000), DownloadOptions{
		Concurrency: conc, BatchSize: batch, BatchInterval: time.Hour,
		Progress: func(p Progress) {
			reports++
			worst = max(worst, f.returned.Load()-p.Fetched)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Fetched != 2000 || reports < 2000/batch {
		t.Fatalf("fetched %d in %d commits", p.Fetched, reports)
	}
	if worst > batch+conc {
		t.Fatalf("%d tiles fetched but not committed at a commit, want at most %d", worst, batch+conc)
	}
}

// Bug: when BatchInterval passed while the collector was empty, the next
// tile did not wake the committer: it waited for another tick, so a slow
// trickle of tiles was committed up to two intervals late.
func TestCollectorDueWakesOnFirstTile(t *testing.T) {
	c := newCollector(8, 1<<20)
	if b, done := c.take(true); b != nil || done {
		t.Fatalf("empty collector: batch %v done %v", b, done)
	}
	c.add(result{rec: TileRecord{Key: TileKey{Level: 1}}})
	select {
	case <-c.kick:
	default:
		t.Fatal("the first tile after a due tick did not wake the committer")
	}
	if b, _ := c.take(true); b == nil || b.len() != 1 {
		t.Fatalf("due take: %v", b)
	}
	// Not due: one tile of eight waits for handAt (2) or the next tick.
	c.committed(&batch{})
	if b, _ := c.take(false); b != nil {
		t.Fatalf("take without due on an empty collector: %v", b)
	}
	c.add(result{rec: TileRecord{Key: TileKey{Level: 2}}})
	select {
	case <-c.kick:
		t.Fatal("one tile woke a committer that is not due")
	default:
	}
}

// sizedFetcher answers every tile with size bytes and counts the answers.
type sizedFetcher struct {
	size     int
	returned atomic.Int64
}

func (f *sizedFetcher) FetchTile(ctx context.Context, k TileKey) ([]byte, bool, error) {
	f.returned.Add(1)
	return make([]byte, f.size), false, nil
}

// Fetched tile bytes not yet committed never exceed BatchBytes plus a tile
// in the hand of each worker, however many tiles BatchSize allows, and a
// batch is committed once it holds a third of BatchBytes.
func TestDownloadBoundsUncommittedBytes(t *testing.T) {
	const conc, tile, batchBytes = 4, 1000, 16000
	f := &sizedFetcher{size: tile}
	st := openTestStore(t, t.TempDir(), "b.mbtiles", WebMercatorScheme(256, 0, 19))
	defer st.Close()
	worst, reports := int64(0), 0
	p, err := Download(context.Background(), st, f, benchPyramid(2000), DownloadOptions{
		Concurrency: conc, BatchSize: 1024, BatchBytes: batchBytes, BatchInterval: time.Hour,
		Progress: func(p Progress) {
			reports++
			worst = max(worst, (f.returned.Load()-p.Fetched)*tile)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Fetched != 2000 || reports < 2000*tile/batchBytes {
		t.Fatalf("fetched %d in %d commits, want at least %d commits", p.Fetched, reports, 2000*tile/batchBytes)
	}
	if worst > batchBytes+conc*tile {
		t.Fatalf("%d bytes fetched but not committed at a commit, want at most %d", worst, batchBytes+conc*tile)
	}
}

// A tile larger than the byte bound goes into an empty collector (it does
// not wait for room that never comes) and is ready to commit at once; the
// next tile waits until that commit is done.
func TestCollectorOversizedTile(t *testing.T) {
	c := newCollector(8, 100)
	c.add(result{rec: TileRecord{Key: TileKey{Level: 1}, Data: make([]byte, 500)}})
	select {
	case <-c.kick:
	default:
		t.Fatal("an oversized tile did not wake the committer")
	}
	b, _ := c.take(false)
	if b == nil || b.len() != 1 || b.bytes != 500 {
		t.Fatalf("take: %+v", b)
	}
	added := make(chan struct{})
	go func() {
		c.add(result{rec: TileRecord{Key: TileKey{Level: 2}, Data: make([]byte, 10)}})
		close(added)
	}()
	// The second add waits on the collector's condition while 500 bytes
	// are in commit; committed lets it through.
	c.committed(b)
	<-added
	if b, _ := c.take(true); b == nil || b.len() != 1 || b.bytes != 10 {
		t.Fatalf("take after commit: %+v", b)
	}
}
