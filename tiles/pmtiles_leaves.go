package tiles

import (
	"container/list"
	"sync"
	"unsafe"

	"github.com/offlined/offlined/internal/pmtiles"
)

// leafCacheBytes bounds the decoded leaf directories one opened PMTiles
// archive keeps (24 bytes an entry). A download walks each zoom row by
// row; with go-pmtiles' leaves of 4,096 entries a row W tiles wide
// touches about W/40 leaves (measured at z14), which the next rows use
// again. 4 MiB holds 43 such leaves, so each is read once for areas up to
// ~1,500 tiles wide (900 km at z16), far above an offline area, while a
// walk through a whole large archive (a client paging through the
// planet) no longer grows the daemon, which must stay under 30 MB idle on
// a tablet. Wider rows only read some leaves again.
const leafCacheBytes = 4 << 20

// leafEntryBytes is the decoded size of one directory entry.
const leafEntryBytes = int(unsafe.Sizeof(pmtiles.Entry{}))

// leafOverhead approximates the bookkeeping of one cached leaf (list
// element, map entry, slice header).
const leafOverhead = 128

// leafCache is a least-recently-used cache of decoded leaf directories by
// their offset in the archive, bounded by max bytes. The most recent leaf
// is kept even when it alone is larger than max, so the tiles of one huge
// leaf do not each read it again. Safe for concurrent use.
type leafCache struct {
	mu    sync.Mutex
	max   int
	bytes int
	order *list.List // of *cachedLeaf, most recently used first
	byOff map[uint64]*list.Element
}

type cachedLeaf struct {
	off     uint64
	entries []pmtiles.Entry
	size    int
}

func newLeafCache(max int) *leafCache {
	return &leafCache{max: max, order: list.New(), byOff: map[uint64]*list.Element{}}
}

// get returns the leaf at off and marks it most recently used.
func (c *leafCache) get(off uint64) ([]pmtiles.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byOff[off]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cachedLeaf).entries, true
}

// put adds the leaf at off and evicts the least recently used leaves
// beyond the bound.
func (c *leafCache) put(off uint64, entries []pmtiles.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byOff[off]; ok { // read twice concurrently
		c.order.MoveToFront(el)
		return
	}
	l := &cachedLeaf{off: off, entries: entries, size: cap(entries)*leafEntryBytes + leafOverhead}
	c.byOff[off] = c.order.PushFront(l)
	c.bytes += l.size
	for c.bytes > c.max && c.order.Len() > 1 {
		old := c.order.Remove(c.order.Back()).(*cachedLeaf)
		delete(c.byOff, old.off)
		c.bytes -= old.size
	}
}

// stats returns the number of leaves and their bytes.
func (c *leafCache) stats() (leaves, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.bytes
}
