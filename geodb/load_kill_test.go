package geodb

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/geodb/benchdata"
	"github.com/offlined/offlined/internal/arcgis"
)

// stallReader returns doc up to stall bytes, says so on ready, then blocks
// until the process is killed.
type stallReader struct {
	r     io.Reader
	left  int
	ready func()
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		s.ready()
		select {} // the parent kills this process
	}
	if len(p) > s.left {
		p = p[:s.left]
	}
	n, err := s.r.Read(p)
	s.left -= n
	return n, err
}

// TestLoadKilledHelper is the child of TestLoadKilled.
func TestLoadKilledHelper(t *testing.T) {
	path := os.Getenv("GEODB_KILL_HELPER")
	if path == "" {
		t.Skip("helper process for TestLoadKilled")
	}
	ctx := context.Background()
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateLayer(ctx, benchdata.Layer("polygons"), nil); err != nil {
		t.Fatal(err)
	}
	doc := benchdata.Replica("polygons", 20000)
	r := &stallReader{r: bytes.NewReader(doc), left: len(doc) * 3 / 4, ready: func() { fmt.Println("stalled") }}
	db.LoadReplica(ctx, r, LoadOptions{BatchSize: 1000})
	t.Fatal("load finished; it should have stalled")
}

// A load killed mid-way (after some batches were committed) leaves a store
// that opens, has its index and triggers back, holds only whole batches,
// records no changes and is not marked as a loaded replica.
func TestLoadKilled(t *testing.T) {
	if os.Getenv("GEODB_KILL_HELPER") != "" {
		t.Skip("in the helper")
	}
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "killed.gpkg")
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoadKilledHelper$")
	cmd.Env = append(os.Environ(), "GEODB_KILL_HELPER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	stalled := false
	for sc.Scan() {
		if sc.Text() == "stalled" {
			stalled = true
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !stalled {
		t.Fatal("helper never reached the stall point")
	}
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("reopen after a killed load: %v", err)
	}
	defer db.Close()
	n, err := db.Count(ctx, Query{LayerID: 0})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 || n%1000 != 0 || n >= 20000 {
		t.Fatalf("%d rows after the kill, want whole batches of 1000, some but not all", n)
	}
	var res string
	if err := db.r.QueryRowContext(ctx, "SELECT rtreecheck(?)", rtreeName(db.TableByID(0))).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("rtreecheck = %q %v", res, err)
	}
	inBox, err := db.Count(ctx, Query{LayerID: 0, Envelope: benchExtent()})
	if err != nil || inBox != n {
		t.Fatalf("bbox count %d (%v), want all %d rows indexed", inBox, err, n)
	}
	if ch, err := db.Changes(ctx, 0, 10); err != nil || len(ch) != 0 {
		t.Fatalf("change log after a load: %d rows, %v", len(ch), err)
	}
	if rep, err := db.Replica(ctx); err != nil || rep != nil {
		t.Fatalf("replica after a killed load: %+v %v", rep, err)
	}
	// The change triggers are back: an edit is logged.
	f := arcgis.Feature{Attributes: map[string]any{"name": "edit"}, Geometry: &arcgis.Geometry{Rings: [][][]float64{{{0, 0}, {0, 1}, {1, 1}, {0, 0}}}}}
	if _, err := db.Add(ctx, 0, f); err != nil {
		t.Fatal(err)
	}
	if ch, _ := db.Changes(ctx, 0, 10); len(ch) != 1 {
		t.Fatalf("an edit after repair logged %d changes, want 1", len(ch))
	}
	validate(t, db)
}

func benchExtent() *arcgis.Envelope {
	return &arcgis.Envelope{XMin: -117.3, YMin: 33.9, XMax: -117.0, YMax: 34.2}
}
