package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/offlined/offlined/localapi"
)

// replicaRecord is a replica of a registered map's feature store, kept in
// the registry so it can be unregistered after the package is gone.
type replicaRecord struct {
	MapID      string `json:"mapId"`
	Service    string `json:"service"`
	ServiceURL string `json:"serviceUrl"`
	ReplicaID  string `json:"replicaId"`
}

// readReplicas returns the replicas held by the feature stores of map id
// that open.
func (r *Registry) readReplicas(ctx context.Context, id string) []replicaRecord {
	gpkgs, _ := filepath.Glob(filepath.Join(r.Dir(id), "data", "*.gpkg"))
	sort.Strings(gpkgs)
	var out []replicaRecord
	for _, p := range gpkgs {
		svc := strings.TrimSuffix(filepath.Base(p), ".gpkg")
		db, err := r.FeatureStore(ctx, id, svc)
		if err != nil {
			continue
		}
		rep, err := db.Replica(ctx)
		if err != nil || rep == nil || rep.ReplicaID == "" {
			continue
		}
		out = append(out, replicaRecord{MapID: id, Service: svc, ServiceURL: r.ServiceURL(ctx, id, svc, db), ReplicaID: rep.ReplicaID})
	}
	return out
}

// recordReplicas reads and records the replicas of map id.
func (r *Registry) recordReplicas(ctx context.Context, id string) {
	reps := r.readReplicas(ctx, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	i := slices.IndexFunc(r.doc.Maps, func(m regEntry) bool { return m.ID == id })
	if i < 0 {
		return
	}
	r.doc.Maps[i].Replicas, r.doc.Maps[i].Recorded = reps, true
	if err := r.saveLocked(); err != nil {
		r.log.Warn("recording a map's replicas", "map", id, "err", err)
	}
}

// recordAll records the replicas of maps registered before replicas were
// recorded.
func (r *Registry) recordAll(ctx context.Context) {
	r.mu.Lock()
	var ids []string
	for _, m := range r.doc.Maps {
		if !m.Recorded {
			ids = append(ids, m.ID)
		}
	}
	r.mu.Unlock()
	for _, id := range ids {
		r.recordReplicas(ctx, id)
	}
}

// orphanVanishedLocked drops the entries whose package directory is gone,
// keeping their recorded replicas as orphans; it reports whether any was.
func (r *Registry) orphanVanishedLocked() bool {
	changed := false
	r.doc.Maps = slices.DeleteFunc(r.doc.Maps, func(m regEntry) bool {
		if _, err := os.Stat(r.Dir(m.ID)); err == nil {
			return false
		}
		changed = true
		r.doc.Orphans = append(r.doc.Orphans, m.Replicas...)
		delete(r.ids, m.ID)
		return true
	})
	return changed
}

// Rescan adopts complete package directories under packages/ that are not
// registered (take-offline writing into the daemon's data root) and drops
// maps whose directory was removed by hand, keeping their replicas as
// orphans. It returns the ids added and removed.
func (r *Registry) Rescan(ctx context.Context) (added, removed []string, err error) {
	ents, err := os.ReadDir(filepath.Join(r.root, "packages"))
	if err != nil {
		return nil, nil, fmt.Errorf("rescan packages: %w", err)
	}
	for _, e := range ents {
		id := e.Name()
		if !localapi.ValidID(id) {
			continue
		}
		// Only complete packages (package.json is written last).
		if _, err := os.Stat(filepath.Join(r.Dir(id), "package.json")); err != nil {
			continue
		}
		r.mu.Lock()
		known := r.has(id)
		r.mu.Unlock()
		if known {
			continue
		}
		if err := r.Register(id); err != nil {
			return added, removed, err
		}
		r.log.Info("offline map adopted", "map", id)
		added = append(added, id)
	}
	r.mu.Lock()
	before := make(map[string]bool, len(r.doc.Maps))
	for _, m := range r.doc.Maps {
		before[m.ID] = true
	}
	var owners []*mapOwner
	if r.orphanVanishedLocked() {
		for _, m := range r.doc.Maps {
			delete(before, m.ID)
		}
		for id := range before {
			removed = append(removed, id)
			if o := r.owners[id]; o != nil {
				owners = append(owners, o)
				delete(r.owners, id)
			}
		}
		err = r.saveLocked()
	}
	r.mu.Unlock()
	for _, o := range owners {
		o.Close(ctx)
	}
	sort.Strings(removed)
	for _, id := range removed {
		r.log.Warn("offline map removed by hand; its replicas are orphaned (offlined replicas cleanup unregisters them)", "map", id)
	}
	return added, removed, err
}

// Add registers the package directory dir as map id (default: dir's
// name). A directory outside packages/ is linked there (a symbolic link:
// deleting the map removes the link, not dir).
func (r *Registry) Add(ctx context.Context, dir, id string) (localapi.MapInfo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return localapi.MapInfo{}, localapi.BadRequest("dir", "%v", err)
	}
	if id == "" {
		id = filepath.Base(abs)
	}
	if !localapi.ValidID(id) {
		return localapi.MapInfo{}, localapi.BadRequest("id", "map id %q must be 1-128 letters, digits, '.', '_' or '-'", id)
	}
	if _, err := os.Stat(filepath.Join(abs, "package.json")); err != nil {
		return localapi.MapInfo{}, localapi.BadRequest("dir", "%s is not a complete offline package (no package.json)", dir)
	}
	target := r.Dir(id)
	if same, _ := sameDir(abs, target); !same {
		if _, err := os.Lstat(target); err == nil {
			return localapi.MapInfo{}, &localapi.Error{Status: 409, Code: "exists", Field: "id", Message: fmt.Sprintf("a map %q exists already", id)}
		}
		if err := os.Symlink(abs, target); err != nil {
			return localapi.MapInfo{}, fmt.Errorf("add map %s: %w", id, err)
		}
	}
	r.mu.Lock()
	known := r.has(id) && !r.deleted[id]
	r.mu.Unlock()
	if known {
		return localapi.MapInfo{}, &localapi.Error{Status: 409, Code: "exists", Field: "id", Message: fmt.Sprintf("a map %q is registered already", id)}
	}
	if err := r.Register(id); err != nil {
		return localapi.MapInfo{}, err
	}
	return r.Get(ctx, id)
}

// sameDir reports whether a and b are the same directory.
func sameDir(a, b string) (bool, error) {
	fa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	fb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(fa, fb), nil
}

// Replicas lists the replicas the daemon knows: those of registered maps,
// those orphaned (package removed by hand) and those queued for
// unregistration.
func (r *Registry) Replicas(ctx context.Context) ([]localapi.ReplicaInfo, error) {
	r.mu.Lock()
	var out []localapi.ReplicaInfo
	for _, m := range r.doc.Maps {
		if r.deleted[m.ID] {
			continue
		}
		for _, rr := range m.Replicas {
			out = append(out, replicaInfo(rr, localapi.ReplicaRegistered))
		}
	}
	for _, rr := range r.doc.Orphans {
		out = append(out, replicaInfo(rr, localapi.ReplicaOrphaned))
	}
	r.mu.Unlock()
	for _, p := range r.Pending() {
		out = append(out, localapi.ReplicaInfo{ServiceURL: p.ServiceURL, ReplicaID: p.ReplicaID, State: localapi.ReplicaUnregistering})
	}
	if out == nil {
		out = []localapi.ReplicaInfo{}
	}
	return out, nil
}

func replicaInfo(rr replicaRecord, state localapi.ReplicaState) localapi.ReplicaInfo {
	return localapi.ReplicaInfo{MapID: rr.MapID, Service: rr.Service, ServiceURL: rr.ServiceURL, ReplicaID: rr.ReplicaID, State: state}
}

// CleanupOrphans queues every orphaned replica for unregistration
// (durably), forgets the orphans and tries the queue.
func (r *Registry) CleanupOrphans(ctx context.Context) (localapi.CleanupResult, error) {
	r.mu.Lock()
	orphans := slices.Clone(r.doc.Orphans)
	r.mu.Unlock()
	for _, o := range orphans {
		if err := r.unreg.Add(o.ServiceURL, o.ReplicaID); err != nil {
			return localapi.CleanupResult{}, fmt.Errorf("cleanup replicas: %w", err)
		}
	}
	r.mu.Lock()
	r.doc.Orphans = slices.DeleteFunc(r.doc.Orphans, func(o replicaRecord) bool { return slices.Contains(orphans, o) })
	err := r.saveLocked()
	r.mu.Unlock()
	if err != nil {
		return localapi.CleanupResult{}, err
	}
	r.RetryUnregister(ctx)
	return localapi.CleanupResult{Queued: len(orphans), PendingUnregister: len(r.Pending())}, nil
}

// rescanDelay is how long the packages/ watcher waits after the last
// change before it rescans (a package is many files).
const rescanDelay = 500 * time.Millisecond
