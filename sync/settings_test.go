package sync

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

func strp(s string) *string { return &s }

// serverNotesThenSync sets the Notes of feature gid of layer 0 on the
// server, then syncs the store.
func serverNotesThenSync(t *testing.T, f *fixture, gid, notes string) {
	t.Helper()
	if err := f.em.EditFeatures(svcName, 0, nil, []arcgis.Feature{upd(gid, "Notes", notes)}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// An upload-only perReplica store sends its edits and takes none of the
// server's (synchronizeReplica syncDirection=upload).
func TestSettingsUploadOnlyPerReplica(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{syncModel: arcgis.SyncModelPerReplica})
	if _, err := f.eng.UpdateSettings(ctx, SettingsUpdate{SyncDirection: strp(DirUploadOnly)}); err != nil {
		t.Fatal(err)
	}
	all, _ := f.em.Features(svcName, 0, "")
	mine, theirs := fmt.Sprint(all[0].Attributes["GlobalID"]), fmt.Sprint(all[1].Attributes["GlobalID"])
	if err := f.db.Update(ctx, 0, upd(mine, "Notes", "device")); err != nil {
		t.Fatal(err)
	}
	serverNotesThenSync(t, f, theirs, "server")
	if sf, _ := f.em.Feature(svcName, 0, mine); sf.Attributes["Notes"] != "device" {
		t.Errorf("upload-only: device edit not uploaded: %v", sf.Attributes["Notes"])
	}
	if lf, _ := f.db.Feature(ctx, 0, theirs); lf.Attributes["Notes"] == "server" {
		t.Errorf("upload-only: the server's change came down")
	}
	s, _ := f.eng.Settings(ctx)
	if s.SyncDirection != DirUploadOnly || s.ReplicaDirection != DirBidirectional || !s.RollbackOnFailure {
		t.Errorf("settings %+v", s)
	}
	// Back to bidirectional: the change made while upload-only stays on
	// the server side (the generation moved on) but new ones come down.
	if _, err := f.eng.UpdateSettings(ctx, SettingsUpdate{SyncDirection: strp(DirBidirectional)}); err != nil {
		t.Fatal(err)
	}
	serverNotesThenSync(t, f, theirs, "server again")
	if lf, _ := f.db.Feature(ctx, 0, theirs); lf.Attributes["Notes"] != "server again" {
		t.Errorf("bidirectional: server change not downloaded: %v", lf.Attributes["Notes"])
	}
}

// Layer directions are honoured with perReplica replicas too: the replica
// syncs both ways and a download-only layer's local edits stay local.
func TestSettingsLayerDirectionsPerReplica(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{syncModel: arcgis.SyncModelPerReplica})
	if _, err := f.eng.UpdateSettings(ctx, SettingsUpdate{LayerDirections: map[int]string{1: DirDownloadOnly, 2: DirUploadOnly}}); err != nil {
		t.Fatal(err)
	}
	checkLayerDirections(t, f)
}

// rollbackOnFailure=false set through the settings (or the daemon-wide
// default) lets the good edits of a batch land.
func TestSettingsRollbackOnFailure(t *testing.T) {
	for _, viaDefault := range []bool{false, true} {
		t.Run(fmt.Sprint("default=", viaDefault), func(t *testing.T) {
			ctx := context.Background()
			svc := smallDemo()
			svc.Update = false // the server rejects updates
			f := newFixture(t, fixtureOpts{emu: emulator.Options{FeatureServices: []emulator.FeatureServiceOptions{svc}}})
			if viaDefault {
				f.eng.opts.Defaults.RollbackOnFailure = arcgis.Bool(false)
			} else if _, err := f.eng.UpdateSettings(ctx, SettingsUpdate{RollbackOnFailure: arcgis.Bool(false)}); err != nil {
				t.Fatal(err)
			}
			gids := addLocal(t, f, 2, "rb")
			all, _ := f.em.Features(svcName, 0, "")
			if err := f.db.Update(ctx, 0, upd(fmt.Sprint(all[0].Attributes["GlobalID"]), "Notes", "rejected")); err != nil {
				t.Fatal(err)
			}
			rep, err := f.eng.Sync(ctx)
			if err != nil || rep.Failed != 1 {
				t.Fatalf("sync: %+v %v, want one rejected edit and no error", rep, err)
			}
			assertOnServerOnce(t, f, 0, gids)
		})
	}
}

func TestSettingsValidation(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	cases := []struct {
		u     SettingsUpdate
		field string
	}{
		{SettingsUpdate{ConflictPolicy: strp("newestWins")}, "conflictPolicy"},
		{SettingsUpdate{SyncDirection: strp("sideways")}, "syncDirection"},
		{SettingsUpdate{LayerDirections: map[int]string{99: DirUploadOnly}}, "layerDirections.99"},
		{SettingsUpdate{LayerDirections: map[int]string{0: "both"}}, "layerDirections.0"},
	}
	for _, tc := range cases {
		_, err := f.eng.UpdateSettings(ctx, tc.u)
		var se *SettingsError
		if !errors.As(err, &se) || se.Field != tc.field {
			t.Errorf("%+v: %v, want a settings error naming %s", tc.u, err, tc.field)
		}
	}
	// A download-only replica cannot be made to upload.
	cfg, _ := LoadConfig(ctx, f.db)
	cfg.Direction = arcgis.SyncDownload
	if err := SaveConfig(ctx, f.db, cfg); err != nil {
		t.Fatal(err)
	}
	var se *SettingsError
	if _, err := f.eng.UpdateSettings(ctx, SettingsUpdate{SyncDirection: strp(DirBidirectional)}); !errors.As(err, &se) {
		t.Errorf("bidirectional on a download-only replica: %v", err)
	}
	if s, _ := f.eng.Settings(ctx); s.SyncDirection != DirDownloadOnly {
		t.Errorf("settings changed by a refused update: %+v", s)
	}
}
