package offline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
	editsync "github.com/offlined/offlined/sync"
)

// offlineUnregisterer fails as an unreachable server would.
type offlineUnregisterer struct{}

func (offlineUnregisterer) UnregisterReplica(context.Context, string, string) error {
	return errors.New("dial tcp: connection refused")
}

// Package.Delete goes through the one unregister queue: offline, the
// package is removed and its replicas stay queued (durably, in the queue
// file); online again, draining the queue unregisters them.
func TestPackageDeleteQueuesReplicas(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	res, pkg := offlinetest.OpenPackage(t, em, offlinetest.Options{})
	reps := pkg.Replicas()
	if len(reps) == 0 {
		t.Fatal("the demo package has no replica")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "unregister.json")
	if err := pkg.Delete(ctx, editsync.OpenUnregisterQueue(path, offlineUnregisterer{})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(res.Dir); !os.IsNotExist(err) {
		t.Fatalf("package directory after delete: %v", err)
	}
	q := editsync.OpenUnregisterQueue(path, offlinetest.Client(t, em))
	p, err := q.Pending()
	if err != nil || len(p) != len(reps) {
		t.Fatalf("queued after an offline delete: %+v %v, want %d", p, err, len(reps))
	}
	registered := func(ml *offline.ManifestLayer) bool {
		svc := strings.TrimSuffix(strings.TrimPrefix(ml.ServiceURL, em.ServicesURL+"/"), "/FeatureServer")
		for _, r := range em.Replicas(svc) {
			if r.ReplicaID == ml.Replica.ID {
				return true
			}
		}
		return false
	}
	for _, ml := range reps {
		if !registered(ml) {
			t.Fatalf("replica %s of %s not registered before the drain", ml.Replica.ID, ml.ServiceURL)
		}
	}
	if left, err := q.Drain(ctx); left != 0 || err != nil {
		t.Fatalf("drain online: %d left, %v", left, err)
	}
	for _, ml := range reps {
		if registered(ml) {
			t.Errorf("replica %s still registered", ml.Replica.ID)
		}
	}
}

// A job canceled while its replica's service cannot unregister it queues
// the replica in JobOptions.Unregister (the daemon's one queue) instead of
// leaving it on the server (issue 11 live bug 5); draining the queue later
// unregisters it.
func TestCanceledJobQueuesReplicaItCannotUnregister(t *testing.T) {
	d := startDemo(t, false, 70000)
	em, c, task, p, o := d.em, d.c, d.task, d.p, d.o
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := editsync.OpenUnregisterQueue(filepath.Join(t.TempDir(), "unregister.json"), c)
	var job *offline.Job
	var once stdsync.Once
	job = task.NewJob(p, o, filepath.Join(t.TempDir(), "pkg"), offline.JobOptions{Client: c, PollInterval: 2 * time.Millisecond, Unregister: q,
		Hook: func(point string) {
			if point == "replicaCreated" {
				once.Do(func() {
					em.SetFaults(emulator.Faults{ErrorRate: 1, Paths: []string{"/unRegisterReplica"}})
					job.Cancel()
				})
			}
		}})
	res, _ := job.Run(ctx)
	if res == nil || !res.Canceled {
		t.Fatalf("result %+v, want canceled", res)
	}
	pending, err := q.Pending()
	if err != nil || len(pending) != 1 {
		t.Fatalf("queued after the cancel: %+v %v", pending, err)
	}
	if reps := em.Replicas("Field_Survey"); len(reps) != 1 {
		t.Fatalf("replicas on the server while unregistering fails: %d", len(reps))
	}
	em.SetFaults(emulator.Faults{})
	if left, err := q.Drain(ctx); left != 0 || err != nil {
		t.Fatalf("drain: %d left, %v", left, err)
	}
	if reps := em.Replicas("Field_Survey"); len(reps) != 0 {
		t.Fatalf("replicas left on the server after the drain: %+v", reps)
	}
}
