package sync

import (
	"context"
	"fmt"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// Per-layer directions: layer 1 download-only (local edits stay local and
// pending), layer 2 upload-only (server edits not downloaded).
func TestPerLayerDirections(t *testing.T) {
	f := newFixture(t, fixtureOpts{cfg: func(c *Config) {
		c.LayerDirections = map[int]string{1: arcgis.SyncDownload, 2: arcgis.SyncUpload}
	}})
	checkLayerDirections(t, f)
}

// checkLayerDirections edits layer 1 (download-only) and layer 2
// (upload-only) on both sides, syncs, and checks that only the edits going
// each layer's way crossed and that the download-only layer's local edit
// stays pending.
func checkLayerDirections(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	pipes, _ := f.em.Features(svcName, 1, "")
	parcels, _ := f.em.Features(svcName, 2, "")
	pipe, parcel := fmt.Sprint(pipes[0].Attributes["GlobalID"]), fmt.Sprint(parcels[0].Attributes["GlobalID"])
	otherPipe, otherParcel := fmt.Sprint(pipes[1].Attributes["GlobalID"]), fmt.Sprint(parcels[1].Attributes["GlobalID"])
	if err := f.db.Update(ctx, 1, upd(pipe, "PipeID", "local-pipe")); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Update(ctx, 2, upd(parcel, "Owner", "local owner")); err != nil {
		t.Fatal(err)
	}
	if err := f.em.EditFeatures(svcName, 1, nil, []arcgis.Feature{upd(otherPipe, "PipeID", "server-pipe")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.em.EditFeatures(svcName, 2, nil, []arcgis.Feature{upd(otherParcel, "Owner", "server owner")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if sf, _ := f.em.Feature(svcName, 1, pipe); sf.Attributes["PipeID"] == "local-pipe" {
		t.Errorf("edit of a download-only layer was uploaded")
	}
	if sf, _ := f.em.Feature(svcName, 2, parcel); sf.Attributes["Owner"] != "local owner" {
		t.Errorf("edit of an upload-only layer not uploaded: %v", sf.Attributes["Owner"])
	}
	if lf, _ := f.db.Feature(ctx, 1, otherPipe); lf.Attributes["PipeID"] != "server-pipe" {
		t.Errorf("server edit of a download-only layer not downloaded: %v", lf.Attributes["PipeID"])
	}
	if lf, _ := f.db.Feature(ctx, 2, otherParcel); lf.Attributes["Owner"] == "server owner" {
		t.Errorf("server edit of an upload-only layer was downloaded")
	}
	if st, _ := f.eng.Status(ctx); st.PendingEdits != 1 {
		t.Errorf("pending edits %d, want 1 (the download-only layer's edit is kept)", st.PendingEdits)
	}
}
