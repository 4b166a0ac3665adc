package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// Found by the fleet harness (issue 20): an add the server already has
// (an earlier batch landed, its answer was lost and the batch was then
// refused as a whole) came back in a fresh batch and made the server
// refuse every later batch ("a feature with GlobalID … already exists").
func TestSyncAddTheServerAlreadyHas(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	gids := addLocal(t, f, 2, "landed")
	l, err := f.db.Feature(ctx, 0, gids[0])
	if err != nil || l == nil {
		t.Fatalf("local feature: %v", err)
	}
	// The server holds the first add already (as the lost batch left it).
	if err := f.em.EditFeatures(svcName, 0, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": gids[0], "InspectionID": "landed-0"}, Geometry: l.Geometry}}, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": gids[0], "Notes": "edited after"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	assertOnServerOnce(t, f, 0, gids)
	if s, ok := f.em.Feature(svcName, 0, gids[0]); !ok || s.Attributes["Notes"] != "edited after" {
		t.Fatalf("server copy %v", s.Attributes)
	}
	if st, _ := f.eng.Status(ctx); st.PendingEdits != 0 {
		t.Fatalf("pending edits %d", st.PendingEdits)
	}
}

// Found by the fleet harness (issue 20): deleting on the device a photo
// whose feature a colleague had deleted on the server made the server
// refuse the whole batch ("Attachment is missing"), at every attempt.
func TestSyncAttachmentDeleteTheServerNoLongerHas(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	all, err := f.em.Features(svcName, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	var parent string
	var atts []arcgis.AttachmentInfo
	for _, s := range all {
		g := fmt.Sprint(s.Attributes["GlobalID"])
		if a := f.em.Attachments(svcName, 0, g); len(a) > 0 {
			parent, atts = g, a
			break
		}
	}
	if parent == "" {
		t.Fatal("no server feature with attachments")
	}
	if err := f.em.EditFeatures(svcName, 0, nil, nil, []string{parent}); err != nil {
		t.Fatal(err)
	}
	if err := f.db.DeleteAttachment(ctx, 0, atts[0].GlobalID); err != nil {
		t.Fatal(err)
	}
	gids := addLocal(t, f, 1, "with-gone-delete")
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	assertOnServerOnce(t, f, 0, gids)
	if st, _ := f.eng.Status(ctx); st.PendingEdits != 0 {
		t.Fatalf("pending edits %d", st.PendingEdits)
	}
}

// Found by the fleet harness (issue 20): a batch cut before it went up was
// sent again without looking at the server first, so a colleague's update
// made meanwhile was overwritten and on record nowhere.
func TestSyncResumedBatchSeesColleaguesUpdate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{hooks: crashAt(StepBeforeUpload)})
	upd, _ := existing(t, f)
	if err := f.db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": upd, "Notes": "device"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err == nil {
		t.Fatal("the first sync did not stop at the injected crash")
	}
	if err := f.em.EditFeatures(svcName, 0, nil, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": upd, "Notes": "colleague"}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	cs, err := f.db.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range cs {
		var sv arcgis.Feature
		_ = json.Unmarshal(c.ServerVersion, &sv)
		found = found || (c.GlobalID == upd && sv.Attributes["Notes"] == "colleague")
	}
	if !found {
		t.Fatalf("the colleague's overwritten value is in no conflict record: %+v", cs)
	}
	// Last sync wins: the device's value stands on both sides.
	if s, _ := f.em.Feature(svcName, 0, upd); s.Attributes["Notes"] != "device" {
		t.Fatalf("server Notes %v", s.Attributes["Notes"])
	}
}

// Found by the fleet harness (issue 20): reconcile compared attributes
// only, so a pure move in a batch that never reached the server was taken
// for landed, acknowledged, and lost.
func TestSyncReconcileComparesGeometry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{hooks: crashAt(StepBeforeUpload)})
	upd, _ := existing(t, f)
	before, _ := f.em.Feature(svcName, 0, upd)
	x, y := *before.Geometry.X+250, *before.Geometry.Y-125
	if err := f.db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": upd}, Geometry: &arcgis.Geometry{X: &x, Y: &y}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err == nil {
		t.Fatal("the first sync did not stop at the injected crash")
	}
	// As if the request went out and was lost before the server applied it.
	j, err := loadJournal(ctx, f.db)
	if err != nil || j == nil {
		t.Fatalf("journal: %v %v", j, err)
	}
	j.Phase = phaseSent
	if err := saveJournal(ctx, f.db, j); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatalf("sync: %v", err)
	}
	after, _ := f.em.Feature(svcName, 0, upd)
	if after.Geometry == nil || math.Abs(*after.Geometry.X-x) > 0.01 || math.Abs(*after.Geometry.Y-y) > 0.01 {
		t.Fatalf("server geometry %+v, want the move to %v,%v", after.Geometry, x, y)
	}
}
