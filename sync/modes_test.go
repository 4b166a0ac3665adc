package sync

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// emptyGPKG creates the tables of a service's layers in a new GeoPackage.
func emptyGPKG(t *testing.T, c *arcgis.Client, svcURL string, cfg Config) *geodb.DB {
	t.Helper()
	db := layerStore(t, filepath.Join(t.TempDir(), "svc.gpkg"), serviceLayers(t, c, svcURL))
	if err := SaveConfig(context.Background(), db, cfg); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestSnapshotRefreshByQuery(t *testing.T) {
	ctx := context.Background()
	em := emulatortest.Start(t, emulator.Options{})
	c := newClient(t, em, nil)
	url := em.ServicesURL + "/Reference_Data/FeatureServer"
	db := emptyGPKG(t, c, url, Config{ServiceURL: url, Mode: ModeSnapshot})
	eng := New(db, c, Options{})
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	n, _ := db.Count(ctx, geodb.Query{LayerID: 0})
	if want := em.FeatureCount("Reference_Data", 0); int(n) != want || want == 0 {
		t.Fatalf("snapshot has %d features, server %d", n, want)
	}
	all, _ := em.Features("Reference_Data", 0, "")
	gone := all[0].Attributes["GlobalID"].(string)
	if err := em.EditFeatures("Reference_Data", 0, nil, nil, []string{gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if f, _ := db.Feature(ctx, 0, gone); f != nil {
		t.Errorf("feature deleted on the server still in the snapshot")
	}
	if n2, _ := db.Count(ctx, geodb.Query{LayerID: 0}); n2 != n-1 {
		t.Errorf("snapshot has %d features, want %d", n2, n-1)
	}
}

func TestApplyEditsModeExactlyOnce(t *testing.T) {
	ctx := context.Background()
	svc := smallDemo()
	svc.Sync = false
	em := emulatortest.Start(t, emulator.Options{FeatureServices: []emulator.FeatureServiceOptions{svc}})
	c := newClient(t, em, nil)
	url := em.ServicesURL + "/" + svcName + "/FeatureServer"
	db := emptyGPKG(t, c, url, Config{ServiceURL: url, Mode: ModeApplyEdits})
	eng := New(db, c, Options{})
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	before := em.FeatureCount(svcName, 0)
	f := &fixture{em: em, db: db, eng: eng}
	gids := addLocal(t, f, 3, "ae")
	em.SetFaults(emulator.Faults{CutAfterBytes: 5, Paths: []string{"applyEdits"}})
	if _, err := eng.Sync(ctx); err == nil {
		t.Fatal("sync with a lost applyEdits reply succeeded")
	}
	em.SetFaults(emulator.Faults{})
	rep, err := eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Recovered || rep.ReplayedLanded != 3 {
		t.Errorf("report %+v, want 3 landed edits found", rep)
	}
	if got := em.FeatureCount(svcName, 0); got != before+3 {
		t.Errorf("server has %d, want %d", got, before+3)
	}
	assertOnServerOnce(t, f, 0, gids)
}
