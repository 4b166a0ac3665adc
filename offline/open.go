package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/offlined/offlined/geodb"
	editsync "github.com/offlined/offlined/sync"
	"github.com/offlined/offlined/tiles"
)

// Package is an offline map package opened for use.
type Package struct {
	Dir      string
	Manifest *Manifest
	// Map is the offline web map (map.json).
	Map *WebMap
	// ItemInfo is iteminfo.json.
	ItemInfo *ItemInfo
}

// Open reopens a package directory: it reads and checks package.json,
// map.json and iteminfo.json and checks that every local store the manifest
// names exists. A directory without a valid package.json (an interrupted
// job's) is an *IncompleteError.
func Open(dir string) (*Package, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	p := &Package{Dir: dir, Manifest: m}
	b, err := os.ReadFile(filepath.Join(dir, MapFile))
	if err != nil {
		return nil, &IncompleteError{Dir: dir, Reason: err.Error()}
	}
	if p.Map, err = ParseWebMap(b); err != nil {
		return nil, &IncompleteError{Dir: dir, Reason: "map.json: " + err.Error()}
	}
	if b, err := os.ReadFile(filepath.Join(dir, ItemInfoFile)); err == nil {
		p.ItemInfo = &ItemInfo{}
		if err := json.Unmarshal(b, p.ItemInfo); err != nil {
			return nil, &IncompleteError{Dir: dir, Reason: "iteminfo.json: " + err.Error()}
		}
	}
	for _, ml := range p.All() {
		if ml.Store == "" || ml.Kind == KindReferenceBasemap {
			continue
		}
		if st, err := os.Stat(p.Path(ml.Store)); err != nil || !st.Mode().IsRegular() {
			return nil, &IncompleteError{Dir: dir, Reason: fmt.Sprintf("store %s of layer %q is missing", ml.Store, ml.Title)}
		}
	}
	return p, nil
}

// All returns the package's layers then tables.
func (p *Package) All() []*ManifestLayer {
	return append(append([]*ManifestLayer{}, p.Manifest.Layers...), p.Manifest.Tables...)
}

// Layer returns the entry with key k, or nil.
func (p *Package) Layer(k Key) *ManifestLayer {
	for _, ml := range p.All() {
		if ml.Key == k {
			return ml
		}
	}
	return nil
}

// Path resolves a store path of the manifest (relative to the package).
func (p *Package) Path(store string) string {
	if filepath.IsAbs(store) {
		return store
	}
	return filepath.Join(p.Dir, filepath.FromSlash(store))
}

// OpenGeodatabase opens the GeoPackage of a store path (a layer's Store).
// The caller closes it.
func (p *Package) OpenGeodatabase(ctx context.Context, store string) (*geodb.DB, error) {
	if !strings.HasSuffix(store, ".gpkg") {
		return nil, fmt.Errorf("%s is not a GeoPackage store", store)
	}
	path := p.Path(store)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return geodb.Open(ctx, path, geodb.Options{})
}

// OpenTiles opens the MBTiles store of a tile layer. The caller closes it.
func (p *Package) OpenTiles(ctx context.Context, k Key) (*tiles.Store, error) {
	ml := p.Layer(k)
	if ml == nil || ml.Store == "" || !strings.HasSuffix(ml.Store, ".mbtiles") {
		return nil, fmt.Errorf("layer %s has no MBTiles store", k)
	}
	path := p.Path(ml.Store)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	return tiles.OpenStore(ctx, path)
}

// Replicas returns the replicas the package syncs with, by store.
func (p *Package) Replicas() map[string]*ManifestLayer {
	out := map[string]*ManifestLayer{}
	for _, ml := range p.All() {
		if ml.Replica != nil && ml.Replica.ID != "" {
			if _, ok := out[ml.Store]; !ok {
				out[ml.Store] = ml
			}
		}
	}
	return out
}

// Delete queues the package's replicas in q (durably, before anything is
// removed), removes the directory, and then tries the queue once: replicas
// that cannot be unregistered now (offline) stay queued for the daemon.
func (p *Package) Delete(ctx context.Context, q *editsync.UnregisterQueue) error {
	for _, ml := range p.Replicas() {
		if err := q.Add(ml.ServiceURL, ml.Replica.ID); err != nil {
			return fmt.Errorf("delete package %s: %w", p.Dir, err)
		}
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		return fmt.Errorf("delete package: %w", err)
	}
	q.Drain(ctx) // what fails stays queued
	return nil
}
