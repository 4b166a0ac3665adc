package demo

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/offline"
)

func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end demo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	dir := filepath.Join(t.TempDir(), "pkg")
	s, err := Run(ctx, Options{Dir: dir, MinScale: 150000, MaxScale: 70000, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// The demo map's dynamic map service and WMS can neither go offline
	// nor stay online (online-only exclude): they count in hasErrors, as
	// left-out entries, and nothing else failed.
	if s.Result == nil || !s.Result.HasErrors || s.Result.Manifest == nil || len(s.Result.LayerErrors) != 2 {
		t.Fatalf("result %+v", s.Result)
	}
	for k, le := range s.Result.LayerErrors {
		if le.Call != "capabilities" || le.Reason != offline.ReasonUnsupportedLayerType {
			t.Errorf("%s: %+v", k, le)
		}
	}
	if !strings.Contains(out.String(), "(left out)") || !strings.Contains(out.String(), "unsupportedLayerType: ") {
		t.Errorf("the result table does not list the left-out layers with their reason:\n%s", out.String())
	}
	if !s.Synced || s.EditedGID == "" || !strings.Contains(s.ServerNotes, "offlined demo") {
		t.Errorf("sync step: %+v", s)
	}
	if s.Capabilities == nil || len(s.Capabilities.Layers) == 0 {
		t.Errorf("no capabilities")
	}
	// The package reopens and its GeoPackage holds the edit, acknowledged.
	pkg, err := offline.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for store := range pkg.Replicas() {
		db, err := pkg.OpenGeodatabase(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		n, err := db.PendingChanges(ctx)
		db.Close()
		if err != nil || n != 0 {
			t.Errorf("%s: %d edits still pending after the sync (%v)", store, n, err)
		}
	}
}

// Bug: Close used a graceful Shutdown, which waits 5 s for a connection
// opened but never used (the HTTP client dials spares), so the demo took
// about 5 s more than the "Done in" it printed.
func TestEnvCloseDoesNotWaitForUnusedConnections(t *testing.T) {
	env, err := Start(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	env.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Close took %v with an unused connection open, want well under the 5 s Shutdown waits for it", d)
	}
}
