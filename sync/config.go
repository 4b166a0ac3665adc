package sync

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// Policy is the conflict policy (see the package documentation).
type Policy string

// Conflict policies.
const (
	LastSyncWins Policy = "lastSyncWins"
	DeviceWins   Policy = "deviceWins"
	ServerWins   Policy = "serverWins"
	FieldMerge   Policy = "fieldMerge"
)

// Policies returns every conflict policy.
func Policies() []Policy { return []Policy{LastSyncWins, ServerWins, DeviceWins, FieldMerge} }

// ParsePolicy returns the policy named s (as spelled in Policies).
func ParsePolicy(s string) (Policy, error) {
	for _, p := range Policies() {
		if string(p) == s {
			return p, nil
		}
	}
	return "", fmt.Errorf("unknown conflict policy %q: want lastSyncWins, serverWins, deviceWins or fieldMerge", s)
}

// Mode is how a GeoPackage is kept in step with its service.
type Mode string

// Modes.
const (
	// ModeReplica syncs a replica with synchronizeReplica.
	ModeReplica Mode = "replica"
	// ModeApplyEdits uploads edits with applyEdits (useGlobalIds) to a
	// service without Sync and refreshes by query.
	ModeApplyEdits Mode = "applyEdits"
	// ModeSnapshot refreshes read-only layers by re-query.
	ModeSnapshot Mode = "snapshot"
)

// Config is a GeoPackage's sync configuration, stored in its offlined_meta
// under ConfigKey.
type Config struct {
	ServiceURL string `json:"serviceUrl"`
	Mode       Mode   `json:"mode"`
	ReplicaID  string `json:"replicaId,omitempty"`
	// SyncModel is perReplica or perLayer.
	SyncModel string `json:"syncModel,omitempty"`
	// Direction is the direction the replica was created with
	// (bidirectional, upload, download); UserDirection, when set, is the
	// direction the user chose within it. LayerDirections override them per
	// layer (on the wire with perLayer replicas; with perReplica replicas the
	// replica syncs the union and each layer's edits are sent or applied by
	// its own direction).
	Direction       string         `json:"direction,omitempty"`
	UserDirection   string         `json:"userDirection,omitempty"`
	LayerDirections map[int]string `json:"layerDirections,omitempty"`
	// AttachmentsSyncDirection is none, upload or bidirectional.
	AttachmentsSyncDirection string `json:"attachmentsSyncDirection,omitempty"`
	// RollbackOnFailure nil means true.
	RollbackOnFailure *bool `json:"rollbackOnFailure,omitempty"`
	// Async uses async synchronizeReplica jobs (when the service supports them).
	Async  bool   `json:"async,omitempty"`
	Policy Policy `json:"policy,omitempty"`
	// ChunkThreshold is the attachment size above which uploads use
	// register + uploadPart + commit (default 8 MiB); PartSize is the part
	// size (default 4 MiB).
	ChunkThreshold int64 `json:"chunkThreshold,omitempty"`
	PartSize       int   `json:"partSize,omitempty"`
	// VerifyHash downloads uploaded attachments to check their SHA-256 (the
	// size is always checked). nil means true.
	VerifyHash *bool `json:"verifyHash,omitempty"`
	// Embedded asks for the answer in the response body
	// (esriTransportTypeEmbedded) instead of a result file. Files are
	// streamed from disk (bounded memory); embedded answers are decoded
	// whole.
	Embedded bool `json:"embedded,omitempty"`
	// EditsInlineMax is the size of the edits JSON above which it is
	// uploaded as a file and named by editsUploadID (default 2 MiB).
	EditsInlineMax int64 `json:"editsInlineMax,omitempty"`
}

// ConfigKey is the offlined_meta key of the sync configuration.
const ConfigKey = "offlined_sync_config"

func (c *Config) withDefaults() Config {
	o := *c
	if o.Mode == "" {
		o.Mode = ModeReplica
	}
	if o.SyncModel == "" {
		o.SyncModel = arcgis.SyncModelPerReplica
	}
	if o.Direction == "" {
		o.Direction = arcgis.SyncBidirectional
	}
	if o.AttachmentsSyncDirection == "" {
		o.AttachmentsSyncDirection = "bidirectional"
	}
	if o.Policy == "" {
		o.Policy = LastSyncWins
	}
	if o.ChunkThreshold <= 0 {
		o.ChunkThreshold = 8 << 20
	}
	if o.EditsInlineMax <= 0 {
		o.EditsInlineMax = 2 << 20
	}
	if o.PartSize <= 0 {
		o.PartSize = 4 << 20
	}
	return o
}

func (c *Config) rollback() bool   { return c.RollbackOnFailure == nil || *c.RollbackOnFailure }
func (c *Config) verifyHash() bool { return c.VerifyHash == nil || *c.VerifyHash }

// replicaDirection returns the replica-wide direction of the next sync.
func (c *Config) replicaDirection() string {
	if c.UserDirection != "" {
		return c.UserDirection
	}
	return c.Direction
}

// direction returns the sync direction of a layer.
func (c *Config) direction(layer int) string {
	if d, ok := c.LayerDirections[layer]; ok && d != "" {
		return d
	}
	return c.replicaDirection()
}

// wireDirection is the syncDirection of a perReplica synchronizeReplica:
// the union of the layers' directions.
func (c *Config) wireDirection(layers []int) string {
	up, down := false, false
	for _, id := range layers {
		d := c.direction(id)
		up = up || d != arcgis.SyncDownload
		down = down || d != arcgis.SyncUpload
	}
	switch {
	case up && !down:
		return arcgis.SyncUpload
	case down && !up:
		return arcgis.SyncDownload
	case !up && !down:
		return c.replicaDirection()
	}
	return arcgis.SyncBidirectional
}

func (c *Config) uploads(layer int) bool {
	d := c.direction(layer)
	return c.Mode != ModeSnapshot && (d == arcgis.SyncBidirectional || d == arcgis.SyncUpload)
}

func (c *Config) downloads(layer int) bool {
	d := c.direction(layer)
	return d == arcgis.SyncBidirectional || d == arcgis.SyncDownload || c.Mode == ModeSnapshot
}

func (c *Config) attachmentsUp() bool {
	return c.AttachmentsSyncDirection == "upload" || c.AttachmentsSyncDirection == "bidirectional"
}

// LoadConfig reads the sync configuration of db. When none is stored it is
// derived from the stored replica and service (replica mode when a replica
// exists).
func LoadConfig(ctx context.Context, db *geodb.DB) (Config, error) {
	v, ok, err := db.Meta(ctx, ConfigKey)
	if err != nil {
		return Config{}, err
	}
	if ok {
		var c Config
		if err := json.Unmarshal([]byte(v), &c); err != nil {
			return Config{}, fmt.Errorf("sync config of %s: %w", db.Path(), err)
		}
		return c, nil
	}
	rp, err := db.Replica(ctx)
	if err != nil {
		return Config{}, err
	}
	if rp == nil {
		return Config{}, fmt.Errorf("sync config of %s: none stored and no replica", db.Path())
	}
	return Config{Mode: ModeReplica, ReplicaID: rp.ReplicaID, SyncModel: rp.SyncModel, Direction: rp.SyncDirection,
		AttachmentsSyncDirection: rp.AttachmentsSyncDirection}, nil
}

// SaveConfig stores c in db.
func SaveConfig(ctx context.Context, db *geodb.DB, c Config) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return db.SetMeta(ctx, ConfigKey, string(b))
}
