package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/geodb"
	editsync "github.com/offlined/offlined/sync"
)

// EngineSyncer implements Syncer with one sync engine per GeoPackage,
// publishing "sync/<map>" events. Background syncs run under the context
// given to NewEngineSyncer; Wait waits for them.
type EngineSyncer struct {
	reg    *Registry
	client editsync.Client
	hub    *Hub
	log    *slog.Logger
	ctx    context.Context
	policy editsync.Policy // default conflict policy
	// defaults: daemon-wide sync direction and rollbackOnFailure.
	defaults    editsync.Defaults
	stepTimeout time.Duration // progress deadline of a sync step (0: the engine's)

	mu      stdsync.Mutex
	engines map[*geodb.DB]*editsync.Engine
	engMap  map[*geodb.DB]string // map id of each engine's store
	scheds  map[*geodb.DB]*schedRun
	wg      stdsync.WaitGroup

	// beforeStart, when set (tests), runs in reconcile between getting a
	// store's engine and starting its scheduler.
	beforeStart func(mapID string)
}

// schedRun is one running sync scheduler.
type schedRun struct {
	mapID  string
	cancel context.CancelFunc
	done   chan struct{}
}

// NewEngineSyncer returns a Syncer using client for every map in reg.
func NewEngineSyncer(ctx context.Context, reg *Registry, client editsync.Client, hub *Hub, log *slog.Logger) *EngineSyncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EngineSyncer{reg: reg, client: client, hub: hub, log: log, ctx: ctx, engines: map[*geodb.DB]*editsync.Engine{}, engMap: map[*geodb.DB]string{}, scheds: map[*geodb.DB]*schedRun{}}
}

func (e *EngineSyncer) engine(ctx context.Context, mapID, svc string) (*editsync.Engine, error) {
	db, err := e.reg.FeatureStore(ctx, mapID, svc)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if eng := e.engines[db]; eng != nil {
		return eng, nil
	}
	if err := e.ensureConfig(ctx, mapID, svc, db); err != nil {
		return nil, err
	}
	topic := "sync/" + mapID
	eng := editsync.New(db, e.client, editsync.Options{Logger: e.log, DefaultPolicy: e.policy, Defaults: e.defaults, StepTimeout: e.stepTimeout,
		OnProgress: func(p editsync.Progress) { e.hub.Publish(topic, "progress", syncProgress{Service: svc, Progress: p}) }})
	e.engines[db] = eng
	e.engMap[db] = mapID
	return eng, nil
}

// SetDefaultPolicy sets the conflict policy of maps that have none set
// (the daemon configuration's); call it before the first sync.
func (e *EngineSyncer) SetDefaultPolicy(p editsync.Policy) { e.policy = p }

// SetDefaults sets the sync direction and rollbackOnFailure of maps that
// have none set (the daemon configuration's); call it before the first sync.
func (e *EngineSyncer) SetDefaults(d editsync.Defaults) { e.defaults = d }

// SetStepTimeout sets the progress deadline of one sync step (0: the
// engine's default); call it before the first sync.
func (e *EngineSyncer) SetStepTimeout(d time.Duration) { e.stepTimeout = d }

// CancelSync implements Syncer.
func (e *EngineSyncer) CancelSync(ctx context.Context, mapID string) (bool, error) {
	engs, err := e.mapEngines(ctx, mapID)
	if err != nil {
		return false, err
	}
	cancelled := false
	for _, se := range engs {
		cancelled = se.Engine.Cancel() || cancelled
	}
	return cancelled, nil
}

// SyncSettings implements Syncer.
func (e *EngineSyncer) SyncSettings(ctx context.Context, mapID string, u editsync.SettingsUpdate, layers map[string]string) (map[string]editsync.Settings, error) {
	engs, err := e.mapEngines(ctx, mapID)
	if err != nil {
		return nil, err
	}
	return editsync.UpdateServices(ctx, engs, u, layers)
}

// Pending implements Syncer.
func (e *EngineSyncer) Pending(ctx context.Context, mapID string) (map[string]*editsync.Preview, error) {
	engs, err := e.mapEngines(ctx, mapID)
	if err != nil {
		return nil, err
	}
	return editsync.PreviewServices(ctx, engs)
}

// mapEngines returns the engine of every service of a map.
func (e *EngineSyncer) mapEngines(ctx context.Context, mapID string) ([]editsync.ServiceEngine, error) {
	mi, err := e.reg.Get(ctx, mapID)
	if err != nil {
		return nil, err
	}
	var engs []editsync.ServiceEngine
	for _, svc := range mi.Services {
		eng, err := e.engine(ctx, mapID, svc)
		if err != nil {
			return nil, err
		}
		engs = append(engs, editsync.ServiceEngine{Service: svc, Engine: eng})
	}
	return engs, nil
}

// SetConflictPolicy implements Syncer: p is stored in the sync
// configuration of each of the map's feature stores.
func (e *EngineSyncer) SetConflictPolicy(ctx context.Context, mapID string, p editsync.Policy) error {
	mi, err := e.reg.Get(ctx, mapID)
	if err != nil {
		return err
	}
	for _, svc := range mi.Services {
		eng, err := e.engine(ctx, mapID, svc)
		if err != nil {
			return err
		}
		if err := eng.SetPolicy(ctx, p); err != nil {
			return fmt.Errorf("set conflict policy of %s/%s: %w", mapID, svc, err)
		}
	}
	return nil
}

// ServiceResult is the outcome of syncing one service of a map.
type ServiceResult struct {
	Service string           `json:"service"`
	Report  *editsync.Report `json:"report,omitempty"`
	Error   string           `json:"error,omitempty"`
}

// Sync implements Syncer.
func (e *EngineSyncer) Sync(ctx context.Context, mapID string) ([]ServiceResult, error) {
	mi, err := e.reg.Get(ctx, mapID)
	if err != nil {
		return nil, err
	}
	topic := "sync/" + mapID
	var out []ServiceResult
	for _, svc := range mi.Services {
		eng, err := e.engine(ctx, mapID, svc)
		if err != nil {
			return nil, err
		}
		e.hub.Publish(topic, "started", map[string]string{"service": svc})
		rep, err := eng.Sync(ctx)
		res := ServiceResult{Service: svc, Report: rep}
		if err != nil {
			res.Error = err.Error()
			e.log.Warn("sync failed", "map", mapID, "service", svc, "err", err)
			e.hub.Publish(topic, "failed", res)
		} else {
			e.hub.Publish(topic, "finished", res)
		}
		out = append(out, res)
	}
	return out, nil
}

// SyncAsync implements Syncer.
func (e *EngineSyncer) SyncAsync(mapID string) error {
	if _, err := e.reg.Get(e.ctx, mapID); err != nil {
		return err
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.Sync(e.ctx, mapID)
	}()
	return nil
}

// SyncAll syncs every registered map (the daemon's interval).
func (e *EngineSyncer) SyncAll(ctx context.Context) {
	maps, err := e.reg.List(ctx)
	if err != nil {
		e.log.Warn("sync: list maps", "err", err)
		return
	}
	for _, m := range maps {
		if ctx.Err() != nil {
			return
		}
		e.Sync(ctx, m.ID)
	}
}

// Wait waits for background syncs.
func (e *EngineSyncer) Wait() { e.wg.Wait() }

// Status implements Syncer.
func (e *EngineSyncer) Status(ctx context.Context, mapID string) (map[string]editsync.Status, error) {
	mi, err := e.reg.Get(ctx, mapID)
	if err != nil {
		return nil, err
	}
	out := map[string]editsync.Status{}
	for _, svc := range mi.Services {
		db, err := e.reg.FeatureStore(ctx, mapID, svc)
		if err != nil {
			return nil, err
		}
		st, err := editsync.ReadStatus(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("sync status of %s: %w", svc, err)
		}
		out[svc] = st
	}
	return out, nil
}

// Conflicts implements Syncer.
func (e *EngineSyncer) Conflicts(ctx context.Context, mapID string) ([]ConflictInfo, error) {
	mi, err := e.reg.Get(ctx, mapID)
	if err != nil {
		return nil, err
	}
	var out []ConflictInfo
	for _, svc := range mi.Services {
		db, err := e.reg.FeatureStore(ctx, mapID, svc)
		if err != nil {
			return nil, err
		}
		cs, err := db.Conflicts(ctx)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			out = append(out, ConflictInfo{ID: svc + ":" + strconv.FormatInt(c.ID, 10), Service: svc, Table: c.Table, GlobalID: c.GlobalID,
				LocalOp: string(c.LocalOp), ServerOp: string(c.ServerOp), LocalVersion: rawOrNil(c.LocalVersion),
				ServerVersion: rawOrNil(c.ServerVersion), Resolution: c.Resolution, DetectedAt: c.DetectedAt})
		}
	}
	return out, nil
}

// rawOrNil returns b, or nil (JSON null) when it is empty.
func rawOrNil(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Resolve implements Syncer.
func (e *EngineSyncer) Resolve(ctx context.Context, mapID, conflictID, choice string) error {
	svc, n, _ := strings.Cut(conflictID, ":")
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil {
		return notFound("conflict", "no conflict %q", conflictID)
	}
	cs, err := e.Conflicts(ctx, mapID)
	if err != nil {
		return err
	}
	found := false
	for _, c := range cs {
		if c.ID == conflictID {
			found = true
			if c.Resolution != "pending" {
				return &Error{Status: 409, Code: "alreadyResolved", Field: "conflict", Message: "conflict " + conflictID + " was resolved as " + c.Resolution}
			}
		}
	}
	if !found {
		return notFound("conflict", "no conflict %q", conflictID)
	}
	eng, err := e.engine(ctx, mapID, svc)
	if err != nil {
		return err
	}
	return eng.ResolveConflict(ctx, id, choice)
}

// ensureConfig is a migration for packages written before the offline job
// stored each GeoPackage's sync configuration (sync.WriteStoreConfig): it
// derives one from the replica and the package manifest (which knows the
// service URL). Packages written now already have theirs.
func (e *EngineSyncer) ensureConfig(ctx context.Context, mapID, svc string, db *geodb.DB) error {
	if ok, err := editsync.HasConfig(ctx, db); err != nil || ok {
		return err
	}
	rep, err := db.Replica(ctx)
	if err != nil {
		return err
	}
	// Read-only snapshots (services without Sync) have no replica.
	cfg := editsync.Config{Mode: editsync.ModeSnapshot}
	if rep != nil {
		if cfg, err = editsync.LoadConfig(ctx, db); err != nil {
			return err
		}
	}
	if cfg.ServiceURL == "" {
		cfg.ServiceURL = e.reg.ServiceURL(ctx, mapID, svc, db)
	}
	if cfg.ServiceURL == "" {
		return fmt.Errorf("sync %s/%s: the service URL is unknown", mapID, svc)
	}
	return editsync.SaveConfig(ctx, db, cfg)
}

// RunSchedulers keeps a sync scheduler (sync on local change, on the
// interval, when connectivity returns) running for every feature store of
// every registered map, checking for new maps every recheck, until ctx
// ends; then it stops them all and returns.
func (e *EngineSyncer) RunSchedulers(ctx context.Context, opts editsync.SchedulerOptions, recheck time.Duration) {
	if opts.Logger == nil {
		opts.Logger = e.log
	}
	t := time.NewTicker(recheck)
	defer t.Stop()
	for {
		e.reconcile(ctx, opts)
		select {
		case <-ctx.Done():
			e.mu.Lock()
			runs := make([]*schedRun, 0, len(e.scheds))
			for db, r := range e.scheds {
				r.cancel()
				runs = append(runs, r)
				delete(e.scheds, db)
			}
			e.mu.Unlock()
			for _, r := range runs {
				<-r.done
			}
			return
		case <-t.C:
		}
	}
}

// reconcile starts schedulers for stores that have none.
func (e *EngineSyncer) reconcile(ctx context.Context, opts editsync.SchedulerOptions) {
	maps, err := e.reg.List(ctx)
	if err != nil {
		e.log.Warn("sync scheduler: list maps", "err", err)
		return
	}
	for _, m := range maps {
		for _, svc := range m.Services {
			eng, err := e.engine(ctx, m.ID, svc)
			if err != nil {
				e.log.Warn("sync scheduler: engine", "map", m.ID, "service", svc, "err", err)
				continue
			}
			if e.beforeStart != nil {
				e.beforeStart(m.ID)
			}
			e.mu.Lock()
			// A map deleted meanwhile (its StopMap already ran) gets no
			// scheduler: Registry.Delete marks it before calling StopMap.
			if e.scheds[eng.DB()] != nil || e.reg.Deleted(m.ID) {
				e.mu.Unlock()
				continue
			}
			sctx, cancel := context.WithCancel(ctx)
			r := &schedRun{mapID: m.ID, cancel: cancel, done: make(chan struct{})}
			e.scheds[eng.DB()] = r
			e.mu.Unlock()
			o := opts
			mapID, service := m.ID, svc
			o.OnStart = func() { e.hub.Publish("sync/"+mapID, "started", map[string]string{"service": service}) }
			o.OnSync = func(rep *editsync.Report, err error) {
				res := ServiceResult{Service: service, Report: rep}
				if err != nil {
					res.Error = err.Error()
					e.hub.Publish("sync/"+mapID, "failed", res)
					return
				}
				e.hub.Publish("sync/"+mapID, "finished", res)
			}
			sched := editsync.NewScheduler(eng, o)
			go func() {
				defer close(r.done)
				if err := sched.Run(sctx); err != nil && sctx.Err() == nil {
					e.log.Warn("sync scheduler stopped", "map", mapID, "service", service, "err", err)
				}
			}()
		}
	}
}

// StopMap stops the schedulers and forgets the engines of a map (before
// its stores are closed and deleted).
func (e *EngineSyncer) StopMap(mapID string) {
	e.mu.Lock()
	var runs []*schedRun
	for db, r := range e.scheds {
		if r.mapID == mapID {
			r.cancel()
			runs = append(runs, r)
			delete(e.scheds, db)
		}
	}
	for db, id := range e.engMap {
		if id == mapID {
			delete(e.engines, db)
			delete(e.engMap, db)
		}
	}
	e.mu.Unlock()
	for _, r := range runs {
		<-r.done
	}
}
