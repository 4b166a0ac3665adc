package daemon

import (
	"context"

	"github.com/offlined/offlined/tiles"
)

// TileStore returns the open MBTiles of tile layer name of map id.
func (r *Registry) TileStore(ctx context.Context, id, name string) (*tiles.Store, error) {
	if st := r.openTileStore(id, name); st != nil {
		return st, nil
	}
	return openStore(ctx, r, tileFiles, id, name, (*mapOwner).tileStore, func(p string) (*tiles.Store, error) {
		return tiles.OpenStore(ctx, p)
	})
}

// openTileStore returns tile layer name of map id if its store is open
// already, else nil: the tile route's lookup, without openStore's name
// checks, path and closures (an owner only holds stores of valid names of
// a registered map, and the checks of a hit are the same).
func (r *Registry) openTileStore(id, name string) *tiles.Store {
	r.mu.Lock()
	o := r.owners[id]
	live := o != nil && !r.deleted[id] && r.has(id)
	r.mu.Unlock()
	if !live {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	return o.stores[name]
}
