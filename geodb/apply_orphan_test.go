package geodb

import (
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
