package geodb

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func TestApplyServerChanges(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	g1, g2, g3 := "{00000001-0000-4000-8000-000000000001}", "{00000002-0000-4000-8000-000000000002}", "{00000003-0000-4000-8000-000000000003}"
	// Local edits: one acknowledged by the server, one still pending (g2).
	if err := db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": g1, "name": "local1"}}); err != nil {
		t.Fatal(err)
	}
	acked, _ := db.LastChangeSeq(ctx)
	if err := db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": g2, "name": "local2"}}); err != nil {
		t.Fatal(err)
	}
	newGID := NewGlobalID()
	sc := ServerChanges{
		AckThrough:       acked,
		ReplicaServerGen: 5555,
		LayerServerGens:  []arcgis.ServerGen{{ID: 0, ServerGen: 2000}},
		Layers: []LayerChanges{{
			LayerID: 0,
			Adds:    []arcgis.Feature{{Attributes: map[string]any{"GlobalID": newGID, "name": "server add", "priority": json.Number("4")}, Geometry: pt(-117.11, 34.09)}},
			Updates: []arcgis.Feature{
				{Attributes: map[string]any{"GlobalID": g1, "name": "server1", "unknownServerField": 1}},
				{Attributes: map[string]any{"GlobalID": g2, "name": "server2"}},
			},
			Deletes: []string{g3},
			AttachmentAdds: []ServerAttachment{{Meta: AttachmentMeta{GlobalID: NewGlobalID(), ParentGlobalID: newGID, Name: "s.txt", ContentType: "text/plain"},
				Open: func(context.Context) (io.ReadCloser, error) {
					return io.NopCloser(bytes.NewReader([]byte("server file"))), nil
				}}},
		}},
	}
	seqBefore, _ := db.LastChangeSeq(ctx)
	res, err := db.ApplyServerChanges(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if res.Conflicts != 1 || res.Applied != 5 {
		t.Fatalf("result %+v", res)
	}
	// Server changes are not logged; the acknowledged row is gone and the
	// conflicting pending row was resolved (server wins).
	chs, _ := db.Changes(ctx, 0, 0)
	if len(chs) != 0 {
		t.Fatalf("change log after apply: %+v", chs)
	}
	if seq, _ := db.LastChangeSeq(ctx); seq != 0 && seq > seqBefore {
		t.Fatalf("apply logged changes (seq %d > %d)", seq, seqBefore)
	}
	f1, _ := db.Feature(ctx, 0, g1)
	f2, _ := db.Feature(ctx, 0, g2)
	f3, _ := db.Feature(ctx, 0, g3)
	fn, _ := db.Feature(ctx, 0, newGID)
	if f1.Attributes["name"] != "server1" || f2.Attributes["name"] != "server2" || f3 != nil || fn == nil || fn.Attributes["priority"] != int64(4) {
		t.Fatalf("after apply: %v %v %v %v", f1, f2, f3, fn)
	}
	cs, err := db.Conflicts(ctx)
	if err != nil || len(cs) != 1 {
		t.Fatalf("conflicts %v %v", cs, err)
	}
	var local, server arcgis.Feature
	json.Unmarshal(cs[0].LocalVersion, &local)
	json.Unmarshal(cs[0].ServerVersion, &server)
	if cs[0].GlobalID != g2 || local.Attributes["name"] != "local2" || server.Attributes["name"] != "server2" || cs[0].Resolution != "server" {
		t.Fatalf("conflict %+v", cs[0])
	}
	gen, gens, _ := db.ServerGens(ctx)
	if gen != 5555 || !reflect.DeepEqual(gens[0], arcgis.ServerGen{ID: 0, ServerGen: 2000}) {
		t.Fatalf("gens %d %+v", gen, gens)
	}
	rep, _ := db.Replica(ctx)
	if rep.ReplicaID != "{AAAAAAAA-0000-4000-8000-000000000001}" || rep.ReplicaServerGen != 5555 {
		t.Fatalf("replica %+v", rep)
	}
	var buf bytes.Buffer
	atts, _ := db.Attachments(ctx, 0, newGID)
	if len(atts) != 1 {
		t.Fatal("server attachment missing")
	}
	if _, err := db.ReadAttachment(ctx, 0, atts[0].GlobalID, &buf); err != nil || buf.String() != "server file" {
		t.Fatal(err, buf.String())
	}
	// DeviceWins keeps the local version and its pending change.
	if err := db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": g1, "name": "mine"}}); err != nil {
		t.Fatal(err)
	}
	res, err = db.ApplyServerChanges(ctx, ServerChanges{Decide: func(string, string, Op, Op, *arcgis.Feature) SyncDecision { return SyncDecision{Resolution: "device"} }, Layers: []LayerChanges{{LayerID: 0, Updates: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": g1, "name": "theirs"}}}}}})
	if err != nil || res.Skipped != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	f1, _ = db.Feature(ctx, 0, g1)
	if chs, _ := db.Changes(ctx, 0, 0); f1.Attributes["name"] != "mine" || len(chs) != 1 {
		t.Fatalf("device wins: %v, %d changes", f1.Attributes["name"], len(chs))
	}
	// A failing batch rolls back completely, generations included.
	before := dbDigest(t, db)
	_, err = db.ApplyServerChanges(ctx, ServerChanges{ReplicaServerGen: 9999, Layers: []LayerChanges{{LayerID: 0,
		Adds: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": NewGlobalID(), "name": "x"}}, {Attributes: map[string]any{"name": "no gid"}}}}}})
	if err == nil || dbDigest(t, db) != before {
		t.Fatalf("failed apply: err=%v, changed=%v", err, dbDigest(t, db) != before)
	}
	validate(t, db)
}

func TestEvolve(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	ls, _ := readLayers(t)
	l := ls[4] // Notes
	no := false
	l.Fields = append(l.Fields,
		arcgis.Field{Name: "severity", Type: arcgis.FieldSmallInteger, Alias: "Severity", Domain: &arcgis.Domain{Type: "range", Name: "Sev", Range: []float64{0, 3}}},
		arcgis.Field{Name: "reviewed", Type: arcgis.FieldString, Length: 5, Nullable: &no, DefaultValue: "no"})
	if _, err := db.CreateLayer(ctx, &l, nil); err != nil { // existing id → evolve
		t.Fatal(err)
	}
	fs, err := db.Features(ctx, Query{LayerID: 4})
	if err != nil || len(fs) != 2 || fs[0].Attributes["text"] != `it's "quoted" — ünïcode` || fs[0].Attributes["reviewed"] != "no" || fs[0].Attributes["severity"] != nil {
		t.Fatalf("after evolve: %v %+v", err, fs)
	}
	gid := fs[0].Attributes["GlobalID"].(string)
	if err := db.Update(ctx, 4, arcgis.Feature{Attributes: map[string]any{"GlobalID": gid, "severity": 9.0}}); !isFieldErr(err, "severity", ErrDomain) {
		t.Fatalf("domain on new field: %v", err)
	}
	if err := db.Update(ctx, 4, arcgis.Feature{Attributes: map[string]any{"GlobalID": gid, "severity": 2.0}}); err != nil {
		t.Fatal(err)
	}
	chs, _ := db.Changes(ctx, 0, 0)
	var old map[string]any
	json.Unmarshal(chs[len(chs)-1].OldValues, &old)
	if _, ok := old["severity"]; !ok {
		t.Fatalf("change trigger misses the new column: %s", chs[len(chs)-1].OldValues)
	}
	// The evolved schema survives reopening.
	path := db.Path()
	db.Close()
	db2, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if c := db2.TableByID(4).Col("severity"); c == nil || c.Field.Domain == nil {
		t.Fatal("evolved field lost on reopen")
	}
	validate(t, db2)
}

// Reopening a file whose bulk load was interrupted (triggers dropped)
// restores the spatial index and triggers.
func TestRepairAfterInterruptedLoad(t *testing.T) {
	ctx := testCtx(t)
	path := filepath.Join(t.TempDir(), "crash.gpkg")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ls, raws := readLayers(t)
	db.CreateLayer(ctx, &ls[2], raws[2])
	tb := db.TableByID(2)
	tx, _ := db.w.BeginTx(ctx, nil)
	startBulk(ctx, tx, tb)
	tx.ExecContext(ctx, `INSERT INTO Parcels (GlobalID, owner, geom) VALUES ('{00000000-0000-4000-8000-000000000001}', 'x', ?)`,
		EncodeBlob(&Geom{Type: GeomMultiPolygon, HasM: true, Polys: [][][][]float64{{{{0, 0, 0}, {0, 1, 0}, {1, 1, 0}, {0, 0, 0}}}}}, 4326))
	tx.Commit()
	db.Close()
	db, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.Count(ctx, Query{LayerID: 2, Envelope: &arcgis.Envelope{XMin: 0.1, YMin: 0.5, XMax: 0.2, YMax: 0.6}})
	if err != nil || n != 1 {
		t.Fatalf("rtree not rebuilt: %d %v", n, err)
	}
	validate(t, db)
	_ = os.Remove
}
