package sync

import (
	"bytes"
	"context"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
)

type nopSeekCloser struct{ *bytes.Reader }

func (nopSeekCloser) Close() error { return nil }

func readAnswer(data []byte) (*answer, error) {
	a := &answer{open: func() (io.ReadSeekCloser, error) { return nopSeekCloser{bytes.NewReader(data)}, nil }}
	return a, a.scan()
}

func TestScanAndStreamAnswer(t *testing.T) {
	data, err := os.ReadFile("testdata/sync-result.json")
	if err != nil {
		t.Fatal(err)
	}
	a, err := readAnswer(data)
	if err != nil {
		t.Fatal(err)
	}
	r := a.Result
	if len(r.LayerServerGens) != 2 || r.LayerServerGens[0].ServerGen != 42 || len(r.Edits) != 2 {
		t.Fatalf("scan: %+v", r)
	}
	l0 := r.Edits[0]
	if len(l0.AddResults) != 1 || l0.AddResults[0].Success || l0.AddResults[0].Error.Code != 1019 {
		t.Errorf("only the failed add result is kept: %+v", l0.AddResults)
	}
	if l0.AttachmentChanges == nil || len(l0.AttachmentChanges.Adds) != 1 || l0.Features != nil {
		t.Errorf("attachments %+v features %+v", l0.AttachmentChanges, l0.Features)
	}
	var got []geodb.LayerChanges
	if err := a.stream(context.Background(), func(int) bool { return true }, func(lc geodb.LayerChanges) error {
		got = append(got, lc)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var adds, updates, deletes int
	for _, lc := range got {
		if lc.LayerID != 0 {
			t.Errorf("changes for layer %d", lc.LayerID)
		}
		adds, updates, deletes = adds+len(lc.Adds), updates+len(lc.Updates), deletes+len(lc.Deletes)
	}
	if adds != 1 || updates != 1 || deletes != 1 {
		t.Errorf("streamed %d adds, %d updates, %d deletes; want 1 each", adds, updates, deletes)
	}
	if got[0].Adds[0].Attributes["InspectionID"] != "x" || got[0].Adds[0].Geometry == nil {
		t.Errorf("streamed add %+v", got[0].Adds[0])
	}
}

// FuzzAnswer feeds arbitrary server answers to the scanner and the
// streaming decoder: they must fail cleanly, never panic or hang.
func FuzzAnswer(f *testing.F) {
	seed, err := os.ReadFile("testdata/sync-result.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"edits":[{"id":1,"features":{"adds":[{}]}}]}`))
	f.Add([]byte(`{"edits":[{"features":"x","id":"y"}],"replicaServerGen":"z"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			a, err := readAnswer(data)
			if err != nil {
				return
			}
			_ = a.stream(context.Background(), func(int) bool { return true }, func(geodb.LayerChanges) error { return nil })
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("hang on %q\n%s", data, buf[:n])
		}
	})
}
