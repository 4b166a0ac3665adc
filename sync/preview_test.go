package sync

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// The preview lists what the next sync sends (edits by layer with ids,
// attachments with sizes) and nothing else; the sync then sends exactly
// that.
func TestPreviewMatchesNextSync(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{cfg: func(c *Config) { c.LayerDirections = map[int]string{1: arcgis.SyncDownload} }})
	adds := addLocal(t, f, 2, "pv")
	all, _ := f.em.Features(svcName, 0, "")
	u, d := fmt.Sprint(all[0].Attributes["GlobalID"]), fmt.Sprint(all[1].Attributes["GlobalID"])
	editLocally(t, f, u, "preview", d)
	photo := bytes.Repeat([]byte("x"), 12345)
	m, err := f.db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: adds[0], Name: "p.jpg", ContentType: "image/jpeg"}, bytes.NewReader(photo))
	if err != nil {
		t.Fatal(err)
	}
	pipes, _ := f.em.Features(svcName, 1, "")
	if err := f.db.Update(ctx, 1, upd(fmt.Sprint(pipes[0].Attributes["GlobalID"]), "PipeID", "kept")); err != nil {
		t.Fatal(err)
	}
	p, err := f.eng.Preview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Edits != 4 || len(p.Layers) != 1 || p.Layers[0].Layer != 0 || p.Layers[0].Count != 4 || p.NotSent != 1 || p.Interrupted {
		t.Fatalf("preview %+v", p)
	}
	l := p.Layers[0]
	slices.Sort(adds)
	slices.Sort(l.Adds)
	if !slices.Equal(l.Adds, adds) || !slices.Equal(l.Updates, []string{u}) || !slices.Equal(l.Deletes, []string{d}) {
		t.Errorf("layer ids %+v", l)
	}
	if len(p.Attachments) != 1 || p.Attachments[0].GlobalID != m.GlobalID || p.Attachments[0].Size != int64(len(photo)) ||
		p.Attachments[0].Op != "add" || p.AttachmentBytes != int64(len(photo)) || p.Attachments[0].Name != "p.jpg" {
		t.Errorf("attachments %+v", p.Attachments)
	}
	if st, _ := f.eng.Status(ctx); st.JournalOpen {
		t.Errorf("the preview wrote a journal")
	}
	rep, err := f.eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploaded != p.Edits || rep.AttachmentsSent != len(p.Attachments) {
		t.Errorf("sync sent %d edits and %d attachments; the preview said %d and %d", rep.Uploaded, rep.AttachmentsSent, p.Edits, len(p.Attachments))
	}
	p, _ = f.eng.Preview(ctx)
	if p.Edits != 0 || len(p.Attachments) != 0 || p.NotSent != 1 {
		t.Errorf("preview after sync %+v", p)
	}
}
