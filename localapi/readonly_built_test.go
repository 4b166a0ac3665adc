package localapi

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
)

// An edit to a snapshot layer of a package that never synced is refused as
// read-only (403), not answered 500 for a missing sync configuration (live
// bug 6): the package writer stores each store's configuration.
func TestEditReadOnlyLayerOfNeverSyncedPackage(t *testing.T) {
	em := emulatortest.Start(t, emulator.Options{})
	res := offlinetest.BuildPackage(t, em, offlinetest.Options{})
	store := ""
	for _, ml := range res.Manifest.Layers {
		if ml.Kind == offline.KindSnapshot && ml.Store != "" {
			store = ml.Store
		}
	}
	if store == "" {
		t.Fatal("the demo package has no snapshot store")
	}
	ctx := t.Context()
	db, err := geodb.Open(ctx, filepath.Join(res.Dir, filepath.FromSlash(store)), geodb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables := db.Tables()
	if len(tables) == 0 {
		t.Fatalf("snapshot store %s has no tables", store)
	}
	err = checkWritable(ctx, db, tables[0])
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "readOnlyLayer" {
		t.Fatalf("edit to a snapshot layer of a never-synced package: %v, want 403 readOnlyLayer", err)
	}
}
