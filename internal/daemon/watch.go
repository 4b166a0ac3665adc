package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// packagesWatcher adopts packages written into <data root>/packages while
// the daemon runs (take-offline --dir there) and notices package
// directories removed by hand: it watches packages/ and its
// subdirectories (package.json is written last, inside one) and, once
// changes pause for delay, rescans the registry. It also watches each
// package's data/ and tiles/ folders and drops the registry's cached
// MapInfo of a map as soon as anything in its folders changes (a store
// replaced, repaired or removed); while it runs the registry caches them.
// A store reached through a symbolic link is watched as the link, not at
// its target.
type packagesWatcher struct {
	reg   *Registry
	delay time.Duration
	log   *slog.Logger
	// rescanned, when set (tests), is called after each rescan.
	rescanned func(added, removed []string)
	// changed, when set (tests), is called after the cached info of map
	// id was dropped for a change in its folders.
	changed func(id string)
}

// storeDirs are the folders of a package whose files are its stores.
var storeDirs = []string{"data", "tiles"}

// Serve implements Service.
func (p *packagesWatcher) Serve(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch packages: %w", err)
	}
	defer w.Close()
	// Cached infos are only right while changes are seen.
	defer p.reg.infos.stopWatching()
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
			if p.event(w, dir, ev) {
				timer.Reset(p.delay)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Events may have been lost: drop every cached info, rescan
			// soon.
			p.log.Warn("watching packages", "err", err)
			p.reg.infos.invalidateAll()
			timer.Reset(p.delay)
		case <-timer.C:
			p.watchSubdirs(w, dir)
			p.rescan(ctx)
		}
	}
}

// event handles one change under packages/ (dir) and reports whether it
// calls for a rescan: a package directory or a file directly in one (its
// package.json) changed. A change at or below packages/<id> drops the
// map's cached info.
func (p *packagesWatcher) event(w *fsnotify.Watcher, dir string, ev fsnotify.Event) bool {
	rel, err := filepath.Rel(dir, ev.Name)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return true
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	id := parts[0]
	created := ev.Has(fsnotify.Create)
	switch {
	case len(parts) == 1 && created:
		p.watchMap(w, dir, id)
	case len(parts) == 1 && ev.Has(fsnotify.Remove|fsnotify.Rename):
		p.reg.infos.setWatched(id, false)
	case len(parts) == 2 && created && slices.Contains(storeDirs, parts[1]):
		// A store folder made anew: watched before the info is dropped,
		// so a store written into it is seen either way.
		w.Add(ev.Name)
		p.reg.infos.invalidate(id)
	default:
		p.reg.infos.invalidate(id)
	}
	if p.changed != nil {
		p.changed(id)
	}
	return len(parts) <= 2
}

// watchMap watches package directory id and its store folders, then lets
// the registry cache its info.
func (p *packagesWatcher) watchMap(w *fsnotify.Watcher, dir, id string) {
	pkg := filepath.Join(dir, id)
	if fi, err := os.Stat(pkg); err != nil || !fi.IsDir() {
		return
	}
	if err := w.Add(pkg); err != nil {
		p.reg.infos.setWatched(id, false)
		return
	}
	for _, sub := range storeDirs {
		if err := w.Add(filepath.Join(pkg, sub)); err != nil && !errors.Is(err, os.ErrNotExist) {
			// Unwatched store folder: the map's info is not cached.
			p.log.Warn("watching a package folder", "map", id, "folder", sub, "err", err)
			p.reg.infos.setWatched(id, false)
			return
		}
	}
	p.reg.infos.setWatched(id, true)
}

// watchSubdirs adds every package directory and its store folders to the
// watch (adding one twice is harmless).
func (p *packagesWatcher) watchSubdirs(w *fsnotify.Watcher, dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() || e.Type()&os.ModeSymlink != 0 {
			p.watchMap(w, dir, e.Name())
		}
	}
}

func (p *packagesWatcher) rescan(ctx context.Context) {
	added, removed, err := p.reg.Rescan(ctx)
	for _, id := range removed {
		p.reg.infos.invalidate(id)
	}
	if err != nil {
		p.log.Warn("rescanning packages", "err", err)
	}
	if p.rescanned != nil {
		p.rescanned(added, removed)
	}
}
