package tiles

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// DownloadOptions tunes Download. Zero values pick the defaults shown.
type DownloadOptions struct {
	// Concurrency is the most requests in flight (default 8). The downloader
	// lowers it on 429/503 and rising latency and raises it back on success.
	Concurrency int
	// MinConcurrency is the floor of the adaptive limit (default 1).
	MinConcurrency int
	// Retries is how often a failing tile is retried (default 5), with
	// exponential backoff and jitter from RetryBackoff (default 200ms).
	Retries      int
	RetryBackoff time.Duration
	// BatchSize, BatchBytes and BatchInterval bound the fetched tiles
	// waiting for a commit (defaults 1536 tiles, 12 MiB of tile bytes,
	// 250ms); at most this much work is redone after a crash. A batch is
	// committed once it holds a third of BatchSize or of BatchBytes, or once
	// BatchInterval has passed; the rest is room for the tiles fetched
	// while it commits.
	BatchSize     int
	BatchBytes    int64
	BatchInterval time.Duration
	// Tilemap, when set, is asked which tiles exist so absent ones are not requested.
	Tilemap Tilemapper
	// Progress is called after every commit with a snapshot (from one goroutine).
	Progress func(Progress)
	Logger   *slog.Logger
}

// LevelProgress counts one level's tiles.
type LevelProgress struct {
	Planned int64 // tiles in the cover
	Skipped int64 // already stored or known absent before this run
	Fetched int64 // fetched and committed in this run
	Absent  int64 // found absent in this run (404/204/tilemap)
	Failed  int64 // gave up after retries in this run
	Bytes   int64 // bytes committed in this run
}

// Progress is a snapshot of a download.
type Progress struct {
	LevelProgress
	Levels      map[int]LevelProgress
	Concurrency int
}

// FatalError stops a whole download: the source refuses access (401/403/498/499).
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return "tile download stopped: " + e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// TileError is a tile that still failed after all retries.
type TileError struct {
	Key TileKey
	Err error
}

func (e *TileError) Error() string { return fmt.Sprintf("tile %s: %v", e.Key, e.Err) }
func (e *TileError) Unwrap() error { return e.Err }

// Download fetches every tile of covers that the store does not already hold
// (or know to be absent) and commits them in batches. It resumes: a second
// call after a cancel or a crash fetches only what is missing. Levels whose
// every tile was settled are marked complete and skipped by later runs. It
// returns the final progress; err is ctx.Err() on cancel, a *FatalError when
// the source refuses access, or an error naming the failed tiles.
func Download(ctx context.Context, st *Store, f TileFetcher, covers []LevelCover, opt DownloadOptions) (Progress, error) {
	d := newDownloader(st, f, opt)
	return d.run(ctx, covers)
}

type downloader struct {
	st  *Store
	f   TileFetcher
	opt DownloadOptions
	lim *limiter
	log *slog.Logger

	mu       sync.Mutex
	prog     Progress
	emitted  map[int]int64 // tiles handed to workers per level
	produced map[int]bool  // producer finished the level
	settled  map[int]int64 // committed (fetched, absent) or failed per level
	failed   map[int]bool
	done     map[int]bool
	errs     []error
}

func newDownloader(st *Store, f TileFetcher, opt DownloadOptions) *downloader {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 8
	}
	if opt.Retries <= 0 {
		opt.Retries = 5
	}
	if opt.RetryBackoff <= 0 {
		opt.RetryBackoff = 200 * time.Millisecond
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = defaultBatchSize
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = defaultBatchBytes
	}
	if opt.BatchInterval <= 0 {
		opt.BatchInterval = 250 * time.Millisecond
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &downloader{st: st, f: f, opt: opt, lim: newLimiter(opt.MinConcurrency, opt.Concurrency, opt.RetryBackoff), log: log,
		prog:    Progress{Levels: map[int]LevelProgress{}},
		emitted: map[int]int64{}, produced: map[int]bool{}, settled: map[int]int64{}, failed: map[int]bool{}, done: map[int]bool{}}
}

// Default batch bounds. Every commit costs about the same whatever its
// size (syncs of the journal and the file, rewritten index pages): per
// tile of ~13 KB, BenchmarkStorePut took 15.8 us CPU with commits of 128
// tiles (the old default's), 13.2 with 256, 12.1 with 512. With these
// bounds a download of ~13 KB tiles commits ~4 MiB (~315 tiles) at a time
// (a third of the bytes, handShare): 4-7 us less CPU per tile than
// commits of 128 tiles end to end (BenchmarkDownloadTiles, tilebench).
// Bigger commits measured no better (16 MiB no better than 8, 32 and 128
// MiB worse). The other two thirds are room for the workers while a batch
// commits: a commit mostly waits for its syncs, and with room for one
// batch only (bounds of 1024 tiles and 8 MiB, commits at half) the
// workers waited for it: tilebench run side by side with that, under
// load, fetched 8-11% more tiles/s (10 of 10 pairs faster) for 1-2% more
// CPU per tile and ~11 MB more peak RSS. Bytes bound the memory the
// batches hold (1536 tiles of 50 KB would hold 75 MB).
const (
	defaultBatchSize  = 1536
	defaultBatchBytes = 12 << 20
	// handShare: a batch is committed at 1/handShare of either bound.
	handShare = 3
)

type result struct {
	rec TileRecord
	err error
}

func (d *downloader) run(ctx context.Context, covers []LevelCover) (Progress, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// Requests already sent finish after a cancel (for up to cancelGrace) so
	// their tiles are committed rather than fetched again by the next run.
	fctx, fcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer fcancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(cancelGrace, fcancel) })
	defer stopGrace()

	// Keys go to the workers in chunks (see chunkLen), and fetched tiles
	// into the collector, so neither the producer nor the committer wakes
	// once per tile.
	jobs := make(chan []TileKey, d.opt.Concurrency*2)
	coll := newCollector(d.opt.BatchSize, d.opt.BatchBytes)
	var wg sync.WaitGroup
	for i := 0; i < d.opt.Concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.worker(ctx, fctx, cancel, jobs, coll)
		}()
	}
	prodErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		prodErr <- d.produce(ctx, covers, jobs, coll)
	}()
	go func() {
		wg.Wait() // the producer closed jobs: it adds nothing more either
		coll.close()
	}()
	werr := d.write(ctx, coll)
	perr := <-prodErr

	d.mu.Lock()
	p := d.snapshot()
	errs := d.errs
	d.mu.Unlock()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return p, cause
	}
	if werr != nil {
		return p, werr
	}
	if err := ctx.Err(); err != nil {
		return p, err
	}
	if perr != nil {
		return p, perr
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("tile download: %d tiles failed after retries (first: %w)", p.Failed, errs[0])
	}
	return p, nil
}

// produce emits the keys still missing, level by level, in chunks of
// chunkLen keys, consulting the tilemap.
func (d *downloader) produce(ctx context.Context, covers []LevelCover, jobs chan<- []TileKey, coll *collector) error {
	for _, c := range covers {
		planned := c.Count()
		complete, err := d.st.LevelComplete(ctx, c.Level)
		if err != nil {
			return fmt.Errorf("level %d: %w", c.Level, err)
		}
		d.mu.Lock()
		lp := d.prog.Levels[c.Level]
		lp.Planned += planned
		d.prog.Levels[c.Level] = lp
		d.mu.Unlock()
		if complete {
			d.addSkipped(c.Level, planned)
			d.finishLevel(c.Level, 0)
			continue
		}
		known, err := d.st.Known(ctx, c.Level)
		if err != nil {
			return fmt.Errorf("level %d: %w", c.Level, err)
		}
		tm := map[[2]int][]bool{}
		var emitted, skipped, seen int64
		var stop error
		var chunk []TileKey
		send := func() bool {
			if len(chunk) == 0 {
				return true
			}
			select {
			case jobs <- chunk:
				chunk = nil
				return true
			case <-ctx.Done():
				stop = ctx.Err()
				return false
			}
		}
		c.Each(func(row, col int) bool {
			seen++
			if _, ok := known[packRC(row, col)]; ok {
				skipped++
				return true
			}
			k := TileKey{Level: c.Level, Row: row, Col: col}
			if d.opt.Tilemap != nil && !d.present(ctx, tm, k) {
				// Absent per tilemap: record without a request.
				if err := ctx.Err(); err != nil {
					stop = err
					return false
				}
				emitted++
				coll.add(result{rec: TileRecord{Key: k, Absent: true}})
				return true
			}
			if chunk == nil {
				chunk = make([]TileKey, 0, d.chunkLen(planned-seen+1))
			}
			chunk = append(chunk, k)
			emitted++
			if len(chunk) == cap(chunk) {
				return send()
			}
			return true
		})
		if stop == nil {
			send()
		}
		d.addSkipped(c.Level, skipped)
		if stop != nil {
			return stop
		}
		d.finishLevel(c.Level, emitted)
	}
	return nil
}

// maxChunk bounds the keys a worker takes at once.
const maxChunk = 16

// chunkLen is the size of the next chunk of keys when left keys remain in
// the level: up to maxChunk while there are plenty, down to one key each
// towards the end, so the last tiles still spread over every worker.
func (d *downloader) chunkLen(left int64) int {
	return int(min(maxChunk, max(1, left/int64(d.opt.Concurrency*4))))
}

const tilemapBlock = 128

// maxThrottleRetries bounds the 429/503 answers one tile may get before they
// count as failures.
const maxThrottleRetries = 50

// cancelGrace bounds how long requests in flight may finish after a cancel.
const cancelGrace = 5 * time.Second

func (d *downloader) present(ctx context.Context, cache map[[2]int][]bool, k TileKey) bool {
	br, bc := k.Row/tilemapBlock*tilemapBlock, k.Col/tilemapBlock*tilemapBlock
	key := [2]int{br, bc}
	m, ok := cache[key]
	if !ok {
		var err error
		m, err = d.opt.Tilemap.Tilemap(ctx, k.Level, br, bc, tilemapBlock, tilemapBlock)
		if err != nil {
			d.log.Warn("tilemap unavailable; fetching every tile", "level", k.Level, "row", br, "col", bc, "err", err)
			m = nil
		}
		cache[key] = m
	}
	if m == nil {
		return true
	}
	return m[(k.Row-br)*tilemapBlock+(k.Col-bc)]
}

func (d *downloader) addSkipped(level int, n int64) {
	d.mu.Lock()
	lp := d.prog.Levels[level]
	lp.Skipped += n
	d.prog.Levels[level] = lp
	d.mu.Unlock()
}

func (d *downloader) finishLevel(level int, emitted int64) {
	d.mu.Lock()
	d.emitted[level] += emitted
	d.produced[level] = true
	d.mu.Unlock()
}

func (d *downloader) worker(ctx, fctx context.Context, cancel context.CancelCauseFunc, jobs <-chan []TileKey, coll *collector) {
	for ks := range jobs {
		for _, k := range ks {
			rec, err := d.fetch(ctx, fctx, k)
			if err != nil && ctx.Err() != nil {
				return // cancelled: the tile stays missing and is fetched by the next run
			}
			var fe *FatalError
			if errors.As(err, &fe) {
				cancel(fe)
				return
			}
			// Handed over even when cancelled meanwhile, so it is committed.
			coll.add(result{rec: rec, err: err})
		}
	}
}

func (d *downloader) fetch(ctx, fctx context.Context, k TileKey) (TileRecord, error) {
	var last error
	throttles := 0
	for attempt := 0; attempt <= d.opt.Retries; attempt++ {
		if err := d.lim.acquire(ctx); err != nil {
			return TileRecord{}, err
		}
		start := time.Now()
		data, absent, err := d.f.FetchTile(fctx, k)
		lat := time.Since(start)
		var se *StatusError
		isStatus := errors.As(err, &se)
		throttled := isStatus && se.Throttled()
		var ra time.Duration
		if throttled {
			ra = se.RetryAfter
		}
		if err == nil {
			d.lim.release(lat, false, 0)
			return TileRecord{Key: k, Data: data, Absent: absent}, nil
		}
		d.lim.release(0, throttled, ra)
		if ctx.Err() != nil || fctx.Err() != nil {
			return TileRecord{}, ctx.Err()
		}
		last = err
		if isStatus {
			switch se.Code {
			case 401, 403, 498, 499:
				return TileRecord{}, &FatalError{Err: err}
			}
			if !se.Retryable() {
				return TileRecord{Key: k}, &TileError{Key: k, Err: err}
			}
		}
		if throttled && throttles < maxThrottleRetries {
			// Throttling is the server pacing us, not the tile failing: the
			// limiter already paused; try again without spending a retry.
			throttles++
			attempt--
			continue
		}
		if attempt == d.opt.Retries {
			break
		}
		wait := d.opt.RetryBackoff << attempt
		wait = wait/2 + time.Duration(rand.Int64N(int64(wait)))
		if ra > wait {
			wait = ra
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return TileRecord{}, ctx.Err()
		case <-t.C:
		}
	}
	return TileRecord{Key: k}, &TileError{Key: k, Err: last}
}

// batch is fetched work waiting for one commit: tiles to store and tiles
// that failed (counted, not stored).
type batch struct {
	recs   []TileRecord
	failed []result
	bytes  int64 // of recs' tiles
}

func (b *batch) len() int { return len(b.recs) + len(b.failed) }

// write commits the collector's batches until every worker is done: a
// batch once it holds a third of BatchSize or BatchBytes, or once
// BatchInterval has passed, while the workers go on filling the next one
// (with one goroutine both taking and committing tiles, every commit
// stalled all the workers).
func (d *downloader) write(ctx context.Context, coll *collector) error {
	var werr error
	tick := time.NewTicker(d.opt.BatchInterval)
	defer tick.Stop()
	due := false // BatchInterval passed since the last commit
	for {
		b, done := coll.take(due)
		if done {
			d.markComplete(ctx)
			return werr
		}
		if b == nil {
			select {
			case <-coll.kick:
			case <-tick.C:
				due = true
			}
			continue
		}
		due = false
		if err := d.commit(ctx, b, werr == nil); err != nil && werr == nil {
			werr = err
		}
		coll.committed(b)
	}
}

// commit stores b (when store is true: no earlier commit failed), then
// counts its tiles in the progress, marks finished levels complete and
// reports the progress. It runs on the committer goroutine only.
func (d *downloader) commit(ctx context.Context, b *batch, store bool) error {
	var err error
	var marks []levelMark
	if store && len(b.recs) > 0 {
		marks = d.completing(b)
		// Commit even when ctx is cancelled: these tiles were paid for.
		err = d.st.putMarked(context.WithoutCancel(ctx), b.recs, marks)
	}
	d.mu.Lock()
	if store && err == nil {
		for _, m := range marks {
			d.done[m.level] = true
		}
		for _, r := range b.recs {
			lv := r.Key.Level
			lp := d.prog.Levels[lv]
			if r.Absent {
				lp.Absent++
			} else {
				lp.Fetched++
				lp.Bytes += int64(len(r.Data))
			}
			d.prog.Levels[lv] = lp
			d.settled[lv]++
		}
	}
	for _, f := range b.failed {
		lv := f.rec.Key.Level
		lp := d.prog.Levels[lv]
		lp.Failed++
		d.prog.Levels[lv] = lp
		d.settled[lv]++
		d.failed[lv] = true
		if len(d.errs) < 10 {
			d.errs = append(d.errs, f.err)
		}
	}
	d.mu.Unlock()
	if store && err == nil {
		if rc, ok := d.f.(TileRecycler); ok {
			// SQLite copied the bytes; nothing else holds them.
			for i := range b.recs {
				if b.recs[i].Data != nil {
					rc.RecycleTile(b.recs[i].Data)
					b.recs[i].Data = nil
				}
			}
		}
		d.markComplete(ctx)
	}
	if d.opt.Progress != nil {
		d.mu.Lock()
		p := d.snapshot()
		d.mu.Unlock()
		d.opt.Progress(p)
	}
	return err
}

// completing returns the levels b settles the last tiles of, none of them
// failed: their MarkLevelComplete record goes into b's transaction (a
// separate commit per level cost a journal and file sync each). A level
// whose producer is still emitting is left to markComplete.
func (d *downloader) completing(b *batch) []levelMark {
	n := map[int]int64{} // b's tiles per level
	for i := range b.recs {
		n[b.recs[i].Key.Level]++
	}
	for _, f := range b.failed {
		delete(n, f.rec.Key.Level) // the level will not be complete
	}
	var marks []levelMark
	d.mu.Lock()
	defer d.mu.Unlock()
	for lv, c := range n {
		if d.completes(lv, c) {
			marks = append(marks, levelMark{level: lv, planned: d.prog.Levels[lv].Planned})
		}
	}
	sort.Slice(marks, func(i, j int) bool { return marks[i].level < marks[j].level })
	return marks
}

// completes reports whether level lv is complete, not yet marked and
// without failures once n more of its tiles settle: the producer emitted
// all its tiles and every one is settled (d.mu held).
func (d *downloader) completes(lv int, n int64) bool {
	return d.produced[lv] && !d.done[lv] && !d.failed[lv] && d.settled[lv]+n == d.emitted[lv]
}

// markComplete records levels whose tiles are all settled without failures.
func (d *downloader) markComplete(ctx context.Context) {
	d.mu.Lock()
	var ready []int
	for lv := range d.produced {
		if d.completes(lv, 0) {
			ready = append(ready, lv)
			d.done[lv] = true
		}
	}
	d.mu.Unlock()
	sort.Ints(ready)
	for _, lv := range ready {
		d.mu.Lock()
		planned := d.prog.Levels[lv].Planned
		d.mu.Unlock()
		if err := d.st.MarkLevelComplete(context.WithoutCancel(ctx), lv, planned); err != nil {
			d.log.Warn("mark level complete", "level", lv, "err", err)
		}
	}
}

// snapshot copies the progress; d.mu must be held.
func (d *downloader) snapshot() Progress {
	p := Progress{Levels: make(map[int]LevelProgress, len(d.prog.Levels)), Concurrency: d.lim.current()}
	for lv, lp := range d.prog.Levels {
		p.Levels[lv] = lp
		p.Planned += lp.Planned
		p.Skipped += lp.Skipped
		p.Fetched += lp.Fetched
		p.Absent += lp.Absent
		p.Failed += lp.Failed
		p.Bytes += lp.Bytes
	}
	return p
}
