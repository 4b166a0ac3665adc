package geodb

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// writeAttachmentReplica streams a replica of n points of layer 0 where
// every k-th feature has one attachment of size bytes (content derived from
// its index), in the createReplica JSON shape (features, then attachments).
func writeAttachmentReplica(w io.Writer, n, k, size int) {
	bw := bufio.NewWriter(w)
	gid := func(i int) string { return fmt.Sprintf("{%08X-0000-4000-8000-000000000000}", i) }
	bw.WriteString(`{"replicaName":"att","replicaID":"{AAAAAAAA-0000-4000-8000-000000000000}","layers":[{"id":0,"features":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			bw.WriteByte(',')
		}
		fmt.Fprintf(bw, `{"attributes":{"GlobalID":%q,"name":"p%d"},"geometry":{"x":%d,"y":%d}}`, gid(i), i, i%1000, i/1000)
	}
	bw.WriteString(`],"attachments":[`)
	for i, j := 0, 0; i < n; i += k {
		if j > 0 {
			bw.WriteByte(',')
		}
		fmt.Fprintf(bw, `{"globalId":"{%08X-1111-4000-8000-000000000000}","parentGlobalId":%q,"name":"a%d.bin","contentType":"application/octet-stream","data":%q}`,
			i, gid(i), i, base64.StdEncoding.EncodeToString(attachmentContent(i, size)))
		j++
	}
	bw.WriteString(`]}]}`)
	bw.Flush()
}

func attachmentContent(i, size int) []byte {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(i*31 + j*7)
	}
	return b
}

// TestLoadManyAttachments: a bulk load with thousands of attachments puts
// each under its parent with the right bytes, and leaves no change-log rows.
func TestLoadManyAttachments(t *testing.T) {
	ctx := testCtx(t)
	db := openTemp(t, "att.gpkg")
	ls, raws := readLayers(t)
	if _, err := db.CreateLayer(ctx, &ls[0], raws[0]); err != nil {
		t.Fatal(err)
	}
	const n, k, size = 6000, 3, 300
	pr, pw := io.Pipe()
	go func() { writeAttachmentReplica(pw, n, k, size); pw.Close() }()
	_, st, err := db.LoadReplica(ctx, pr, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Features != n || st.Attachments != n/k {
		t.Fatalf("stats %+v, want %d features and %d attachments", st, n, n/k)
	}
	for _, i := range []int{0, 3, 2997, n - n%k - k} {
		parent := fmt.Sprintf("{%08X-0000-4000-8000-000000000000}", i)
		atts, err := db.Attachments(ctx, 0, parent)
		if err != nil || len(atts) != 1 {
			t.Fatalf("attachments of %s: %v %v", parent, atts, err)
		}
		want := sha256.Sum256(attachmentContent(i, size))
		if atts[0].SHA256 != hex.EncodeToString(want[:]) || atts[0].Size != size {
			t.Fatalf("attachment of %s: %+v", parent, atts[0])
		}
	}
	if pend, err := db.PendingChanges(ctx); err != nil || pend != 0 {
		t.Fatalf("pending changes after a server load: %d %v", pend, err)
	}
	// The load turned change logging off for its batches only: a local
	// edit afterwards is logged.
	x, y := 5.0, 5.0
	if _, err := db.Add(ctx, 0, arcgis.Feature{Attributes: map[string]any{"name": "local"}, Geometry: &arcgis.Geometry{X: &x, Y: &y}}); err != nil {
		t.Fatal(err)
	}
	if pend, err := db.PendingChanges(ctx); err != nil || pend != 1 {
		t.Fatalf("pending changes after a local add: %d %v, want 1", pend, err)
	}
	validate(t, db)
}

// BenchmarkLoadAttachments loads 20k points with an attachment on every
// fourth (5k attachments of 2 KiB).
func BenchmarkLoadAttachments(b *testing.B) {
	ls, raws := readLayers(b)
	for b.Loop() {
		b.StopTimer()
		db, err := Open(b.Context(), b.TempDir()+"/att.gpkg", Options{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.CreateLayer(b.Context(), &ls[0], raws[0]); err != nil {
			b.Fatal(err)
		}
		pr, pw := io.Pipe()
		go func() { writeAttachmentReplica(pw, 20000, 4, 2048); pw.Close() }()
		b.StartTimer()
		if _, st, err := db.LoadReplica(b.Context(), pr, LoadOptions{}); err != nil || st.Attachments != 5000 {
			b.Fatal(err, st)
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
}
