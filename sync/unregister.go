package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/atomicfile"
)

// Unregistration is one replica to unregister from its service.
type Unregistration struct {
	ServiceURL string    `json:"serviceUrl"`
	ReplicaID  string    `json:"replicaId"`
	Added      time.Time `json:"added"`
	Attempts   int       `json:"attempts"`
	LastError  string    `json:"lastError,omitempty"`
}

// Unregisterer unregisters a replica on its feature service.
// *arcgis.Client (and every Client) implements it.
type Unregisterer interface {
	UnregisterReplica(ctx context.Context, svcURL, replicaID string) error
}

// UnregisterQueue persists replicas to unregister (from deleted packages,
// canceled or failed jobs) in a JSON file, written durably through
// atomicfile, and unregisters them when the server is reachable. It is the
// daemon's one unregister queue. It is safe for concurrent use.
type UnregisterQueue struct {
	path  string
	c     Unregisterer
	mu    stdsync.Mutex
	added chan struct{}
}

// OpenUnregisterQueue opens (or starts) the queue stored at path. With a nil
// c, replicas are only queued (Drain leaves them).
func OpenUnregisterQueue(path string, c Unregisterer) *UnregisterQueue {
	return &UnregisterQueue{path: path, c: c, added: make(chan struct{}, 1)}
}

// Added receives a value (coalesced) after a replica was queued, so a
// retry loop can sleep without a timer while the queue is empty.
func (q *UnregisterQueue) Added() <-chan struct{} { return q.added }

func (q *UnregisterQueue) load() ([]Unregistration, error) {
	b, err := os.ReadFile(q.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read unregister queue: %w", err)
	}
	var out []Unregistration
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("read unregister queue %s: %w", q.path, err)
	}
	return out, nil
}

func (q *UnregisterQueue) store(list []Unregistration) error {
	b, err := json.MarshalIndent(list, "", " ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(q.path), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(q.path, b, 0o600); err != nil {
		return fmt.Errorf("write unregister queue: %w", err)
	}
	return nil
}

// Add queues a replica (duplicates, and replicas without an id or service
// URL, which could never be unregistered, are ignored).
func (q *UnregisterQueue) Add(svcURL, replicaID string) error {
	if svcURL == "" || replicaID == "" {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	list, err := q.load()
	if err != nil {
		return err
	}
	for _, u := range list {
		if u.ServiceURL == svcURL && u.ReplicaID == replicaID {
			return nil
		}
	}
	if err := q.store(append(list, Unregistration{ServiceURL: svcURL, ReplicaID: replicaID, Added: time.Now().UTC()})); err != nil {
		return err
	}
	select {
	case q.added <- struct{}{}:
	default:
	}
	return nil
}

// AddPackage queues the replica of a package's GeoPackage (called before
// the package is deleted). GeoPackages without a replica add nothing.
func (q *UnregisterQueue) AddPackage(ctx context.Context, db *geodb.DB) error {
	cfg, err := LoadConfig(ctx, db)
	if err != nil || cfg.ReplicaID == "" || cfg.Mode != ModeReplica {
		return nil
	}
	return q.Add(cfg.ServiceURL, cfg.ReplicaID)
}

// Pending lists the queued replicas.
func (q *UnregisterQueue) Pending() ([]Unregistration, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.load()
}

// Drain tries every queued replica once. Unregistered replicas (and ones
// the server no longer knows) leave the queue; the others stay with their
// error. It returns the number left.
func (q *UnregisterQueue) Drain(ctx context.Context) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	list, err := q.load()
	if err != nil {
		return 0, err
	}
	if q.c == nil || len(list) == 0 {
		return len(list), nil
	}
	var left []Unregistration
	var errs []error
	for _, u := range list {
		if ctx.Err() != nil {
			left = append(left, u)
			continue
		}
		err := q.c.UnregisterReplica(ctx, u.ServiceURL, u.ReplicaID)
		if err == nil || Gone(err) {
			continue
		}
		u.Attempts++
		u.LastError = err.Error()
		left = append(left, u)
		errs = append(errs, fmt.Errorf("unregister replica %s on %s: %w", u.ReplicaID, u.ServiceURL, err))
	}
	if err := q.store(left); err != nil {
		return len(left), err
	}
	return len(left), errors.Join(errs...)
}

// Gone reports whether err says the server does not know the replica (or
// its service): unregistering it is then done, not to be retried.
func Gone(err error) bool {
	if arcgis.IsNotFound(err) {
		return true
	}
	var ae *arcgis.Error
	return errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Error()), "does not exist")
}

// Run drains the queue until it is empty or ctx ends, retrying with
// exponential backoff between min and max.
func (q *UnregisterQueue) Run(ctx context.Context, minWait, maxWait time.Duration) error {
	wait := minWait
	for {
		left, _ := q.Drain(ctx)
		if left == 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, maxWait)
	}
}
