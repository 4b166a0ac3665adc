package daemon

import (
	"context"
	"log/slog"
)

// WatchPackages runs reg's packages watcher until ctx ends, with the
// daemon's settings (Run starts the same one): packages written into the
// data root are adopted, and while it runs reg caches each map's MapInfo
// between requests. started, when not nil, is called once, when the
// folders are watched and the first rescan is done. For programs and
// tests that use a Registry without Run.
func WatchPackages(ctx context.Context, reg *Registry, log *slog.Logger, started func()) error {
	w := newPackagesWatcher(reg, log)
	if started != nil {
		first := true
		w.rescanned = func([]string, []string) { // Serve's goroutine only
			if first {
				first = false
				started()
			}
		}
	}
	return w.Serve(ctx)
}

// newPackagesWatcher is the watcher Run starts, with the daemon's settings.
func newPackagesWatcher(reg *Registry, log *slog.Logger) *packagesWatcher {
	return &packagesWatcher{reg: reg, delay: rescanDelay, log: log}
}
