package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/atomicfile"
	"github.com/offlined/offlined/localapi"
	editsync "github.com/offlined/offlined/sync"
)

// RegistryFile is the name of the registry of offline maps in the data root.
const RegistryFile = "registry.json"

type registryDoc struct {
	Maps []regEntry `json:"maps"`
	// Orphans are the replicas of maps whose package directory was removed
	// by hand (not through Delete): listed until cleaned up.
	Orphans []replicaRecord `json:"orphanedReplicas,omitempty"`
	// Pending is read from registries written by older versions (which kept
	// their own unregister queue) and moved to the UnregisterQueue.
	Pending []legacyUnregister `json:"pendingUnregister,omitempty"`
}

type legacyUnregister struct {
	ServiceURL string `json:"serviceUrl"`
	ReplicaID  string `json:"replicaId"`
}

type regEntry struct {
	ID         string    `json:"id"`
	Registered time.Time `json:"registered"`
	// Replicas are the map's replicas, recorded when it is registered, so
	// they can be unregistered once the package directory is gone.
	Replicas []replicaRecord `json:"replicas,omitempty"`
	// Recorded is set once Replicas were read from the package.
	Recorded bool `json:"replicasRecorded,omitempty"`
}

// Registry is the set of offline maps under <root>/packages/<id>/, recorded
// in <root>/registry.json. It opens GeoPackages and MBTiles lazily and keeps
// them open until Close. It is safe for concurrent use.
type Registry struct {
	root  string
	log   *slog.Logger
	unreg *editsync.UnregisterQueue
	gopts geodb.Options

	mu      stdsync.Mutex
	doc     registryDoc
	ids     map[string]bool      // the ids in doc.Maps (has)
	owners  map[string]*mapOwner // by map id
	deleted map[string]bool

	bmu    stdsync.Mutex
	broken map[string]brokenFile // key: file path

	added chan struct{} // signalled after Register (see Added)
	infos *infoCache    // MapInfos while the packages watcher runs
}

// brokenFile remembers why a store did not open, until the file changes.
type brokenFile struct {
	size    int64
	modTime time.Time
	err     *localapi.Error
}

// UnregisterFile, in the data root, is the queue of replicas to unregister
// (sync.UnregisterQueue).
const UnregisterFile = "unregister.json"

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	Logger *slog.Logger
	// Unregister is the daemon's queue of replicas to unregister; deleting
	// a map adds its replicas to it. Nil: a queue in <root>/unregister.json
	// without a client (replicas are queued, never unregistered).
	Unregister *editsync.UnregisterQueue
	GeoDB      geodb.Options
}

// OpenRegistry opens the registry in root, registering complete package
// directories found under packages/ that it does not list yet (sideloaded
// packages).
func OpenRegistry(root string, o RegistryOptions) (*Registry, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Unregister == nil {
		o.Unregister = editsync.OpenUnregisterQueue(filepath.Join(root, UnregisterFile), nil)
	}
	r := &Registry{root: root, log: o.Logger, unreg: o.Unregister, gopts: o.GeoDB,
		owners: map[string]*mapOwner{}, deleted: map[string]bool{}, broken: map[string]brokenFile{},
		added: make(chan struct{}, 1), infos: newInfoCache()}
	if err := os.MkdirAll(filepath.Join(root, "packages"), 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	changed := false
	b, err := os.ReadFile(filepath.Join(root, RegistryFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("registry: %w", err)
	default:
		if err := json.Unmarshal(b, &r.doc); err != nil {
			// Empty or truncated (a crash by an older version): the maps
			// are found again under packages/; queued unregistrations are lost.
			r.log.Warn("registry damaged; rebuilding it from the package directories (queued replica unregistrations in it are lost)",
				"file", filepath.Join(root, RegistryFile), "size", len(b), "err", err)
			r.doc, changed = registryDoc{}, true
		}
	}
	r.ids = make(map[string]bool, len(r.doc.Maps))
	for _, m := range r.doc.Maps {
		r.ids[m.ID] = true
	}
	ents, err := os.ReadDir(filepath.Join(root, "packages"))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	for _, e := range ents {
		// Only complete packages (package.json is written last) are picked
		// up: a directory without one belongs to an unfinished job.
		if _, err := os.Stat(filepath.Join(r.Dir(e.Name()), "package.json")); err != nil {
			continue
		}
		if e.IsDir() && localapi.ValidID(e.Name()) && !r.has(e.Name()) {
			r.doc.Maps = append(r.doc.Maps, regEntry{ID: e.Name(), Registered: time.Now().UTC()})
			r.ids[e.Name()] = true
			changed = true
		}
	}
	// Replicas queued by an older version move to the one queue.
	for _, p := range r.doc.Pending {
		if err := r.unreg.Add(p.ServiceURL, p.ReplicaID); err != nil {
			return nil, fmt.Errorf("registry: %w", err)
		}
		changed = true
	}
	r.doc.Pending = nil
	// Entries whose directory vanished are dropped; their replicas are
	// kept as orphans.
	if r.orphanVanishedLocked() {
		changed = true
	}
	if changed {
		if err := r.saveLocked(); err != nil {
			return nil, err
		}
	}
	r.recordAll(context.Background())
	return r, nil
}

// Root returns the data root.
func (r *Registry) Root() string { return r.root }

// Dir returns the package directory of map id.
func (r *Registry) Dir(id string) string { return filepath.Join(r.root, "packages", id) }

// has reports whether map id is in the registry (under mu).
func (r *Registry) has(id string) bool { return r.ids[id] }

func (r *Registry) saveLocked() error {
	b, err := json.MarshalIndent(r.doc, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(r.root, RegistryFile), b, 0o600); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return nil
}

// Register records the package directory packages/<id> (written by an
// offline job or copied onto the device) and the replicas its stores hold.
func (r *Registry) Register(id string) error {
	if !localapi.ValidID(id) {
		return localapi.BadRequest("id", "invalid map id %q", id)
	}
	if _, err := os.Stat(r.Dir(id)); err != nil {
		return fmt.Errorf("register %s: %w", id, err)
	}
	r.mu.Lock()
	if r.has(id) {
		r.mu.Unlock()
		return nil
	}
	r.doc.Maps = append(r.doc.Maps, regEntry{ID: id, Registered: time.Now().UTC()})
	r.ids[id] = true
	delete(r.deleted, id)
	err := r.saveLocked()
	r.mu.Unlock()
	r.infos.invalidate(id)
	if err != nil {
		return err
	}
	r.recordReplicas(context.Background(), id)
	r.signalAdded()
	return nil
}

// List returns every registered map, sorted by id.
func (r *Registry) List(ctx context.Context) ([]localapi.MapInfo, error) {
	gen := r.infos.generation()
	r.mu.Lock()
	ents := slices.DeleteFunc(slices.Clone(r.doc.Maps), func(m regEntry) bool { return r.deleted[m.ID] })
	r.mu.Unlock()
	sort.Slice(ents, func(i, j int) bool { return ents[i].ID < ents[j].ID })
	out := make([]localapi.MapInfo, 0, len(ents))
	for _, e := range ents {
		mi, err := r.cachedInfo(ctx, e, gen)
		if err != nil {
			return nil, err
		}
		out = append(out, mi)
	}
	return out, nil
}

// Get returns one map (ErrNotFound when unknown).
func (r *Registry) Get(ctx context.Context, id string) (localapi.MapInfo, error) {
	gen := r.infos.generation()
	r.mu.Lock()
	i := slices.IndexFunc(r.doc.Maps, func(m regEntry) bool { return m.ID == id })
	if r.deleted[id] {
		i = -1
	}
	var e regEntry
	if i >= 0 {
		e = r.doc.Maps[i]
	}
	r.mu.Unlock()
	if i < 0 {
		return localapi.MapInfo{}, localapi.NotFound("map", "no offline map %q", id)
	}
	return r.cachedInfo(ctx, e, gen)
}

func (r *Registry) info(ctx context.Context, e regEntry) (localapi.MapInfo, error) {
	dir := r.Dir(e.ID)
	mi := localapi.MapInfo{ID: e.ID, Title: e.ID, Registered: e.Registered, Dir: dir, Services: []string{}, Layers: []localapi.LayerInfo{}, TileLayers: []string{}}
	problem := func(err error) {
		mi.Broken = true
		mi.Problems = append(mi.Problems, localapi.Message(err))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err == nil {
		mi.Complete = true
		var m struct {
			Title string `json:"title"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			problem(r.brokenErr(e.ID, filepath.Join(dir, "package.json"), "map", fmt.Errorf("not valid JSON")))
		} else if m.Title != "" {
			mi.Title = m.Title
		}
	}
	gpkgs, _ := filepath.Glob(filepath.Join(dir, "data", "*.gpkg"))
	sort.Strings(gpkgs)
	for _, p := range gpkgs {
		svc := strings.TrimSuffix(filepath.Base(p), ".gpkg")
		db, err := r.FeatureStore(ctx, e.ID, svc)
		if err != nil {
			if ctx.Err() != nil {
				return localapi.MapInfo{}, ctx.Err()
			}
			// One unusable store (truncated, corrupt, unreadable) marks
			// the map broken; the other stores and maps stay usable.
			problem(err)
			continue
		}
		mi.Services = append(mi.Services, svc)
		for _, t := range db.Tables() {
			li := localapi.LayerInfo{ID: svc + "." + strconv.Itoa(t.LayerID), Service: svc, LayerID: t.LayerID, Name: t.Layer.Name,
				Type: t.Layer.Type, HasAttachments: t.AttachTable != ""}
			if t.GeomCol != "" {
				li.GeometryType = t.Layer.GeometryType
			}
			mi.Layers = append(mi.Layers, li)
		}
	}
	mbt, _ := filepath.Glob(filepath.Join(dir, "tiles", "*.mbtiles"))
	sort.Strings(mbt)
	for _, p := range mbt {
		mi.TileLayers = append(mi.TileLayers, strings.TrimSuffix(filepath.Base(p), ".mbtiles"))
	}
	return mi, nil
}

// Document returns a JSON document of the package: "package.json" (the
// manifest) or "map.json" (the offline web map).
func (r *Registry) Document(ctx context.Context, id, name string) (json.RawMessage, error) {
	if _, err := r.Get(ctx, id); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(r.Dir(id), name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, localapi.NotFound("map", "map %q has no %s (incomplete package)", id, name)
	}
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, r.brokenErr(id, filepath.Join(r.Dir(id), name), "map", fmt.Errorf("not valid JSON"))
	}
	return b, nil
}

// owner returns the owner of map id (404 for a map unknown or being
// deleted).
func (r *Registry) owner(id string) (*mapOwner, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deleted[id] || !r.has(id) {
		return nil, localapi.NotFound("map", "no offline map %q", id)
	}
	o := r.owners[id]
	if o == nil {
		o = newMapOwner(id)
		r.owners[id] = o
	}
	return o, nil
}

// FeatureStore returns the open GeoPackage of service svc of map id.
func (r *Registry) FeatureStore(ctx context.Context, id, svc string) (*geodb.DB, error) {
	return openStore(ctx, r, serviceFiles, id, svc, (*mapOwner).featureStore, func(p string) (*geodb.DB, error) {
		return geodb.Open(ctx, p, r.gopts)
	})
}

// storeFiles says where a kind of store lives in a package and how the
// API names it.
type storeFiles struct {
	dir, ext    string // the file of name is <dir>/<name><ext>
	field, noun string // the route variable and its noun in messages
	warn        string // the log message when a file does not open
}

var (
	serviceFiles = storeFiles{dir: "data", ext: ".gpkg", field: "service", noun: "service", warn: "feature store unusable"}
	tileFiles    = storeFiles{dir: "tiles", ext: ".mbtiles", field: "tileLayer", noun: "tile layer", warn: "tile store unusable"}
)

// openStore returns map id's open store name of kind k, opened by open
// the first time (through the owner's cache): 404 when the map or the file
// is missing, 409 brokenPackage when the file does not open (remembered
// until the file changes).
func openStore[T any](ctx context.Context, r *Registry, k storeFiles, id, name string,
	cached func(o *mapOwner, name string, open func() (T, error)) (T, error), open func(p string) (T, error)) (T, error) {
	var zero T
	if !localapi.ValidID(id) || !localapi.ValidID(name) {
		return zero, localapi.NotFound(k.field, "no %s %q in map %q", k.noun, name, id)
	}
	o, err := r.owner(id)
	if err != nil {
		return zero, err
	}
	p := filepath.Join(r.Dir(id), k.dir, name+k.ext)
	v, err := cached(o, name, func() (T, error) {
		fi, err := os.Stat(p)
		if err != nil {
			return zero, localapi.NotFound(k.field, "no %s %q in map %q", k.noun, name, id)
		}
		if be := r.knownBroken(p, fi); be != nil {
			return zero, be
		}
		v, err := open(p)
		if err != nil {
			if ctx.Err() != nil {
				return zero, ctx.Err()
			}
			r.log.Warn(k.warn, "map", id, k.field, name, "err", err)
			return zero, r.setBroken(p, fi, r.brokenErr(id, p, k.field, err))
		}
		r.setBroken(p, fi, nil)
		return v, nil
	})
	if errors.Is(err, errClosed) {
		return zero, localapi.NotFound("map", "no offline map %q", id)
	}
	return v, err
}

// knownBroken returns the error of file p when it did not open before and
// has not changed since.
func (r *Registry) knownBroken(p string, fi os.FileInfo) *localapi.Error {
	r.bmu.Lock()
	defer r.bmu.Unlock()
	if b, ok := r.broken[p]; ok && b.size == fi.Size() && b.modTime.Equal(fi.ModTime()) {
		return b.err
	}
	return nil
}

// setBroken remembers why file p did not open (be nil: it opened) and
// returns be.
func (r *Registry) setBroken(p string, fi os.FileInfo, be *localapi.Error) *localapi.Error {
	r.bmu.Lock()
	defer r.bmu.Unlock()
	if be == nil {
		delete(r.broken, p)
		return nil
	}
	r.broken[p] = brokenFile{size: fi.Size(), modTime: fi.ModTime(), err: be}
	return be
}

// brokenErr is the API error for file p of map id that cannot be used: 409
// brokenPackage, naming p relative to the package directory and never
// showing an absolute path (the cause is scrubbed of the data root).
func (r *Registry) brokenErr(id, p, field string, cause error) *localapi.Error {
	dir := r.Dir(id)
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		rel = filepath.Base(p)
	}
	msg := cause.Error()
	msg = strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
	msg = strings.ReplaceAll(msg, r.root, "<data>")
	if abs, err := filepath.Abs(r.root); err == nil && abs != r.root {
		msg = strings.ReplaceAll(msg, abs, "<data>")
	}
	return &localapi.Error{Status: http.StatusConflict, Code: "brokenPackage", Field: field,
		Message: fmt.Sprintf("map %q: %s cannot be used (%s); replace or delete the map", id, filepath.ToSlash(rel), msg)}
}

// ResourceDir returns the vector tile resources directory of a tile layer
// (tiles/<layer>/resources).
func (r *Registry) ResourceDir(id, name string) string {
	return filepath.Join(r.Dir(id), "tiles", name, "resources")
}

// Deleted reports whether map id is being (or was) deleted: services
// must not start work on it.
func (r *Registry) Deleted(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.deleted[id] || !r.has(id)
}

// Delete queues the map's replicas for unregistration (durably, before
// anything is removed), marks the map deleted, stops its background work,
// closes its stores, removes its directory and then tries the queue.
func (r *Registry) Delete(ctx context.Context, id string) error {
	err := r.eachStore(ctx, id, func(svc string, db *geodb.DB) error {
		rep, err := db.Replica(ctx)
		if err != nil || rep == nil || rep.ReplicaID == "" {
			return nil
		}
		if err := r.unreg.Add(r.ServiceURL(ctx, id, svc, db), rep.ReplicaID); err != nil {
			return fmt.Errorf("delete map %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Also the replicas recorded at registration: those of stores that no
	// longer open (a broken package) are unregistered too.
	r.mu.Lock()
	var recorded []replicaRecord
	if i := slices.IndexFunc(r.doc.Maps, func(m regEntry) bool { return m.ID == id }); i >= 0 {
		recorded = slices.Clone(r.doc.Maps[i].Replicas)
	}
	r.mu.Unlock()
	for _, rr := range recorded {
		if err := r.unreg.Add(rr.ServiceURL, rr.ReplicaID); err != nil {
			return fmt.Errorf("delete map %s: %w", id, err)
		}
	}
	// Marked first: from now on the map is not found and gets no new
	// owner; its owner stops its schedulers and closes its stores, and,
	// closed, starts none.
	r.mu.Lock()
	r.deleted[id] = true
	o := r.owners[id]
	delete(r.owners, id)
	r.mu.Unlock()
	r.infos.invalidate(id)
	if o != nil {
		if err := o.Close(ctx); err != nil {
			r.log.Warn("closing the stores of a deleted map", "map", id, "err", err)
		}
	}
	r.mu.Lock()
	r.doc.Maps = slices.DeleteFunc(r.doc.Maps, func(m regEntry) bool { return m.ID == id })
	delete(r.ids, id)
	err = r.saveLocked()
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.RemoveAll(r.Dir(id)); err != nil {
		return fmt.Errorf("delete map %s: %w", id, err)
	}
	r.RetryUnregister(ctx)
	return nil
}

// Pending returns the replicas still to be unregistered.
func (r *Registry) Pending() []editsync.Unregistration {
	p, err := r.unreg.Pending()
	if err != nil {
		r.log.Warn("unregister queue unreadable", "err", err)
	}
	return p
}

// RetryUnregister tries every queued replica once; those the server no
// longer knows count as done, the others stay queued. It reports whether
// any may be left (the queue unreadable or unwritable counts as left).
func (r *Registry) RetryUnregister(ctx context.Context) (left bool) {
	n, err := r.unreg.Drain(ctx)
	if err != nil {
		r.log.Warn("unregister replicas failed; kept queued", "left", n, "err", err)
	}
	return n > 0 || err != nil
}

// Close closes every open store.
func (r *Registry) Close() error {
	r.mu.Lock()
	owners := r.owners
	r.owners = map[string]*mapOwner{}
	r.mu.Unlock()
	r.infos.invalidateAll()
	var errs []error
	for _, o := range owners {
		errs = append(errs, o.Close(context.Background()))
	}
	return errors.Join(errs...)
}

// openOwners returns the owners of the maps opened so far.
func (r *Registry) openOwners() []*mapOwner {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*mapOwner, 0, len(r.owners))
	for _, o := range r.owners {
		out = append(out, o)
	}
	return out
}

// ServiceURL returns the feature service URL of store svc of map id: from
// its sync configuration, else the package manifest, else the stored service
// JSON; "" when none says.
func (r *Registry) ServiceURL(ctx context.Context, id, svc string, db *geodb.DB) string {
	if v, ok, _ := db.Meta(ctx, editsync.ConfigKey); ok {
		var cfg struct {
			ServiceURL string `json:"serviceUrl"`
		}
		if json.Unmarshal([]byte(v), &cfg) == nil && cfg.ServiceURL != "" {
			return cfg.ServiceURL
		}
	}
	if b, err := os.ReadFile(filepath.Join(r.Dir(id), "package.json")); err == nil {
		var m struct {
			Layers []struct {
				Store      string `json:"store"`
				ServiceURL string `json:"serviceUrl"`
			} `json:"layers"`
			Tables []struct {
				Store      string `json:"store"`
				ServiceURL string `json:"serviceUrl"`
			} `json:"tables"`
		}
		if json.Unmarshal(b, &m) == nil {
			want := "data/" + svc + ".gpkg"
			for _, l := range append(m.Layers, m.Tables...) {
				if filepath.ToSlash(l.Store) == want && l.ServiceURL != "" {
					return strings.TrimRight(l.ServiceURL, "/")
				}
			}
		}
	}
	if raw, _ := db.Service(ctx); raw != nil {
		var doc struct {
			URL string `json:"url"`
		}
		json.Unmarshal(raw, &doc)
		return doc.URL
	}
	return ""
}
