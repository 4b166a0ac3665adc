package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestEditsDocumentGolden pins the synchronizeReplica edits document the
// engine streams for a batch with an add, an update and a delete.
func TestEditsDocumentGolden(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	add := arcgis.Feature{Attributes: map[string]any{"GlobalID": "{0A0A0A0A-1111-4222-8333-444444444444}", "InspectionID": "golden", "Priority": 3, "Depth": 1.25},
		Geometry: pt(-13050000.5, 4030000.25)}
	if _, err := f.db.Add(ctx, 0, add); err != nil {
		t.Fatal(err)
	}
	u, d := existing(t, f)
	editLocally(t, f, u, "golden update", d)
	c, _ := LoadConfig(ctx, f.db)
	cfg := c.withDefaults()
	if err := f.eng.checkSchema(ctx, &cfg, &Report{}); err != nil {
		t.Fatal(err)
	}
	upTo, _ := f.db.LastChangeSeq(ctx)
	p, err := f.eng.readPending(ctx, upTo)
	if err != nil {
		t.Fatal(err)
	}
	j, err := f.eng.buildJournal(ctx, &cfg, p)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := f.eng.writeEdits(ctx, &cfg, j, p, &buf)
	if err != nil || n != 3 {
		t.Fatalf("writeEdits: %d edits, %v", n, err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, buf.Bytes(), "", "  "); err != nil {
		t.Fatalf("edits document is not JSON: %v\n%s", err, buf.Bytes())
	}
	pretty.WriteByte('\n')
	const golden = "testdata/edits.golden.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("edits document differs from %s (run with -update after checking):\n%s", golden, pretty.Bytes())
	}
	// The document decodes as the client's edits type.
	var sl []arcgis.SyncLayerEdits
	if err := json.Unmarshal(buf.Bytes(), &sl); err != nil || len(sl) != 1 || len(sl[0].Features.Adds) != 1 || len(sl[0].Features.DeleteIDs) != 1 {
		t.Errorf("decoded %+v, %v", sl, err)
	}
}
