package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/offline/offlinetest"
	editsync "github.com/offlined/offlined/sync"
)

// onServer reports whether the emulator knows replica id.
func (e *testEnv) onServer(id string) bool {
	for _, svc := range []string{"Field_Survey", "Reference_Data"} {
		for _, r := range e.em.Replicas(svc) {
			if r.ReplicaID == id {
				return true
			}
		}
	}
	return false
}

func (e *testEnv) replicas(t *testing.T, mapID string, state localapi.ReplicaState) []localapi.ReplicaInfo {
	t.Helper()
	all, err := e.reg.Replicas(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(all, func(r localapi.ReplicaInfo) bool { return r.MapID != mapID || r.State != state })
}

// Rescan adopts a package written into packages/ after the registry
// opened, and a package folder removed by hand leaves its replicas as
// orphans, which CleanupOrphans unregisters on the server.
func TestRescanAdoptsAndOrphans(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, true)
	ctx := t.Context()
	offlinetest.BuildPackage(t, e.em, offlinetest.Options{Dir: filepath.Join(e.root, "packages", "late"), Client: e.client, Timeout: buildTimeout})
	added, removed, err := e.reg.Rescan(ctx)
	if err != nil || !slices.Equal(added, []string{"late"}) || len(removed) != 0 {
		t.Fatalf("rescan: added %v removed %v: %v", added, removed, err)
	}
	late := e.replicas(t, "late", localapi.ReplicaRegistered)
	if len(late) == 0 || !e.onServer(late[0].ReplicaID) {
		t.Fatalf("replicas of the adopted map: %+v", late)
	}
	if err := os.RemoveAll(e.reg.Dir("late")); err != nil {
		t.Fatal(err)
	}
	added, removed, err = e.reg.Rescan(ctx)
	if err != nil || len(added) != 0 || !slices.Equal(removed, []string{"late"}) {
		t.Fatalf("rescan after removal: added %v removed %v: %v", added, removed, err)
	}
	if _, err := e.reg.Get(ctx, "late"); err == nil {
		t.Fatal("the removed map is still listed")
	}
	orphans := e.replicas(t, "late", localapi.ReplicaOrphaned)
	if len(orphans) != len(late) {
		t.Fatalf("orphans %+v, want the %d replicas of the removed map", orphans, len(late))
	}
	// The record survives a restart.
	reg2, err := OpenRegistry(e.root, RegistryOptions{Unregister: editsync.OpenUnregisterQueue(filepath.Join(e.root, UnregisterFile), e.client)})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	res, err := reg2.CleanupOrphans(ctx)
	if err != nil || res.Queued != len(late) || res.PendingUnregister != 0 {
		t.Fatalf("cleanup %+v: %v", res, err)
	}
	for _, r := range late {
		if e.onServer(r.ReplicaID) {
			t.Fatalf("orphan %s still on the server", r.ReplicaID)
		}
	}
	if reps, _ := reg2.Replicas(ctx); slices.ContainsFunc(reps, func(r localapi.ReplicaInfo) bool { return r.MapID == "late" }) {
		t.Fatalf("replicas after cleanup %+v", reps)
	}
}

// Deleting a map whose feature store no longer opens still unregisters its
// replica: the one recorded when the map was registered.
func TestDeleteBrokenMapUnregistersRecordedReplica(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, true)
	ctx := t.Context()
	reps := e.replicas(t, "demo", localapi.ReplicaRegistered)
	var fs localapi.ReplicaInfo
	for _, r := range reps {
		if r.Service == "Field_Survey" {
			fs = r
		}
	}
	if fs.ReplicaID == "" || !e.onServer(fs.ReplicaID) {
		t.Fatalf("recorded replicas %+v", reps)
	}
	// A restart finds the store damaged.
	e.reg.Close()
	if err := os.WriteFile(filepath.Join(e.reg.Dir("demo"), "data", "Field_Survey.gpkg"), []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	reg2, err := OpenRegistry(e.root, RegistryOptions{Unregister: editsync.OpenUnregisterQueue(filepath.Join(e.root, UnregisterFile), e.client)})
	if err != nil {
		t.Fatal(err)
	}
	defer reg2.Close()
	if mi, err := reg2.Get(ctx, "demo"); err != nil || !mi.Broken {
		t.Fatalf("damaged map %+v: %v", mi, err)
	}
	if err := reg2.Delete(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if e.onServer(fs.ReplicaID) {
		t.Fatalf("replica %s of the broken store still on the server after delete", fs.ReplicaID)
	}
}
