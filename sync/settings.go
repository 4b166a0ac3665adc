package sync

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/offlined/offlined/internal/arcgis"
)

// User-facing sync directions (the seed's OfflineMapSyncParameters
// syncDirection). Direction values on the wire and in Config are the
// ArcGIS ones (bidirectional, upload, download).
const (
	DirBidirectional = "bidirectional"
	DirUploadOnly    = "uploadOnly"
	DirDownloadOnly  = "downloadOnly"
)

// ParseDirection returns the ArcGIS direction of a user-facing one
// (bidirectional, uploadOnly, downloadOnly; upload and download are
// accepted too).
func ParseDirection(s string) (string, error) {
	switch s {
	case DirBidirectional:
		return arcgis.SyncBidirectional, nil
	case DirUploadOnly, arcgis.SyncUpload:
		return arcgis.SyncUpload, nil
	case DirDownloadOnly, arcgis.SyncDownload:
		return arcgis.SyncDownload, nil
	}
	return "", fmt.Errorf("unknown sync direction %q: want bidirectional, uploadOnly or downloadOnly", s)
}

// userDirection spells an ArcGIS direction the user-facing way.
func userDirection(d string) string {
	switch d {
	case arcgis.SyncUpload:
		return DirUploadOnly
	case arcgis.SyncDownload:
		return DirDownloadOnly
	}
	return DirBidirectional
}

// Settings are the sync parameters of one GeoPackage as the next sync
// uses them.
type Settings struct {
	ConflictPolicy Policy `json:"conflictPolicy"`
	// SyncDirection is bidirectional, uploadOnly or downloadOnly.
	SyncDirection string `json:"syncDirection"`
	// LayerDirections override SyncDirection per layer id.
	LayerDirections   map[int]string `json:"layerDirections"`
	RollbackOnFailure bool           `json:"rollbackOnFailure"`
	// ReplicaDirection is what the replica allows (a download-only replica
	// cannot upload).
	ReplicaDirection string `json:"replicaDirection"`
}

// SettingsUpdate changes sync parameters; nil fields are left as they are.
type SettingsUpdate struct {
	ConflictPolicy *string `json:"conflictPolicy,omitempty"`
	SyncDirection  *string `json:"syncDirection,omitempty"`
	// LayerDirections set per layer (keys: layer ids); the value "default"
	// removes a layer's override.
	LayerDirections   map[int]string `json:"layerDirections,omitempty"`
	RollbackOnFailure *bool          `json:"rollbackOnFailure,omitempty"`
}

// Empty reports whether u changes nothing.
func (u *SettingsUpdate) Empty() bool {
	return u == nil || (u.ConflictPolicy == nil && u.SyncDirection == nil && len(u.LayerDirections) == 0 && u.RollbackOnFailure == nil)
}

// SettingsError is an invalid SettingsUpdate; Field names the field.
type SettingsError struct {
	Field  string
	Reason string
}

func (e *SettingsError) Error() string { return e.Field + ": " + e.Reason }

// Defaults are the daemon-wide sync parameters of stores that set none.
type Defaults struct {
	Policy Policy
	// Direction is an ArcGIS direction ("" : the replica's).
	Direction string
	// RollbackOnFailure nil means true.
	RollbackOnFailure *bool
}

// effective applies d to c's unset user parameters.
func (d Defaults) effective(c Config) Config {
	if c.Policy == "" {
		c.Policy = d.Policy
	}
	if c.UserDirection == "" && d.Direction != "" && allows(c.Direction, d.Direction) {
		c.UserDirection = d.Direction
	}
	if c.RollbackOnFailure == nil {
		c.RollbackOnFailure = d.RollbackOnFailure
	}
	return c
}

// allows reports whether a replica created with direction replica can sync
// in direction want.
func allows(replica, want string) bool {
	return replica == "" || replica == arcgis.SyncBidirectional || replica == want
}

// Settings returns the sync parameters the next sync uses.
func (e *Engine) Settings(ctx context.Context) (Settings, error) {
	c, err := LoadConfig(ctx, e.db)
	if err != nil {
		return Settings{}, err
	}
	return e.settingsOf(c), nil
}

func (e *Engine) settingsOf(c Config) Settings {
	cfg := e.opts.Defaults.effective(c)
	if cfg.Policy == "" {
		cfg.Policy = e.opts.DefaultPolicy
	}
	cfg = cfg.withDefaults()
	s := Settings{ConflictPolicy: cfg.Policy, SyncDirection: userDirection(cfg.replicaDirection()), LayerDirections: map[int]string{},
		RollbackOnFailure: cfg.rollback(), ReplicaDirection: userDirection(cfg.Direction)}
	for id, d := range cfg.LayerDirections {
		s.LayerDirections[id] = userDirection(d)
	}
	return s
}

// UpdateSettings validates u and stores it in the store's sync
// configuration (kept across restarts); it takes effect from the next sync.
func (e *Engine) UpdateSettings(ctx context.Context, u SettingsUpdate) (Settings, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := LoadConfig(ctx, e.db)
	if err != nil {
		return Settings{}, err
	}
	if err := e.applyUpdate(&c, u); err != nil {
		return Settings{}, err
	}
	if err := SaveConfig(ctx, e.db, c); err != nil {
		return Settings{}, err
	}
	return e.settingsOf(c), nil
}

// CheckSettings validates u against the store without storing it.
func (e *Engine) CheckSettings(ctx context.Context, u SettingsUpdate) error {
	c, err := LoadConfig(ctx, e.db)
	if err != nil {
		return err
	}
	return e.applyUpdate(&c, u)
}

func (e *Engine) applyUpdate(c *Config, u SettingsUpdate) error {
	if u.ConflictPolicy != nil {
		p, err := ParsePolicy(*u.ConflictPolicy)
		if err != nil {
			return &SettingsError{"conflictPolicy", err.Error()}
		}
		c.Policy = p
	}
	if c.Mode == ModeSnapshot && (u.SyncDirection != nil || len(u.LayerDirections) > 0) {
		return &SettingsError{"syncDirection", "the store is a read-only snapshot: it only downloads"}
	}
	if u.SyncDirection != nil {
		d, err := ParseDirection(*u.SyncDirection)
		if err != nil {
			return &SettingsError{"syncDirection", err.Error()}
		}
		if !allows(c.Direction, d) {
			return &SettingsError{"syncDirection", fmt.Sprintf("the replica was created %s: it cannot sync %s", userDirection(c.Direction), userDirection(d))}
		}
		c.UserDirection = d
	}
	ids := slices.Sorted(maps.Keys(u.LayerDirections))
	for _, id := range ids {
		v := u.LayerDirections[id]
		field := "layerDirections." + strconv.Itoa(id)
		if e.db.TableByID(id) == nil {
			return &SettingsError{field, fmt.Sprintf("layer %d is not in this store", id)}
		}
		if v == "default" || v == "" {
			delete(c.LayerDirections, id)
			continue
		}
		d, err := ParseDirection(v)
		if err != nil {
			return &SettingsError{field, err.Error()}
		}
		if !allows(c.Direction, d) {
			return &SettingsError{field, fmt.Sprintf("the replica was created %s: layer %d cannot sync %s", userDirection(c.Direction), id, userDirection(d))}
		}
		if c.LayerDirections == nil {
			c.LayerDirections = map[int]string{}
		}
		c.LayerDirections[id] = d
	}
	if u.RollbackOnFailure != nil {
		v := *u.RollbackOnFailure
		c.RollbackOnFailure = &v
	}
	return nil
}

// ServiceEngine names the engine of one service of a map.
type ServiceEngine struct {
	Service string
	Engine  *Engine
}

// UpdateServices applies a map-wide update to the engines of a map's
// services: layer keys are "<service>.<layerId>" (the local API's layer
// ids). Every service is validated before any is changed. With u empty it
// only reads. It returns the settings per service.
func UpdateServices(ctx context.Context, engs []ServiceEngine, u SettingsUpdate, layerKeys map[string]string) (map[string]Settings, error) {
	per := map[string]SettingsUpdate{}
	for _, se := range engs {
		su := u
		su.LayerDirections = nil
		if c, err := LoadConfig(ctx, se.Engine.db); err == nil && c.Mode == ModeSnapshot {
			su.SyncDirection = nil // a map-wide direction leaves read-only snapshots alone
		}
		per[se.Service] = su
	}
	for _, k := range slices.Sorted(maps.Keys(layerKeys)) {
		svc, n, ok := strings.Cut(k, ".")
		id, err := strconv.Atoi(n)
		su, known := per[svc]
		if !ok || err != nil || !known {
			return nil, &SettingsError{"layerDirections." + k, "layer ids look like <service>.<layerId> and name a layer of the map"}
		}
		if su.LayerDirections == nil {
			su.LayerDirections = map[int]string{}
		}
		su.LayerDirections[id] = layerKeys[k]
		per[svc] = su
	}
	for _, se := range engs {
		if err := se.Engine.CheckSettings(ctx, per[se.Service]); err != nil {
			var sErr *SettingsError
			if asSettingsError(err, &sErr) && strings.HasPrefix(sErr.Field, "layerDirections.") {
				sErr.Field = "layerDirections." + se.Service + "." + strings.TrimPrefix(sErr.Field, "layerDirections.")
			}
			return nil, err
		}
	}
	out := map[string]Settings{}
	for _, se := range engs {
		var s Settings
		var err error
		if su := per[se.Service]; su.Empty() {
			s, err = se.Engine.Settings(ctx)
		} else {
			s, err = se.Engine.UpdateSettings(ctx, su)
		}
		if err != nil {
			return nil, fmt.Errorf("sync settings of %s: %w", se.Service, err)
		}
		out[se.Service] = s
	}
	return out, nil
}

func asSettingsError(err error, target **SettingsError) bool {
	se, ok := err.(*SettingsError)
	if ok {
		*target = se
	}
	return ok
}
