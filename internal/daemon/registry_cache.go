package daemon

import (
	"context"
	"slices"
	stdsync "sync"
	"sync/atomic"

	"github.com/offlined/offlined/localapi"
)

// infoCache keeps the MapInfo of registered maps between requests, so a
// feature, style, glyph or tile request does not read package.json and list
// the store folders each time. A map's entry is kept only while the
// packages watcher watches its directory and its data/ and tiles/ folders:
// the watcher drops the entry on any change there (a store replaced,
// repaired or removed, package.json rewritten), the registry on its own
// changes (register, delete, rescan, close). Without a watcher nothing is
// cached.
type infoCache struct {
	mu      stdsync.Mutex
	gen     uint64                      // bumped by every invalidation
	watched map[string]bool             // maps whose folders are watched
	infos   map[string]localapi.MapInfo // by map id
	builds  atomic.Int64                // MapInfos built (read by tests)
}

func newInfoCache() *infoCache {
	return &infoCache{watched: map[string]bool{}, infos: map[string]localapi.MapInfo{}}
}

// generation returns the current generation, to pass to store. Callers
// take it before they read the registry entry the info is built from, so
// a change to the entry after that read also makes store drop the info.
func (c *infoCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// lookup returns the cached info of id, or whether id may be cached at all.
func (c *infoCache) lookup(id string) (mi localapi.MapInfo, hit bool, cacheable bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if mi, ok := c.infos[id]; ok {
		return mi, true, true
	}
	return localapi.MapInfo{}, false, c.watched[id]
}

// store keeps mi for id unless something was invalidated since gen (mi may
// then be stale) or id stopped being watched.
func (c *infoCache) store(id string, gen uint64, mi localapi.MapInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen && c.watched[id] {
		c.infos[id] = mi
	}
}

// invalidate drops the entry of id.
func (c *infoCache) invalidate(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.infos, id)
}

// invalidateAll drops every entry (watch events were lost).
func (c *infoCache) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.infos)
}

// setWatched records whether id's folders are watched (and drops its
// entry: changes before the watch began were not seen).
func (c *infoCache) setWatched(id string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.infos, id)
	if on {
		c.watched[id] = true
	} else {
		delete(c.watched, id)
	}
}

// stopWatching turns the cache off (the watcher stopped).
func (c *infoCache) stopWatching() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.infos)
	clear(c.watched)
}

// cachedInfo returns the info of entry e: cached, or built and cached when
// its folders are watched and nothing was invalidated since generation gen
// (taken before e was read). The slices are copies the caller may change.
func (r *Registry) cachedInfo(ctx context.Context, e regEntry, gen uint64) (localapi.MapInfo, error) {
	mi, hit, cacheable := r.infos.lookup(e.ID)
	if !hit {
		var err error
		r.infos.builds.Add(1)
		if mi, err = r.info(ctx, e); err != nil {
			return mi, err
		}
		if cacheable {
			r.infos.store(e.ID, gen, mi)
		}
	}
	mi.Services = slices.Clone(mi.Services)
	mi.Layers = slices.Clone(mi.Layers)
	mi.TileLayers = slices.Clone(mi.TileLayers)
	mi.Problems = slices.Clone(mi.Problems)
	return mi, nil
}
