package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/config"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

// One CLI/daemon world (issue 23 item 9), against a running daemon and the
// in-process emulator: a package take-offline writes into the daemon's
// packages/ appears without a restart and its edits sync; a package
// folder deleted by hand leaves its replica listed as orphaned, and
// `replicas cleanup` unregisters it on the server; `maps add DIR` registers
// a package made elsewhere and `maps delete MAP` unregisters its replica.
func TestDaemonAdoptsPackagesAndCleansUpOrphans(t *testing.T) {
	em := demoPortal(t)
	d := signedInDaemon(t, em)
	root := d.root

	// take-offline into the daemon's packages/: the map appears.
	takeOfflineInto(t, em, filepath.Join(root, "packages", "field"))
	testutil.Eventually(t, "the daemon to adopt the package", func() bool {
		return slices.Contains(mapIDs(t, root), "field")
	})
	// Its edits sync.
	feat := `{"type":"Feature","geometry":{"type":"Point","coordinates":[-117.17,34.03]},"properties":{"InspectionID":"ADOPT-1","Status":"open"}}`
	if code, m := d.api(t, "POST", "/api/v1/maps/field/layers/Field_Survey.0/features", strings.NewReader(feat)); code != 201 {
		t.Fatalf("add feature: %d %v", code, m)
	}
	cli(t, "sync", "-data", root, "-map", "field")
	c := demoClient(t, em)
	if n, err := c.QueryCount(t.Context(), em.ServicesURL+"/Field_Survey/FeatureServer/0", arcgis.QueryParams{Where: "InspectionID = 'ADOPT-1'"}); err != nil || n != 1 {
		t.Fatalf("the adopted map's edit on the server: %d %v", n, err)
	}
	field := replicasOf(t, root, "field")
	if len(field) == 0 {
		t.Fatalf("no replica recorded for the adopted map: %s", cli(t, "replicas", "-data", root))
	}
	for _, r := range field {
		if r.State != "registered" || !serverHas(em, r.ReplicaID) {
			t.Fatalf("replica %+v (on the server: %v)", r, serverHas(em, r.ReplicaID))
		}
	}

	// The folder deleted by hand: the map goes, its replicas are orphans.
	if err := os.RemoveAll(filepath.Join(root, "packages", "field")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the removed map's replicas to be listed as orphaned", func() bool {
		rs := replicasOf(t, root, "field")
		return len(rs) == len(field) && rs[0].State == "orphaned" && !slices.Contains(mapIDs(t, root), "field")
	})
	if out := cli(t, "replicas", "-data", root); !strings.Contains(out, "orphaned") || !strings.Contains(out, "replicas cleanup") {
		t.Fatalf("replicas output: %s", out)
	}
	out := cli(t, "replicas", "cleanup", "-data", root)
	if !strings.Contains(out, "queued") {
		t.Fatalf("cleanup output: %s", out)
	}
	for _, r := range field {
		if serverHas(em, r.ReplicaID) {
			t.Fatalf("orphaned replica %s still registered on the server after cleanup", r.ReplicaID)
		}
	}
	if rs := replicasOf(t, root, "field"); len(rs) != 0 {
		t.Fatalf("replicas after cleanup: %+v", rs)
	}

	// maps add DIR: a package made elsewhere; maps delete MAP unregisters.
	other := filepath.Join(t.TempDir(), "other")
	takeOfflineInto(t, em, other)
	if out := cli(t, "maps", "add", "-data", root, other); !strings.Contains(out, "added other") {
		t.Fatalf("maps add: %s", out)
	}
	if !slices.Contains(mapIDs(t, root), "other") {
		t.Fatal("maps add: the map is not listed")
	}
	if err := cliErr(t, "maps", "add", "-data", root, t.TempDir()); !strings.HasPrefix(err.Error(), "DIR:") {
		t.Fatalf("maps add of a directory without a package: %v", err)
	}
	others := replicasOf(t, root, "other")
	if len(others) == 0 || !serverHas(em, others[0].ReplicaID) {
		t.Fatalf("replicas of the added map: %+v", others)
	}
	cli(t, "maps", "delete", "-data", root, "other")
	if err := cliErr(t, "maps", "delete", "-data", root, "other"); !strings.HasPrefix(err.Error(), "MAP:") {
		t.Fatalf("second maps delete: %v", err)
	}
	for _, r := range others {
		if serverHas(em, r.ReplicaID) {
			t.Fatalf("replica %s still registered after maps delete", r.ReplicaID)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("maps delete removed the added directory outside packages/: %v", err)
	}
	if _, err := config.ReadAPIToken(root); err != nil {
		t.Fatal(err)
	}
}

// takeOfflineInto runs take-offline of the demo web map into dir.
func takeOfflineInto(t *testing.T, em *emulatortest.Server, dir string) {
	t.Helper()
	cli(t, demoCmd(em, "take-offline", "--dir", dir, "--bbox", demoBBox, "--min-scale", "150000", "--max-scale", "70000", "--accept-partial")...)
}

// mapIDs lists the daemon's maps through the CLI.
func mapIDs(t *testing.T, root string) []string {
	t.Helper()
	var res struct {
		Maps []struct {
			ID string `json:"id"`
		} `json:"maps"`
	}
	cliJSON(t, &res, "maps", "-data", root, "-json")
	var ids []string
	for _, m := range res.Maps {
		ids = append(ids, m.ID)
	}
	return ids
}

type replicaRow struct {
	MapID     string `json:"mapId"`
	ReplicaID string `json:"replicaId"`
	State     string `json:"state"`
}

// replicasOf lists the replicas the daemon knows for map id, through the
// CLI.
func replicasOf(t *testing.T, root, id string) []replicaRow {
	t.Helper()
	var res struct {
		Replicas []replicaRow `json:"replicas"`
	}
	cliJSON(t, &res, "replicas", "-data", root, "-json")
	var out []replicaRow
	for _, r := range res.Replicas {
		if r.MapID == id {
			out = append(out, r)
		}
	}
	return out
}

// serverHas reports whether the emulator knows replica id.
func serverHas(em *emulatortest.Server, id string) bool {
	for _, svc := range []string{"Field_Survey", "Reference_Data"} {
		for _, r := range em.Replicas(svc) {
			if r.ReplicaID == id {
				return true
			}
		}
	}
	return false
}
