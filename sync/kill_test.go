package sync

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/sync/synctest"
)

// TestKillDuringSyncChild is the child of TestKillNineLoop: it edits and
// syncs in a loop until it is killed.
func TestKillDuringSyncChild(t *testing.T) {
	portal, path, iter := os.Getenv("OFFLINED_SYNC_CHILD_PORTAL"), os.Getenv("OFFLINED_SYNC_CHILD_GPKG"), os.Getenv("OFFLINED_SYNC_CHILD_ITER")
	if portal == "" {
		t.Skip("child of TestKillNineLoop")
	}
	ctx := context.Background()
	db, c := openChild(t, portal, path)
	eng := New(db, c, Options{})
	demo, err := db.Features(ctx, geodb.Query{LayerID: 0, OutFields: []string{"GlobalID"}, NoGeometry: true, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	// adds, an update of a (server) feature, a delete of an earlier add
	err = synctest.EditLoop(ctx, db, iter, 3, false, demo, func(ctx context.Context) { _, _ = eng.Sync(ctx) })
	t.Fatal(err)
}

func TestKillNineLoop(t *testing.T) {
	iters := 20
	if v, _ := strconv.Atoi(os.Getenv("OFFLINED_SYNC_KILL_ITERS")); v > 0 {
		iters = v
	}
	if testing.Short() {
		iters = 5
	}
	f := newFixture(t, fixtureOpts{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(7, 9))
	phases := map[string]int{}
	for i := range iters {
		cmd := exec.Command(exe, "-test.run=^TestKillDuringSyncChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OFFLINED_SYNC_CHILD_PORTAL="+f.em.PortalURL, "OFFLINED_SYNC_CHILD_GPKG="+f.path, "OFFLINED_SYNC_CHILD_ITER="+strconv.Itoa(i))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(100+rnd.IntN(350)) * time.Millisecond)
		_ = cmd.Process.Kill() // SIGKILL
		_ = cmd.Wait()
		if j, err := loadJournal(context.Background(), f.db); err == nil && j != nil {
			phases[j.Phase]++ // killed mid-sync: the next child recovers it
		} else {
			phases["none"]++
		}
	}
	ctx := context.Background()
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatalf("final sync: %v", err)
	}
	local, err := f.db.Features(ctx, geodb.Query{LayerID: 0, OutFields: []string{"GlobalID", "InspectionID", "Notes"}, NoGeometry: true})
	if err != nil {
		t.Fatal(err)
	}
	server, err := f.em.Features(svcName, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	byGID := map[string]int{}
	notes := map[string]any{}
	for _, s := range server {
		g := fmt.Sprint(s.Attributes["GlobalID"])
		byGID[g]++
		notes[g] = s.Attributes["Notes"]
	}
	lost := 0
	for _, l := range local {
		g := fmt.Sprint(l.Attributes["GlobalID"])
		if byGID[g] != 1 {
			lost++
		}
		if fmt.Sprint(notes[g]) != fmt.Sprint(l.Attributes["Notes"]) {
			t.Errorf("feature %s: server Notes %v, local %v (update lost)", g, notes[g], l.Attributes["Notes"])
		}
	}
	if lost != 0 || len(server) != len(local) {
		t.Errorf("after %d kills: %d local features, %d on the server, %d missing or duplicated", iters, len(local), len(server), lost)
	}
	if st, _ := f.eng.Status(ctx); st.PendingEdits != 0 {
		t.Errorf("pending after final sync: %d", st.PendingEdits)
	}
	t.Logf("%d kill -9 iterations (journal left open after the kill: %v): %d features, none lost or duplicated", iters, phases, len(local))
}
