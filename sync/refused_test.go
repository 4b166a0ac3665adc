package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
)

// Found by the fleet harness (FLEET_SEED=500): a batch of adds and a photo
// on a feature a colleague had deleted on the server was refused as a whole
// ("Parent feature … is missing") at every sync for good: only pending
// updates and deletes asked for a download first, so the device never
// learnt of the delete. After a refusal the next batch downloads first:
// the delete wins, the photo is on record as a conflict and the adds go up
// once. A photo on a live feature costs no download-first call.
func TestSyncPhotoOnFeatureDeletedOnServer(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	live, gone := existing(t, f)

	// The common case: a photo on a live feature, no extra call.
	if _, err := f.db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: live, Name: "live.jpg", ContentType: "image/jpeg"}, bytes.NewReader([]byte("live photo"))); err != nil {
		t.Fatal(err)
	}
	rep, err := f.eng.Sync(ctx)
	if err != nil {
		t.Fatalf("sync of a photo on a live feature: %v", err)
	}
	if rep.DownloadFirstCall {
		t.Errorf("a photo on a live feature cost a download-first call")
	}

	if err := f.em.EditFeatures(svcName, 0, nil, nil, []string{gone}); err != nil {
		t.Fatal(err)
	}
	adds := addLocal(t, f, 2, "beside-orphan")
	photo, err := f.db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: gone, Name: "orphan.jpg", ContentType: "image/jpeg"}, bytes.NewReader([]byte("orphan photo")))
	if err != nil {
		t.Fatal(err)
	}
	// The first attempt may be refused (it cannot know of the delete);
	// the second must go through.
	var errs []error
	for range 2 {
		_, err := f.eng.Sync(ctx)
		errs = append(errs, err)
	}
	if errs[1] != nil {
		t.Fatalf("sync after a refused batch: %v (first attempt: %v)", errs[1], errs[0])
	}
	assertOnServerOnce(t, f, 0, adds)
	if _, ok := f.em.AttachmentData(svcName, 0, photo.GlobalID); ok {
		t.Errorf("the photo of a deleted feature is on the server")
	}
	if _, err := f.db.AttachmentByGlobalID(ctx, 0, photo.GlobalID); err == nil {
		t.Errorf("the photo of a deleted feature is still on the device")
	}
	if rows, err := f.db.RowValues(ctx, 0, gone); err != nil || rows != nil {
		t.Errorf("the feature deleted on the server is still on the device (%v)", err)
	}
	st, _ := f.eng.Status(ctx)
	if st.PendingEdits != 0 {
		t.Errorf("pending edits %d", st.PendingEdits)
	}
	if _, ok, _ := f.db.Meta(ctx, refusedKey); ok {
		t.Errorf("the refusal mark outlived the download")
	}
	// Not lost without a trace: the photo is on record.
	cs, err := f.db.Conflicts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range cs {
		var lv geodb.AttachmentMeta
		_ = json.Unmarshal(c.LocalVersion, &lv)
		found = found || (c.GlobalID == photo.GlobalID && c.Table == f.db.TableByID(0).AttachTable &&
			c.LocalOp != geodb.OpDelete && c.ServerOp == geodb.OpDelete && lv.Name == "orphan.jpg" && lv.ParentGlobalID == gone)
	}
	if !found {
		t.Errorf("the photo of the deleted feature is in no conflict record: %+v", cs)
	}
	// Converged: the next sync has nothing to do and is not refused.
	if rep, err := f.eng.Sync(ctx); err != nil || rep.Uploaded != 0 {
		t.Errorf("sync after convergence: %+v %v", rep, err)
	}
}

// refusingEdits answers an applyEdits in which any edit failed with an
// error body instead of per-edit results, as servers do that refuse a
// rolled-back batch as a whole (the emulator answers per edit).
type refusingEdits struct{ Client }

func (c refusingEdits) ApplyServiceEdits(ctx context.Context, svcURL string, edits []arcgis.LayerEdits, useGlobalIDs bool, rollbackOnFailure *bool) ([]arcgis.LayerEditResults, error) {
	out, err := c.Client.ApplyServiceEdits(ctx, svcURL, edits, useGlobalIDs, rollbackOnFailure)
	if err != nil {
		return out, err
	}
	var details []string
	for _, l := range out {
		for _, r := range l.Failed() {
			if r.Error != nil {
				details = append(details, r.Error.Description)
			}
		}
	}
	if len(details) > 0 {
		return nil, &arcgis.Error{Code: 400, Message: "Unable to complete operation.", Details: details}
	}
	return out, nil
}

// The same in applyEdits mode (a service without Sync) against a server
// that refuses the batch as a whole: a refused applyEdits downloads
// nothing either, so the next sync re-queries the layers before cutting
// its batch.
func TestApplyEditsPhotoOnFeatureDeletedOnServer(t *testing.T) {
	ctx := context.Background()
	svc := smallDemo()
	svc.Sync = false
	em := emulatortest.Start(t, emulator.Options{FeatureServices: []emulator.FeatureServiceOptions{svc}})
	c := newClient(t, em, nil)
	url := em.ServicesURL + "/" + svcName + "/FeatureServer"
	db := emptyGPKG(t, c, url, Config{ServiceURL: url, Mode: ModeApplyEdits, AttachmentsSyncDirection: "bidirectional"})
	eng := New(db, refusingEdits{c}, Options{})
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{em: em, db: db, eng: eng}
	_, gone := existing(t, f)
	if err := em.EditFeatures(svcName, 0, nil, nil, []string{gone}); err != nil {
		t.Fatal(err)
	}
	adds := addLocal(t, f, 2, "ae-beside-orphan")
	photo, err := db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: gone, Name: "orphan.jpg", ContentType: "image/jpeg"}, bytes.NewReader([]byte("orphan photo")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Sync(ctx); err == nil {
		t.Fatal("the batch with a photo on a deleted feature was not refused: the test tests nothing")
	}
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatalf("sync after a refused batch: %v", err)
	}
	assertOnServerOnce(t, f, 0, adds)
	if _, ok := em.AttachmentData(svcName, 0, photo.GlobalID); ok {
		t.Errorf("the photo of a deleted feature is on the server")
	}
	if st, _ := eng.Status(ctx); st.PendingEdits != 0 {
		t.Errorf("pending edits %d", st.PendingEdits)
	}
	cs, _ := db.Conflicts(ctx)
	var found bool
	for _, c := range cs {
		found = found || (c.GlobalID == photo.GlobalID && c.ServerOp == geodb.OpDelete)
	}
	if !found {
		t.Errorf("the photo of the deleted feature is in no conflict record: %+v", cs)
	}
}
