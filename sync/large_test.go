package sync

import (
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/offlined/offlined/geodb"
)

// TestLargeAttachmentBoundedMemory syncs one large attachment from a child
// process and checks the child's peak RSS. Default 4 MiB (1 MiB parts);
// OFFLINED_SYNC_BIG=1 uses 200 MiB with the default 4 MiB parts.
func TestLargeAttachmentBoundedMemory(t *testing.T) {
	size := int64(4 << 20)
	mod := func(c *Config) { c.ChunkThreshold, c.PartSize = 1<<20, 1<<20 }
	if os.Getenv("OFFLINED_SYNC_BIG") != "" {
		size, mod = 200<<20, nil
	}
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{cfg: mod})
	parent := addLocal(t, f, 1, "big")[0]
	h := sha256.New()
	src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{1, 2, 3}), size), h)
	m, err := f.db.PutAttachment(ctx, 0, geodb.AttachmentMeta{ParentGlobalID: parent, Name: "big.bin", ContentType: "application/octet-stream"}, src)
	if err != nil {
		t.Fatal(err)
	}
	res := syncInChild(t, f)
	if res.Report.ChunkedUploads != 1 {
		t.Errorf("chunked uploads %d, want 1", res.Report.ChunkedUploads)
	}
	const limitKB = 100 << 10
	if res.PeakRSS <= 0 || res.PeakRSS > limitKB {
		t.Errorf("child peak RSS %d kB for a %d MiB attachment, want under %d kB", res.PeakRSS, size>>20, limitKB)
	}
	got, ok := f.em.AttachmentData(svcName, 0, m.GlobalID)
	if !ok || int64(len(got)) != size {
		t.Fatalf("server attachment: ok=%v size %d, want %d", ok, len(got), size)
	}
	if sum := sha256.Sum256(got); string(sum[:]) != string(h.Sum(nil)) {
		t.Errorf("server content differs from the local content")
	}
	t.Logf("%d MiB attachment: %d ms, client peak RSS %d kB", size>>20, res.WallMS, res.PeakRSS)
}
