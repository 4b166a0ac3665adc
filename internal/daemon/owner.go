package daemon

import (
	"context"
	"errors"
	stdsync "sync"

	"github.com/offlined/offlined/geodb"
	editsync "github.com/offlined/offlined/sync"
	"github.com/offlined/offlined/tiles"
)

// errClosed is returned by a map owner after Close (the map is being
// deleted or the daemon stops).
var errClosed = errors.New("offline map closed")

// mapOwner owns one offline map's open stores (GeoPackages by service,
// MBTiles by tile layer), its sync engines and its background sync
// schedulers. Everything that opens or starts something for the map goes
// through it, and Close stops and closes it all: once closed it opens and
// starts nothing, so a scheduler cannot start on a map being deleted.
type mapOwner struct {
	id string

	mu      stdsync.Mutex
	closed  bool
	dbs     map[string]*geodb.DB // by service
	stores  map[string]*tiles.Store
	engines map[string]*editsync.Engine // by service
	scheds  map[string]*schedRun        // by service
}

// schedRun is one running sync scheduler.
type schedRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func newMapOwner(id string) *mapOwner {
	return &mapOwner{id: id, dbs: map[string]*geodb.DB{}, stores: map[string]*tiles.Store{},
		engines: map[string]*editsync.Engine{}, scheds: map[string]*schedRun{}}
}

// featureStore returns the open GeoPackage of svc, opening it with open
// the first time.
func (o *mapOwner) featureStore(svc string, open func() (*geodb.DB, error)) (*geodb.DB, error) {
	return once(o, o.dbs, svc, open)
}

// tileStore returns the open MBTiles of tile layer name, opening it with
// open the first time.
func (o *mapOwner) tileStore(name string, open func() (*tiles.Store, error)) (*tiles.Store, error) {
	return once(o, o.stores, name, open)
}

// engine returns the sync engine of svc, made by newEngine the first
// time.
func (o *mapOwner) engine(svc string, newEngine func() (*editsync.Engine, error)) (*editsync.Engine, error) {
	return once(o, o.engines, svc, newEngine)
}

// once returns the owner's m[key], made by open the first time (under the
// owner's lock); errClosed once the owner is closed.
func once[T any](o *mapOwner, m map[string]T, key string, open func() (T, error)) (T, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var zero T
	if o.closed {
		return zero, errClosed
	}
	if v, ok := m[key]; ok {
		return v, nil
	}
	v, err := open()
	if err != nil {
		return zero, err
	}
	m[key] = v
	return v, nil
}

// startScheduler runs run (a scheduler of svc) under a context derived
// from ctx, unless one runs already or the owner is closed; it reports
// whether it started one.
func (o *mapOwner) startScheduler(ctx context.Context, svc string, run func(ctx context.Context)) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed || o.scheds[svc] != nil {
		return false
	}
	sctx, cancel := context.WithCancel(ctx)
	r := &schedRun{cancel: cancel, done: make(chan struct{})}
	o.scheds[svc] = r
	go func() {
		defer close(r.done)
		run(sctx)
	}()
	return true
}

// schedulers returns how many schedulers run.
func (o *mapOwner) schedulers() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.scheds)
}

// stopSchedulers stops the map's schedulers and waits for them (or ctx).
func (o *mapOwner) stopSchedulers(ctx context.Context) {
	o.mu.Lock()
	runs := make([]*schedRun, 0, len(o.scheds))
	for svc, r := range o.scheds {
		r.cancel()
		runs = append(runs, r)
		delete(o.scheds, svc)
	}
	o.mu.Unlock()
	for _, r := range runs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return
		}
	}
}

// Close stops the map's schedulers (waiting for them until ctx ends),
// forgets its engines and closes its stores. The owner opens and starts
// nothing afterwards.
func (o *mapOwner) Close(ctx context.Context) error {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	o.stopSchedulers(ctx)
	o.mu.Lock()
	defer o.mu.Unlock()
	var errs []error
	clear(o.engines)
	for svc, db := range o.dbs {
		errs = append(errs, db.Close())
		delete(o.dbs, svc)
	}
	for name, st := range o.stores {
		errs = append(errs, st.Close())
		delete(o.stores, name)
	}
	return errors.Join(errs...)
}

// eachStore calls f with the feature store of every service of a map.
func (r *Registry) eachStore(ctx context.Context, mapID string, f func(svc string, db *geodb.DB) error) error {
	mi, err := r.Get(ctx, mapID)
	if err != nil {
		return err
	}
	for _, svc := range mi.Services {
		db, err := r.FeatureStore(ctx, mapID, svc)
		if err != nil {
			return err
		}
		if err := f(svc, db); err != nil {
			return err
		}
	}
	return nil
}
