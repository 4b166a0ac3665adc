package geodb

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// patternReader yields n pseudo-random bytes without holding them.
type patternReader struct {
	n   int64
	rng *rand.ChaCha8
}

func newPattern(n int64, seed byte) *patternReader {
	var s [32]byte
	s[0] = seed
	return &patternReader{n: n, rng: rand.NewChaCha8(s)}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n {
		b = b[:p.n]
	}
	p.rng.Read(b)
	p.n -= int64(len(b))
	return len(b), nil
}

type hashWriter struct {
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(b []byte) (int, error) { w.n += int64(len(b)); return w.h.Write(b) }

func sumOf(r io.Reader) string {
	h := sha256.New()
	io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

func TestAttachments(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	parent := "{00000002-0000-4000-8000-000000000002}"
	sizes := []int64{0, 1, chunkSize, chunkSize + 1, 5*chunkSize + 123}
	var gids []string
	for i, size := range sizes {
		m, err := db.PutAttachment(ctx, 0, AttachmentMeta{ParentGlobalID: parent, Name: "f" + strconv.Itoa(i) + ".bin", ContentType: "application/x-test"}, newPattern(size, byte(i)))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if m.Size != size || m.SHA256 != sumOf(newPattern(size, byte(i))) || !registryGUID.MatchString(m.GlobalID) {
			t.Fatalf("size %d: meta %+v", size, m)
		}
		gids = append(gids, m.GlobalID)
	}
	for i, size := range sizes {
		w := &hashWriter{h: sha256.New()}
		m, err := db.ReadAttachment(ctx, 0, gids[i], w)
		if err != nil {
			t.Fatal(err)
		}
		if w.n != size || hex.EncodeToString(w.h.Sum(nil)) != m.SHA256 || m.Name != "f"+strconv.Itoa(i)+".bin" || m.ContentType != "application/x-test" {
			t.Fatalf("read back size %d: %d bytes, %+v", size, w.n, m)
		}
	}
	list, err := db.Attachments(ctx, 0, parent)
	if err != nil || len(list) != len(sizes) {
		t.Fatalf("list %d %v", len(list), err)
	}
	// Replace content of a chunked attachment with a small one.
	if _, err := db.PutAttachment(ctx, 0, AttachmentMeta{GlobalID: gids[4], ParentGlobalID: parent, Name: "small.txt", ContentType: "text/plain"}, bytes.NewReader([]byte("tiny"))); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := db.ReadAttachment(ctx, 0, gids[4], &buf); err != nil || buf.String() != "tiny" {
		t.Fatalf("replaced: %q %v", buf.String(), err)
	}
	var chunks int
	db.r.QueryRowContext(ctx, `SELECT count(*) FROM gpkgext_offlined_attachment_chunks`).Scan(&chunks)
	if chunks != 2 { // only the chunkSize+1 attachment remains chunked
		t.Fatalf("%d chunk rows left", chunks)
	}
	// Tampering is detected.
	if _, err := db.w.ExecContext(ctx, `UPDATE gpkgext_offlined_attachment_chunks SET data = zeroblob(length(data)) WHERE seq = 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ReadAttachment(ctx, 0, gids[3], io.Discard); !errors.Is(err, ErrChecksum) {
		t.Fatalf("tampered: %v", err)
	}
	// Errors: unknown parent, no such attachment, layer without attachments.
	if _, err := db.PutAttachment(ctx, 0, AttachmentMeta{ParentGlobalID: NewGlobalID()}, bytes.NewReader(nil)); !errors.Is(err, ErrNoFeature) {
		t.Fatalf("orphan: %v", err)
	}
	if _, err := db.ReadAttachment(ctx, 0, NewGlobalID(), io.Discard); !errors.Is(err, ErrNoAttachment) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := db.Attachments(ctx, 1, ""); !errors.Is(err, ErrNoAttachments) {
		t.Fatalf("no attachments: %v", err)
	}
	if err := db.DeleteAttachment(ctx, 0, gids[3]); err != nil {
		t.Fatal(err)
	}
	db.r.QueryRowContext(ctx, `SELECT count(*) FROM gpkgext_offlined_attachment_chunks`).Scan(&chunks)
	if chunks != 0 {
		t.Fatalf("delete left %d chunks", chunks)
	}
	// Deleting the feature deletes its attachments; the log has them all.
	if err := db.Delete(ctx, 0, parent); err != nil {
		t.Fatal(err)
	}
	if l, _ := db.Attachments(ctx, 0, parent); len(l) != 0 {
		t.Fatalf("attachments survive their feature: %d", len(l))
	}
	chs, _ := db.Changes(ctx, 0, 0)
	var attIns, attDel int
	for _, c := range chs {
		if c.Table == "All_Types__ATTACH" {
			if !c.Attachment || c.LayerID != 0 {
				t.Fatalf("attachment change %+v", c)
			}
			switch c.Op {
			case OpInsert:
				attIns++
			case OpDelete:
				attDel++
			}
		}
	}
	if attIns != len(sizes) || attDel != len(sizes) {
		t.Fatalf("attachment changes: %d inserts, %d deletes", attIns, attDel)
	}
	validate(t, db)
}

func TestAttachmentSizeLimit(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "limit.gpkg")
	db, err := Open(ctx, path, Options{MaxAttachmentSize: 3 * chunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ls, raws := readLayers(t)
	db.CreateLayer(ctx, &ls[0], raws[0])
	res, err := db.Add(ctx, 0, testFeature())
	if err != nil {
		t.Fatal(err)
	}
	before := dbDigest(t, db)
	if _, err := db.PutAttachment(ctx, 0, AttachmentMeta{ParentGlobalID: res.GlobalID}, newPattern(3*chunkSize+1, 1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over limit: %v", err)
	}
	if dbDigest(t, db) != before {
		t.Fatal("rejected attachment left data behind")
	}
	if _, err := db.PutAttachment(ctx, 0, AttachmentMeta{ParentGlobalID: res.GlobalID}, newPattern(3*chunkSize, 1)); err != nil {
		t.Fatal(err)
	}
}

func testFeature() arcgis.Feature {
	return arcgis.Feature{Attributes: map[string]any{"name": "n"}, Geometry: pt(1, 2)}
}

// TestLargeAttachment streams a 1 GiB attachment in and out; set
// GEODB_LARGE_ATTACHMENT=1 (needs ~2.5 GB disk, a minute or two).
func TestLargeAttachment(t *testing.T) {
	size := int64(64 << 20)
	if os.Getenv("GEODB_LARGE_ATTACHMENT") != "" {
		size = 1 << 30
	} else if testing.Short() {
		t.Skip("short")
	}
	ctx := testCtx(t)
	db := openTemp(t, "large.gpkg")
	ls, raws := readLayers(t)
	db.CreateLayer(ctx, &ls[0], raws[0])
	res, err := db.Add(ctx, 0, testFeature())
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.PutAttachment(ctx, 0, AttachmentMeta{ParentGlobalID: res.GlobalID, Name: "big.bin"}, newPattern(size, 9))
	if err != nil {
		t.Fatal(err)
	}
	w := &hashWriter{h: sha256.New()}
	if _, err := db.ReadAttachment(ctx, 0, m.GlobalID, w); err != nil {
		t.Fatal(err)
	}
	if w.n != size || hex.EncodeToString(w.h.Sum(nil)) != m.SHA256 {
		t.Fatalf("read %d bytes", w.n)
	}
	t.Logf("%d MiB attachment round trip OK", size>>20)
}
