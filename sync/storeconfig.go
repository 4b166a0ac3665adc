package sync

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/offlined/offlined/geodb"
)

// LayersKey is the offlined_meta key of a GeoPackage's layer list with each
// layer's read-only status (see StoreLayers).
const LayersKey = "offlined_sync_layers"

// StoreLayer is one layer or table of a GeoPackage as its package writer
// knows it.
type StoreLayer struct {
	ID int `json:"id"`
	// ReadOnly: edits to the layer cannot go back to the service (a
	// snapshot, a replica without sync, or a layer the service does not let
	// the user edit).
	ReadOnly bool `json:"readOnly"`
}

// StoreInfo is what a package writer knows about a GeoPackage it has just
// built, enough to configure its sync before any sync runs.
type StoreInfo struct {
	// ServiceURL is the feature service the store came from.
	ServiceURL string
	// ReadOnly: nothing in the store syncs back (a snapshot of a service
	// without Sync, or a replica created with syncModel none).
	ReadOnly bool
	Layers   []StoreLayer
}

// WriteStoreConfig stores the sync configuration of a freshly built
// GeoPackage and its layers' read-only status. A store with a replica that
// can sync gets replica mode from the replica record (id, sync model,
// direction, attachment direction; the server generations stay in that
// record); a read-only store gets snapshot mode. It returns the stored
// configuration.
func WriteStoreConfig(ctx context.Context, db *geodb.DB, info StoreInfo) (Config, error) {
	if info.ServiceURL == "" {
		return Config{}, fmt.Errorf("sync config of %s: no service URL", db.Path())
	}
	rep, err := db.Replica(ctx)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{ServiceURL: info.ServiceURL, Mode: ModeSnapshot}
	if rep != nil {
		cfg.ReplicaID, cfg.SyncModel = rep.ReplicaID, rep.SyncModel
	}
	if rep != nil && !info.ReadOnly {
		cfg.Mode, cfg.Direction, cfg.AttachmentsSyncDirection = ModeReplica, rep.SyncDirection, rep.AttachmentsSyncDirection
	}
	layers := info.Layers
	if layers == nil {
		layers = []StoreLayer{}
	}
	b, err := json.Marshal(layers)
	if err != nil {
		return Config{}, err
	}
	if err := db.SetMeta(ctx, LayersKey, string(b)); err != nil {
		return Config{}, err
	}
	return cfg, SaveConfig(ctx, db, cfg)
}

// HasConfig reports whether db holds a sync configuration.
func HasConfig(ctx context.Context, db *geodb.DB) (bool, error) {
	_, ok, err := db.Meta(ctx, ConfigKey)
	return ok, err
}

// StoreLayers returns the layers recorded by WriteStoreConfig; nil for a
// store written before offlined recorded them.
func StoreLayers(ctx context.Context, db *geodb.DB) ([]StoreLayer, error) {
	v, ok, err := db.Meta(ctx, LayersKey)
	if err != nil || !ok {
		return nil, err
	}
	var out []StoreLayer
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, fmt.Errorf("sync layers of %s: %w", db.Path(), err)
	}
	return out, nil
}
