package geodb

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// A colleague's photo on a feature this device deleted (delete pending)
// must not fail the sync: the attachment is skipped, its content is not
// downloaded, and it is on record as a conflict (issue 20).
func TestApplyServerAttachmentOfLocallyDeletedParent(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	parent := "{00000001-0000-4000-8000-000000000001}"
	if err := db.Delete(ctx, 0, parent); err != nil {
		t.Fatal(err)
	}
	att := NewGlobalID()
	opened := false
	res, err := db.ApplyServerChanges(ctx, ServerChanges{
		LayerServerGens: []arcgis.ServerGen{{ID: 0, ServerGen: 2000}},
		Layers: []LayerChanges{{LayerID: 0,
			AttachmentAdds: []ServerAttachment{{Meta: AttachmentMeta{GlobalID: att, ParentGlobalID: parent, Name: "colleague.jpg", ContentType: "image/jpeg"},
				Open: func(context.Context) (io.ReadCloser, error) { opened = true; return nil, io.ErrUnexpectedEOF }}},
		}},
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if opened || res.Skipped != 1 || res.Conflicts != 1 {
		t.Fatalf("content opened=%v, result %+v", opened, res)
	}
	cs, err := db.Conflicts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %v %v", cs, err)
	}
	var sv AttachmentMeta
	if err := json.Unmarshal(cs[0].ServerVersion, &sv); err != nil || sv.Name != "colleague.jpg" || cs[0].LocalOp != OpDelete {
		t.Fatalf("conflict %+v (%v)", cs[0], err)
	}
	// The local delete is still pending (it wins).
	chs, _ := db.Changes(ctx, 0, 0)
	pending := false
	for _, c := range chs {
		pending = pending || (c.GlobalID == parent && c.Op == OpDelete)
	}
	if !pending {
		t.Fatalf("the local delete of the parent is no longer pending: %+v", chs)
	}
}

// A photo added on the device to a feature the server deleted goes with
// the feature (the delete wins) but not without a trace: it is on record
// as a conflict with its metadata, and its change-log rows are settled.
// Before, the cascade removed the row and left its "insert" in the change
// log, which the next batch skipped and acknowledged.
func TestApplyServerDeleteOfParentWithLocalAttachment(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	parent := "{00000001-0000-4000-8000-000000000001}"
	m, err := db.PutAttachment(ctx, 0, AttachmentMeta{ParentGlobalID: parent, Name: "mine.jpg", ContentType: "image/jpeg"}, bytes.NewReader([]byte("photo")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.ApplyServerChanges(ctx, ServerChanges{
		LayerServerGens: []arcgis.ServerGen{{ID: 0, ServerGen: 2000}},
		Layers:          []LayerChanges{{LayerID: 0, Deletes: []string{parent}}},
	})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if res.Conflicts != 1 {
		t.Fatalf("result %+v, want one conflict", res)
	}
	cs, err := db.Conflicts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %v %v", cs, err)
	}
	var lv AttachmentMeta
	if err := json.Unmarshal(cs[0].LocalVersion, &lv); err != nil || lv.Name != "mine.jpg" || lv.ParentGlobalID != parent ||
		cs[0].GlobalID != m.GlobalID || cs[0].LocalOp == OpDelete || cs[0].ServerOp != OpDelete || cs[0].Resolution != "server" {
		t.Fatalf("conflict %+v (%v)", cs[0], err)
	}
	if _, err := db.AttachmentByGlobalID(ctx, 0, m.GlobalID); err == nil {
		t.Fatalf("the attachment of the deleted feature is still there")
	}
	chs, _ := db.Changes(ctx, 0, 0)
	for _, c := range chs {
		if c.GlobalID == m.GlobalID {
			t.Fatalf("the attachment's change is still pending: %+v", c)
		}
	}
}
