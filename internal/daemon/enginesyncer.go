package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/clock"
	"github.com/offlined/offlined/localapi"
	editsync "github.com/offlined/offlined/sync"
)

// EngineSyncer implements localapi.Syncer with one sync engine per
// GeoPackage, held by the map's owner, publishing "sync/<map>" events.
// Background syncs run under the context given to NewEngineSyncer; Wait
// waits for them. RunSchedulers keeps a scheduler per feature store,
// started through the map's owner (which refuses once the map is deleted).
type EngineSyncer struct {
	reg    *Registry
	client editsync.Client
	hub    *localapi.Hub
	log    *slog.Logger
	ctx    context.Context
	policy editsync.Policy // default conflict policy
	// defaults: daemon-wide sync direction and rollbackOnFailure.
	defaults    editsync.Defaults
	stepTimeout time.Duration // progress deadline of a sync step (0: the engine's)

	wg stdsync.WaitGroup

	// beforeStart, when set (tests), runs in reconcile between getting a
	// store's engine and starting its scheduler.
	beforeStart func(mapID string)
}

// NewEngineSyncer returns a Syncer using client for every map in reg.
func NewEngineSyncer(ctx context.Context, reg *Registry, client editsync.Client, hub *localapi.Hub, log *slog.Logger) *EngineSyncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &EngineSyncer{reg: reg, client: client, hub: hub, log: log, ctx: ctx}
}

func (e *EngineSyncer) engine(ctx context.Context, mapID, svc string) (*editsync.Engine, error) {
	db, err := e.reg.FeatureStore(ctx, mapID, svc)
	if err != nil {
		return nil, err
	}
	o, err := e.reg.owner(mapID)
	if err != nil {
		return nil, err
	}
	topic := "sync/" + mapID
	eng, err := o.engine(svc, func() (*editsync.Engine, error) {
		if err := e.ensureConfig(ctx, mapID, svc, db); err != nil {
			return nil, err
		}
		return editsync.New(db, e.client, editsync.Options{Logger: e.log, DefaultPolicy: e.policy, Defaults: e.defaults, StepTimeout: e.stepTimeout,
			OnProgress: func(p editsync.Progress) {
				e.hub.Publish(topic, "progress", localapi.SyncProgress{Service: svc, Progress: p})
			}}), nil
	})
	if errors.Is(err, errClosed) {
		return nil, localapi.NotFound("map", "no offline map %q", mapID)
	}
	return eng, err
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
	engs, err := e.mapEngines(ctx, mapID)
	if err != nil {
		return err
	}
	for _, se := range engs {
		if err := se.Engine.SetPolicy(ctx, p); err != nil {
			return fmt.Errorf("set conflict policy of %s/%s: %w", mapID, se.Service, err)
		}
	}
	return nil
}

// Sync implements Syncer.
func (e *EngineSyncer) Sync(ctx context.Context, mapID string) ([]localapi.ServiceResult, error) {
	mi, err := e.reg.Get(ctx, mapID)
	if err != nil {
		return nil, err
	}
	topic := "sync/" + mapID
	var out []localapi.ServiceResult
	for _, svc := range mi.Services {
		eng, err := e.engine(ctx, mapID, svc)
		if err != nil {
			return nil, err
		}
		e.hub.Publish(topic, "started", map[string]string{"service": svc})
		rep, err := eng.Sync(ctx)
		res := localapi.ServiceResult{Service: svc, Report: rep}
		if err != nil {
			res.Error = err.Error()
			res.NeedsAuth = localapi.NeedsAuthOf(ctx, eng, err)
			e.log.Warn("sync failed", "map", mapID, "service", svc, "err", err)
			e.hub.Publish(topic, "failed", res)
		} else {
			e.hub.Publish(topic, "finished", res)
			e.schemaChanged(ctx, mi, rep)
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
	out := map[string]editsync.Status{}
	err := e.reg.eachStore(ctx, mapID, func(svc string, db *geodb.DB) error {
		st, err := editsync.ReadStatus(ctx, db)
		if err != nil {
			return fmt.Errorf("sync status of %s: %w", svc, err)
		}
		out[svc] = st
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Conflicts implements Syncer.
func (e *EngineSyncer) Conflicts(ctx context.Context, mapID string) ([]localapi.ConflictInfo, error) {
	var out []localapi.ConflictInfo
	err := e.reg.eachStore(ctx, mapID, func(svc string, db *geodb.DB) error {
		cs, err := db.Conflicts(ctx)
		if err != nil {
			return err
		}
		for _, c := range cs {
			out = append(out, localapi.ConflictInfo{ID: svc + ":" + strconv.FormatInt(c.ID, 10), Service: svc, Table: c.Table, GlobalID: c.GlobalID,
				LocalOp: string(c.LocalOp), ServerOp: string(c.ServerOp), LocalVersion: rawOrNil(c.LocalVersion),
				ServerVersion: rawOrNil(c.ServerVersion), Resolution: c.Resolution, DetectedAt: c.DetectedAt})
		}
		return nil
	})
	if err != nil {
		return nil, err
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
		return localapi.NotFound("conflict", "no conflict %q", conflictID)
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
				return &localapi.Error{Status: 409, Code: "alreadyResolved", Field: "conflict", Message: "conflict " + conflictID + " was resolved as " + c.Resolution}
			}
		}
	}
	if !found {
		return localapi.NotFound("conflict", "no conflict %q", conflictID)
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
// every registered map until ctx ends; then it stops them all and returns.
// A map registered meanwhile gets its schedulers at once; stores that did
// not open are retried after recheck, the delay doubling while nothing is
// registered up to the probe's cap (opts.ProbeMax, default 10 min), so an
// idle daemon wakes no more often than its offline probe.
func (e *EngineSyncer) RunSchedulers(ctx context.Context, opts editsync.SchedulerOptions, recheck time.Duration) {
	if opts.Logger == nil {
		opts.Logger = e.log
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.Real()
	}
	recheckMax := recheckCap
	if opts.ProbeMax > 0 {
		recheckMax = opts.ProbeMax
	}
	recheckMax = max(recheckMax, recheck)
	delay := recheck
	t := clk.NewTimer(delay)
	defer t.Stop()
	for {
		e.reconcile(ctx, opts)
		select {
		case <-ctx.Done():
			for _, o := range e.reg.openOwners() {
				o.stopSchedulers(context.WithoutCancel(ctx))
			}
			return
		case <-e.reg.Added():
			delay = recheck
		case <-t.C():
			delay = min(delay*2, recheckMax)
			e.log.Debug("sync scheduler woke", "timer", "recheck", "next", delay)
		}
		t.Reset(delay)
	}
}

// recheckCap is the longest delay between two rechecks of the registry by
// RunSchedulers, the scheduler's default ProbeMax.
const recheckCap = 10 * time.Minute

// reconcile starts schedulers for stores that have none, through each
// map's owner: a map deleted meanwhile has a closed owner, which starts
// none.
func (e *EngineSyncer) reconcile(ctx context.Context, opts editsync.SchedulerOptions) {
	maps, err := e.reg.List(ctx)
	if err != nil {
		e.log.Warn("sync scheduler: list maps", "err", err)
		return
	}
	for _, m := range maps {
		o, err := e.reg.owner(m.ID)
		if err != nil {
			continue // deleted since List
		}
		for _, svc := range m.Services {
			eng, err := e.engine(ctx, m.ID, svc)
			if err != nil {
				e.log.Warn("sync scheduler: engine", "map", m.ID, "service", svc, "err", err)
				continue
			}
			if e.beforeStart != nil {
				e.beforeStart(m.ID)
			}
			so := opts
			mapID, service := m.ID, svc
			so.OnStart = func() { e.hub.Publish("sync/"+mapID, "started", map[string]string{"service": service}) }
			so.OnSync = func(rep *editsync.Report, err error) {
				res := localapi.ServiceResult{Service: service, Report: rep}
				if err != nil {
					res.Error = err.Error()
					e.hub.Publish("sync/"+mapID, "failed", res)
					return
				}
				e.hub.Publish("sync/"+mapID, "finished", res)
			}
			o.startScheduler(ctx, svc, func(sctx context.Context) {
				if err := editsync.NewScheduler(eng, so).Run(sctx); err != nil && sctx.Err() == nil {
					e.log.Warn("sync scheduler stopped", "map", mapID, "service", service, "err", err)
				}
			})
		}
	}
}
