package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// packagesWatcher adopts packages written into <data root>/packages while
// the daemon runs (take-offline --dir there) and notices package
// directories removed by hand: it watches packages/ and its
// subdirectories (package.json is written last, inside one) and, once
// changes pause for delay, rescans the registry.
type packagesWatcher struct {
	reg   *Registry
	delay time.Duration
	log   *slog.Logger
	// rescanned, when set (tests), is called after each rescan.
	rescanned func(added, removed []string)
}

// Serve implements Service.
func (p *packagesWatcher) Serve(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch packages: %w", err)
	}
	defer w.Close()
	dir := filepath.Join(p.reg.Root(), "packages")
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watch %s: %w", dir, err)
	}
	p.watchSubdirs(w, dir)
	// A package finished between OpenRegistry and the watch is found by a
	// first rescan.
	p.rescan(ctx)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) && filepath.Dir(ev.Name) == dir {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					w.Add(ev.Name)
				}
			}
			timer.Reset(p.delay)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Events may have been lost: rescan soon.
			p.log.Warn("watching packages", "err", err)
			timer.Reset(p.delay)
		case <-timer.C:
			p.watchSubdirs(w, dir)
			p.rescan(ctx)
		}
	}
}

// watchSubdirs adds every package directory to the watch (adding one twice
// is harmless).
func (p *packagesWatcher) watchSubdirs(w *fsnotify.Watcher, dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			w.Add(filepath.Join(dir, e.Name()))
		}
	}
}

func (p *packagesWatcher) rescan(ctx context.Context) {
	added, removed, err := p.reg.Rescan(ctx)
	if err != nil {
		p.log.Warn("rescanning packages", "err", err)
	}
	if p.rescanned != nil {
		p.rescanned(added, removed)
	}
}
