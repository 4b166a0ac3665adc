package tiles

import "sync"

// collector gathers fetched tiles into the batch the committer takes next.
// Workers add under a mutex rather than sending every tile over a channel
// to a writer goroutine, so the committer wakes once per batch instead of
// once per tile. The batch being filled and the one being committed never
// hold more than size tiles, nor (but for one tile) more than maxBytes
// bytes of tiles, together: a crash loses at most that much fetched work
// (plus the requests in flight).
type collector struct {
	mu            sync.Mutex
	room          sync.Cond // broadcast when a commit frees room
	cur           *batch    // being filled
	spare         *batch    // empty; nil while its twin is being committed
	inCommit      int       // tiles in the batch being committed; 0: committer idle
	inCommitBytes int64     // bytes of those tiles
	size          int
	maxBytes      int64
	handAt        int   // cur goes to an idle committer at this many tiles
	handBytes     int64 // or at this many bytes
	due           bool  // the committer found cur empty when it was due: its first tile wakes it
	closed        bool
	kick          chan struct{} // capacity 1: wakes the committer
}

func newCollector(size int, maxBytes int64) *collector {
	c := &collector{
		cur:       &batch{recs: make([]TileRecord, 0, size)},
		spare:     &batch{recs: make([]TileRecord, 0, size)},
		size:      size,
		maxBytes:  maxBytes,
		handAt:    max(1, size/handShare),
		handBytes: max(1, maxBytes/handShare),
		kick:      make(chan struct{}, 1),
	}
	c.room.L = &c.mu
	return c
}

// full reports whether the tiles waiting leave no room for one more of n
// bytes. A tile larger than maxBytes still goes into an empty collector.
func (c *collector) full(n int64) bool {
	held := c.cur.len() + c.inCommit
	return held >= c.size || held > 0 && c.cur.bytes+c.inCommitBytes+n > c.maxBytes
}

// ready reports whether cur is big enough to hand to the committer.
func (c *collector) ready() bool {
	return c.cur.len() >= c.handAt || c.cur.bytes >= c.handBytes
}

// add puts r into the batch being filled, waiting while the full size is
// taken (the committer always frees it, also after a cancel).
func (c *collector) add(r result) {
	n := int64(len(r.rec.Data))
	c.mu.Lock()
	for c.full(n) {
		c.room.Wait()
	}
	wasReady := c.ready()
	if r.err != nil {
		c.cur.failed = append(c.cur.failed, r)
	} else {
		c.cur.recs = append(c.cur.recs, r.rec)
		c.cur.bytes += n
	}
	wake := c.inCommit == 0 && (!wasReady && c.ready() || c.due && c.cur.len() == 1)
	c.mu.Unlock()
	if wake {
		c.wake()
	}
}

func (c *collector) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// close tells the committer that nothing more will be added.
func (c *collector) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wake()
}

// take returns the batch to commit now, or nil when it is not due yet (it
// holds fewer than handAt tiles and handBytes bytes, and due is false);
// done reports that every tile was taken and nothing more will come.
func (c *collector) take(due bool) (b *batch, done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.cur.len()
	c.due = due && n == 0
	if n == 0 {
		return nil, c.closed
	}
	if !c.ready() && !due && !c.closed {
		return nil, false
	}
	b = c.cur
	c.cur, c.spare = c.spare, nil
	c.inCommit, c.inCommitBytes = n, b.bytes
	return b, false
}

// committed hands b back after its commit and lets waiting adders go on.
func (c *collector) committed(b *batch) {
	clear(b.recs) // drop the tile bytes
	b.recs, b.failed, b.bytes = b.recs[:0], b.failed[:0], 0
	c.mu.Lock()
	c.spare, c.inCommit, c.inCommitBytes = b, 0, 0
	c.mu.Unlock()
	c.room.Broadcast()
}
