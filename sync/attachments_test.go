package sync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// partFailClient fails one uploadPart once, as a dropped link would.
type partFailClient struct {
	Client
	failPart int
	failed   bool
	parts    map[int]int
}

func (c *partFailClient) UploadPart(ctx context.Context, svcURL, itemID string, partID int, r io.Reader) error {
	if partID == c.failPart && !c.failed {
		c.failed = true
		return errors.New("connection reset (injected)")
	}
	c.parts[partID]++
	return c.Client.UploadPart(ctx, svcURL, itemID, partID, r)
}

func TestAttachmentsUploadChunkedResumableVerified(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{cfg: func(c *Config) { c.ChunkThreshold = 64 << 10; c.PartSize = 16 << 10 }})
	pc := &partFailClient{Client: f.client, failPart: 5, parts: map[int]int{}}
	f.eng = New(f.db, pc, Options{})
	parent := addLocal(t, f, 1, "att")[0]
	small := []byte("a small photo")
	big := make([]byte, 200<<10)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rnd.Uint32())
	}
	ms, err := f.db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: parent, Name: "small.jpg", ContentType: "image/jpeg"}, bytes.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	mb, err := f.db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: parent, Name: "big.jpg", ContentType: "image/jpeg"}, bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err == nil {
		t.Fatal("sync with a failed part succeeded")
	}
	// Local copies are kept until the server confirms them.
	if as, _ := f.db.Attachments(ctx, 0, parent); len(as) != 2 {
		t.Fatalf("local attachments %d, want 2", len(as))
	}
	rep, err := f.eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.ChunkedUploads != 1 {
		t.Errorf("chunked uploads %d, want 1 (report %+v)", rep.ChunkedUploads, rep)
	}
	for p := 1; p <= 13; p++ {
		if pc.parts[p] != 1 {
			t.Errorf("part %d uploaded %d times, want once (resume)", p, pc.parts[p])
		}
	}
	for _, m := range []struct {
		gid  string
		want []byte
	}{{ms.GlobalID, small}, {mb.GlobalID, big}} {
		got, ok := f.em.AttachmentData(svcName, 0, m.gid)
		if !ok || !bytes.Equal(got, m.want) {
			t.Errorf("attachment %s on server: ok=%v, %d bytes, want %d", m.gid, ok, len(got), len(m.want))
		}
	}
	if n := len(f.em.Attachments(svcName, 0, parent)); n != 2 {
		t.Errorf("server has %d attachments on the feature, want 2 (no duplicates)", n)
	}
	if st, _ := f.eng.Status(ctx); st.PendingEdits != 0 || len(st.EditErrors) != 0 {
		t.Errorf("status %+v", st)
	}
	// A colleague's photo comes down.
	if _, err := f.em.AddAttachment(svcName, 0, parent, "colleague.png", "image/png", []byte("png bytes")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	as, _ := f.db.Attachments(ctx, 0, parent)
	if len(as) != 3 {
		t.Errorf("local attachments after download %d, want 3: %s", len(as), fmt.Sprint(as))
	}
}

// deleteAfterJournal makes a fixture, adds edits with setup, and syncs
// twice; the first upload step first deletes (with del) what setup named, as
// if the user deleted it after its batch was journaled. Nothing may stay
// pending.
func deleteAfterJournal(t *testing.T, setup func(f *fixture) string, del func(db *geodb.DB, ctx context.Context, layerID int, globalID string) error) (*fixture, string) {
	t.Helper()
	ctx := context.Background()
	var f *fixture
	var gid string
	f = newFixture(t, fixtureOpts{hooks: onceAt(StepBeforeUpload, func(ctx context.Context) error {
		return del(f.db, ctx, 0, gid)
	})})
	gid = setup(f)
	for range 2 {
		if _, err := f.eng.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := f.eng.Status(ctx); st.PendingEdits != 0 {
		t.Errorf("pending %d", st.PendingEdits)
	}
	return f, gid
}

// An attachment deleted locally after its batch was journaled (before its
// content went up) neither blocks the sync nor reaches the server.
func TestAttachmentDeletedAfterJournal(t *testing.T) {
	var parent string
	f, gid := deleteAfterJournal(t, func(f *fixture) string {
		parent = addLocal(t, f, 1, "adj")[0]
		m, err := f.db.PutAttachment(context.Background(), 0, geodb.AttachmentMeta{ParentGlobalID: parent, Name: "gone.jpg", ContentType: "image/jpeg"}, bytes.NewReader([]byte("soon deleted")))
		if err != nil {
			t.Fatal(err)
		}
		return m.GlobalID
	}, (*geodb.DB).DeleteAttachment)
	if _, ok := f.em.AttachmentData(svcName, 0, gid); ok {
		t.Errorf("deleted attachment reached the server")
	}
	if _, ok := f.em.Feature(svcName, 0, parent); !ok {
		t.Errorf("parent feature not uploaded")
	}
}

// A feature added and deleted locally whose add never reached the server
// (deleted after its batch was journaled) does not block later syncs.
func TestFeatureDeletedAfterJournal(t *testing.T) {
	var gids []string
	f, gid := deleteAfterJournal(t, func(f *fixture) string {
		gids = addLocal(t, f, 2, "fdj")
		return gids[0]
	}, (*geodb.DB).Delete)
	if _, ok := f.em.Feature(svcName, 0, gid); ok {
		t.Errorf("deleted feature reached the server")
	}
	assertOnServerOnce(t, f, 0, gids[1:])
}

// corruptOnce damages the first uploaded file, as a broken proxy might.
type corruptOnce struct {
	Client
	done bool
}

func (c *corruptOnce) Upload(ctx context.Context, svcURL, name string, r io.Reader, desc string) (*arcgis.UploadItem, error) {
	if c.done || name == "offlined-edits.json" {
		return c.Client.Upload(ctx, svcURL, name, r, desc)
	}
	c.done = true
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	b[0] ^= 0xff
	return c.Client.Upload(ctx, svcURL, name, bytes.NewReader(b), desc)
}

func TestAttachmentHashMismatchIsResent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	f.eng = New(f.db, &corruptOnce{Client: f.client}, Options{})
	parent := addLocal(t, f, 1, "hash")[0]
	content := []byte("the real photo bytes")
	m, err := f.db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: parent, Name: "p.jpg", ContentType: "image/jpeg"}, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := f.eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.eng.Status(ctx)
	if rep.Failed != 1 || len(st.EditErrors) != 1 || st.EditErrors[0].Op != "verify" || st.PendingEdits == 0 {
		t.Fatalf("corrupted upload not caught: report %+v status %+v", rep, st)
	}
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	got, ok := f.em.AttachmentData(svcName, 0, m.GlobalID)
	if !ok || !bytes.Equal(got, content) {
		t.Errorf("server content %q, want %q", got, content)
	}
	if n := len(f.em.Attachments(svcName, 0, parent)); n != 1 {
		t.Errorf("%d attachments on the server, want 1", n)
	}
	if st, _ := f.eng.Status(ctx); st.PendingEdits != 0 || len(st.EditErrors) != 0 {
		t.Errorf("after the re-send: %+v", st)
	}
}
