package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/offlined/offlined/geodb"
	editsync "github.com/offlined/offlined/sync"
)

// storeSyncConfig is what decides how a store syncs: its configuration
// (replica ids aside: each job registers its own replica), the read-only
// status of its layers and the queries snapshot layers are refreshed with.
type storeSyncConfig struct {
	Config  editsync.Config
	Layers  []editsync.StoreLayer
	Queries string
}

func packageSyncConfig(t *testing.T, dir string) map[string]storeSyncConfig {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "data", "*.gpkg"))
	if len(files) == 0 {
		t.Fatalf("no stores in %s", dir)
	}
	sort.Strings(files)
	out := map[string]storeSyncConfig{}
	ctx := context.Background()
	for _, f := range files {
		db, err := geodb.Open(ctx, f, geodb.Options{})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := editsync.LoadConfig(ctx, db)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		cfg.ReplicaID = ""
		layers, err := editsync.StoreLayers(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		q, _, err := db.Meta(ctx, editsync.SnapshotQueriesKey)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		out[filepath.Base(f)] = storeSyncConfig{Config: cfg, Layers: layers, Queries: q}
	}
	return out
}

// A package made by take-offline (no sign-in) and one made through the API
// of a daemon without a portal, from the same web map and area, have equal
// sync configurations; the daemon adopts the CLI's package and syncs it.
func TestTakeOfflineAndAPISameSyncConfig(t *testing.T) {
	t.Parallel()
	_, wms := publicServer(t)
	root := t.TempDir()
	cliDir := filepath.Join(root, "packages", "cli")
	if err := os.MkdirAll(filepath.Dir(cliDir), 0o700); err != nil {
		t.Fatal(err)
	}
	cli(t, "take-offline", "--webmap", wms.URL+"/map.json", "--bbox", "-117.25,33.98,-117.10,34.10", "--dir", cliDir)
	d := startDaemon(t, root)
	jobSucceeds(t, d, "api", fmt.Sprintf(`{"source":{"webMapUrl":%q},"mapId":"api","areaOfInterest":%s}`, wms.URL+"/map.json", publicAOI))
	fromCLI := packageSyncConfig(t, cliDir)
	fromAPI := packageSyncConfig(t, filepath.Join(root, "packages", "api"))
	if !reflect.DeepEqual(fromCLI, fromAPI) {
		a, _ := json.MarshalIndent(fromCLI, "", " ")
		b, _ := json.MarshalIndent(fromAPI, "", " ")
		t.Fatalf("sync configuration differs:\ntake-offline %s\nAPI %s", a, b)
	}
	if fromCLI["Reference_Data.gpkg"].Config.Mode != editsync.ModeSnapshot || fromCLI["Field_Survey.gpkg"].Config.Mode != editsync.ModeReplica {
		t.Fatalf("modes: %+v", fromCLI)
	}
	// The daemon adopted the CLI's package: it syncs.
	res := syncMap(t, d, "cli")
	for svc, r := range res {
		if r["error"] != nil {
			t.Fatalf("sync of the take-offline package, %s: %v", svc, r)
		}
	}
}
