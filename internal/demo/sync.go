package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
	editsync "github.com/offlined/offlined/sync"
)

// syncStep edits one inspection in the package's Field_Survey GeoPackage,
// syncs the replica and reads the feature back from the emulator.
func syncStep(ctx context.Context, env *Env, dir string, s *Summary, out io.Writer) error {
	pkg, err := offline.Open(dir)
	if err != nil {
		return err
	}
	var ml *offline.ManifestLayer
	for _, l := range pkg.Replicas() {
		if strings.Contains(l.ServiceURL, "/Field_Survey/") {
			ml = l
		}
	}
	if ml == nil {
		return fmt.Errorf("the package has no Field_Survey replica")
	}
	db, err := pkg.OpenGeodatabase(ctx, ml.Store)
	if err != nil {
		return err
	}
	defer db.Close()
	feats, err := db.Features(ctx, geodb.Query{LayerID: 0, Limit: 1, NoGeometry: true, OrderBy: []string{"OBJECTID"}})
	if err != nil {
		return err
	}
	if len(feats) == 0 {
		return errNoFeature
	}
	gid, _ := feats[0].Attributes["GlobalID"].(string)
	note := "checked offline by the offlined demo at " + time.Now().UTC().Format(time.RFC3339)
	if err := db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": gid, "Notes": note}}); err != nil {
		return fmt.Errorf("local edit: %w", err)
	}
	fmt.Fprintf(out, "6. Edited inspection %s locally (Notes = %q)\n", gid, note)
	p := pkg.Manifest.Parameters
	cfg := editsync.Config{ServiceURL: ml.ServiceURL, Mode: editsync.ModeReplica, ReplicaID: ml.Replica.ID,
		SyncModel: string(ml.Replica.SyncModel), Direction: "bidirectional"}
	if g := pkg.Manifest.Overrides.GenerateGeodatabase[offline.ServiceKey(ml.ServiceURL)]; g != nil && g.AttachmentSyncDirection != "" {
		cfg.AttachmentsSyncDirection = string(g.AttachmentSyncDirection)
	} else if p != nil {
		cfg.AttachmentsSyncDirection = string(p.AttachmentSyncDirection)
	}
	if err := editsync.SaveConfig(ctx, db, cfg); err != nil {
		return err
	}
	eng := editsync.New(db, env.Client, editsync.Options{PollInterval: 20 * time.Millisecond})
	rep, err := eng.Sync(ctx)
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	f, ok := env.Emulator.Feature("Field_Survey", 0, gid)
	if !ok {
		return fmt.Errorf("the server has no feature %s after the sync", gid)
	}
	got, _ := f.Attributes["Notes"].(string)
	s.Synced, s.EditedGID, s.ServerNotes = true, gid, got
	fmt.Fprintf(out, "7. Synced: %d uploaded, %d downloaded, %d conflicts; the server now has Notes = %q\n",
		rep.Uploaded, rep.Downloaded, rep.Conflicts, got)
	if got != note {
		return fmt.Errorf("the server has Notes %q, want %q", got, note)
	}
	return nil
}
