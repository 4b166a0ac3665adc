package offline_test

import (
	"context"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
	editsync "github.com/offlined/offlined/sync"
)

// Every feature store of a package built by the offline job has its sync
// configuration before any sync, and a snapshot's layers are recorded as
// read-only (live bug 6: the configuration was made lazily by the API
// layer, so stores that never synced had none and edits to their
// read-only layers answered 500).
func TestPackageStoresHaveSyncConfig(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	_, pkg := offlinetest.OpenPackage(t, em, offlinetest.Options{})
	ctx := context.Background()
	stores := map[string]*offline.ManifestLayer{}
	for _, ml := range append(append([]*offline.ManifestLayer{}, pkg.Manifest.Layers...), pkg.Manifest.Tables...) {
		if (ml.Kind == offline.KindReplica || ml.Kind == offline.KindSnapshot) && ml.Store != "" {
			stores[ml.Store] = ml
		}
	}
	kinds := map[string]bool{}
	for store, ml := range stores {
		kinds[ml.Kind] = true
		db, err := pkg.OpenGeodatabase(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		checkStore(t, ctx, db, ml)
		db.Close()
	}
	if !kinds[offline.KindReplica] || !kinds[offline.KindSnapshot] {
		t.Fatalf("the demo package should hold a replica and a snapshot store, has %v", kinds)
	}
}

func checkStore(t *testing.T, ctx context.Context, db *geodb.DB, ml *offline.ManifestLayer) {
	t.Helper()
	if ok, err := editsync.HasConfig(ctx, db); err != nil || !ok {
		t.Fatalf("store %s (%s) has no sync configuration: %v", ml.Store, ml.Kind, err)
	}
	cfg, err := editsync.LoadConfig(ctx, db)
	if err != nil {
		t.Fatalf("store %s: %v", ml.Store, err)
	}
	if cfg.ServiceURL != ml.ServiceURL {
		t.Errorf("store %s: service URL %q, want %q", ml.Store, cfg.ServiceURL, ml.ServiceURL)
	}
	layers, err := editsync.StoreLayers(ctx, db)
	if err != nil || len(layers) == 0 {
		t.Fatalf("store %s: layers %v, %v", ml.Store, layers, err)
	}
	switch ml.Kind {
	case offline.KindSnapshot:
		if cfg.Mode != editsync.ModeSnapshot {
			t.Errorf("snapshot store %s: mode %q, want %q", ml.Store, cfg.Mode, editsync.ModeSnapshot)
		}
		for _, l := range layers {
			if !l.ReadOnly {
				t.Errorf("snapshot store %s: layer %d not recorded read-only", ml.Store, l.ID)
			}
		}
	case offline.KindReplica:
		if cfg.Mode != editsync.ModeReplica || cfg.ReplicaID == "" || ml.Replica == nil || cfg.ReplicaID != ml.Replica.ID {
			t.Errorf("replica store %s: config %+v, manifest replica %+v", ml.Store, cfg, ml.Replica)
		}
		editable := false
		for _, l := range layers {
			editable = editable || !l.ReadOnly
		}
		if !editable {
			t.Errorf("replica store %s: every layer recorded read-only: %+v", ml.Store, layers)
		}
	}
}
