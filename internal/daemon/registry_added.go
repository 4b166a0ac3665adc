package daemon

// Added returns a channel that receives after a map is registered (by an
// offline job, Add or a rescan), so the sync schedulers start for it
// without polling the registry. Signals coalesce: one reader, the daemon's
// RunSchedulers, is meant.
func (r *Registry) Added() <-chan struct{} { return r.added }

// signalAdded wakes the reader of Added without blocking.
func (r *Registry) signalAdded() {
	select {
	case r.added <- struct{}{}:
	default:
	}
}
