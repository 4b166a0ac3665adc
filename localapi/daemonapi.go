package localapi

import (
	"context"
	"encoding/json"
	"regexp"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/offline"
	editsync "github.com/offlined/offlined/sync"
	"github.com/offlined/offlined/tiles"
)

// Maps is the daemon's set of offline maps under <data root>/packages;
// internal/daemon implements it. Lookups of unknown maps, services and
// tile layers answer a 404 *Error; files that cannot be used a 409
// brokenPackage *Error.
type Maps interface {
	// Root returns the data root.
	Root() string
	// List returns every map, sorted by id.
	List(ctx context.Context) ([]MapInfo, error)
	// Get returns one map.
	Get(ctx context.Context, id string) (MapInfo, error)
	// Document returns a JSON document of the package: "package.json"
	// (the manifest) or "map.json" (the offline web map).
	Document(ctx context.Context, id, name string) (json.RawMessage, error)
	// FeatureStore returns the open GeoPackage of service svc of map id.
	FeatureStore(ctx context.Context, id, svc string) (*geodb.DB, error)
	// TileStore returns the open MBTiles of tile layer name of map id.
	TileStore(ctx context.Context, id, name string) (*tiles.Store, error)
	// ResourceDir returns the vector tile resources directory of a tile
	// layer.
	ResourceDir(id, name string) string
	// Delete removes a map, queueing its replicas for unregistration.
	Delete(ctx context.Context, id string) error
	// Pending returns the replicas still to be unregistered.
	Pending() []editsync.Unregistration
}

// MapInfo describes a registered offline map.
type MapInfo struct {
	ID         string      `json:"id"`
	Title      string      `json:"title"`
	Registered time.Time   `json:"registered"`
	Complete   bool        `json:"complete"` // package.json present
	Services   []string    `json:"services"`
	Layers     []LayerInfo `json:"layers"`
	TileLayers []string    `json:"tileLayers"`
	// Broken is set when a store or document of the package cannot be
	// used; Problems says which and why (paths relative to the package).
	// The map's other stores keep working; its broken feature stores are
	// left out of Services.
	Broken   bool     `json:"broken"`
	Problems []string `json:"problems,omitempty"`
	Dir      string   `json:"-"`
}

// LayerInfo describes one layer or table of an offline map.
type LayerInfo struct {
	ID             string `json:"id"` // "<service>.<layer id>"
	Service        string `json:"service"`
	LayerID        int    `json:"layerId"`
	Name           string `json:"name"`
	Type           string `json:"type"` // Feature Layer or Table
	GeometryType   string `json:"geometryType,omitempty"`
	HasAttachments bool   `json:"hasAttachments"`
}

// ServiceResult is the outcome of syncing one service of a map.
type ServiceResult struct {
	Service string           `json:"service"`
	Report  *editsync.Report `json:"report,omitempty"`
	Error   string           `json:"error,omitempty"`
	// NeedsAuth is set when the service refused its credentials (needsauth.go).
	NeedsAuth *NeedsAuth `json:"needsAuth,omitempty"`
}

// validID is the form of map ids (directory names under packages/).
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// ValidID reports whether id may name a map, a service or a tile layer:
// 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit.
func ValidID(id string) bool { return validID.MatchString(id) }

// BadRequest returns the 400 invalidParameter error naming field.
func BadRequest(field, format string, args ...any) *Error { return badRequest(field, format, args...) }

// NotFound returns the 404 notFound error naming field.
func NotFound(field, format string, args ...any) *Error { return notFound(field, format, args...) }

// Message returns the message err answers with (the one of its *Error, or
// of the error it maps to).
func Message(err error) string { return toAPIError(err).Message }

// terminal reports whether a job in state has finished for good.
func terminal(state offline.JobState) bool {
	return state == offline.JobSucceeded || state == offline.JobFailed || state == offline.JobCanceled
}

// Packages adopts package directories and keeps the record of the
// replicas of registered maps; internal/daemon's Registry implements it.
type Packages interface {
	// Add registers an existing package directory as map id (default:
	// the directory's name).
	Add(ctx context.Context, dir, id string) (MapInfo, error)
	// Replicas lists the replicas the daemon knows.
	Replicas(ctx context.Context) ([]ReplicaInfo, error)
	// CleanupOrphans unregisters the replicas of packages removed by hand.
	CleanupOrphans(ctx context.Context) (CleanupResult, error)
}

// ReplicaState says where a replica known to the daemon stands.
type ReplicaState string

// Replica states.
const (
	// ReplicaRegistered: the replica of a registered map's store.
	ReplicaRegistered ReplicaState = "registered"
	// ReplicaOrphaned: its package directory was removed by hand; cleanup
	// unregisters it.
	ReplicaOrphaned ReplicaState = "orphaned"
	// ReplicaUnregistering: queued for unregistration (retried until the
	// server confirms).
	ReplicaUnregistering ReplicaState = "unregistering"
)

// ReplicaInfo is a replica known to the daemon.
type ReplicaInfo struct {
	MapID      string       `json:"mapId,omitempty"`
	Service    string       `json:"service,omitempty"`
	ServiceURL string       `json:"serviceUrl"`
	ReplicaID  string       `json:"replicaId"`
	State      ReplicaState `json:"state"`
}

// CleanupResult is the outcome of cleaning up orphaned replicas.
type CleanupResult struct {
	// Queued is how many orphaned replicas were queued for unregistration.
	Queued int `json:"queued"`
	// PendingUnregister is how many replicas are still queued (the server
	// could not be reached for them).
	PendingUnregister int `json:"pendingUnregister"`
}
