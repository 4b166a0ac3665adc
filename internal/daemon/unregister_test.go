package daemon

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	editsync "github.com/offlined/offlined/sync"
)

// A map deleted while reconcile is between getting a store's engine and
// starting its scheduler gets no scheduler (issue 11 live bug 5: the
// scheduler used to start on the closed, deleted store): the map's owner,
// closed by the delete, starts none.
func TestDeleteDuringReconcileStartsNoScheduler(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, true)
	ctx := t.Context()
	owner, err := e.reg.owner("demo") // the one reconcile gets
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	e.syncer.beforeStart = func(id string) {
		if deleted {
			return
		}
		deleted = true
		if err := e.reg.Delete(ctx, id); err != nil {
			t.Errorf("delete %s: %v", id, err)
		}
	}
	e.syncer.reconcile(ctx, editsync.SchedulerOptions{Interval: time.Hour})
	if !deleted {
		t.Fatal("reconcile found no store to schedule")
	}
	if n := owner.schedulers(); n != 0 {
		t.Fatalf("%d schedulers running after the map was deleted", n)
	}
	if _, err := os.Stat(e.reg.Dir("demo")); !os.IsNotExist(err) {
		t.Fatalf("package directory after delete: %v", err)
	}
}

// A queued replica the server no longer knows counts as unregistered: it
// leaves the queue instead of being retried forever.
func TestUnregisterNotFoundIsDone(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, false)
	q := editsync.OpenUnregisterQueue(filepath.Join(e.root, UnregisterFile), e.client)
	if err := q.Add(e.svcURL, "{00000000-0000-0000-0000-000000000000}"); err != nil {
		t.Fatal(err)
	}
	if p := e.reg.Pending(); len(p) != 1 {
		t.Fatalf("pending before retry: %+v", p)
	}
	e.reg.RetryUnregister(t.Context())
	if p := e.reg.Pending(); len(p) != 0 {
		t.Fatalf("pending after the server said the replica does not exist: %+v", p)
	}
}

// Replicas queued in registry.json by an older version move to the one
// unregister queue (unregister.json) when the registry opens.
func TestRegistryMovesLegacyQueue(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	legacy := `{"maps":[],"pendingUnregister":[{"serviceUrl":"https://example.com/FeatureServer","replicaId":"r1"}]}`
	if err := os.WriteFile(filepath.Join(root, RegistryFile), []byte(legacy), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	p := reg.Pending()
	if len(p) != 1 || p[0].ReplicaID != "r1" || p[0].ServiceURL != "https://example.com/FeatureServer" {
		t.Fatalf("queue after opening: %+v", p)
	}
	b, err := os.ReadFile(filepath.Join(root, RegistryFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc["pendingUnregister"]; ok {
		t.Fatalf("registry.json still holds a queue: %s", b)
	}
	// Reopening (a restart) keeps one entry, not two.
	reg2, err := OpenRegistry(root, RegistryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	if p := reg2.Pending(); len(p) != 1 {
		t.Fatalf("queue after reopening: %+v", p)
	}
}
