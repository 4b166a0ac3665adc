package geodb

import (
	"context"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func TestApplySyncKeepDecideMetaStream(t *testing.T) {
	ctx := testCtx(t)
	db := loadedDB(t)
	tab := db.TableByID(2)
	const a, b = "{0000012D-0000-4000-8000-00000000012D}", "{0000012E-0000-4000-8000-00000000012E}"
	if err := db.Update(ctx, 2, arcgis.Feature{Attributes: map[string]any{"GlobalID": a, "owner": "local A"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, 2, arcgis.Feature{Attributes: map[string]any{"GlobalID": b, "owner": "local B"}}); err != nil {
		t.Fatal(err)
	}
	upTo, _ := db.LastChangeSeq(ctx)
	// Ack everything but b; a server update to a (now acknowledged) applies
	// without conflict; a server update to b (still pending) is decided.
	var decided []string
	res, err := db.ApplySync(ctx, SyncApply{
		AckThrough: upTo,
		Keep:       []ChangeKey{{Table: tab.Name, GlobalID: b}},
		Layers:     []LayerChanges{{LayerID: 2, Updates: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": a, "owner": "server A"}}}}},
		Stream: func(ctx context.Context, apply func(LayerChanges) error) error {
			return apply(LayerChanges{LayerID: 2, Updates: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": b, "owner": "server B", "area": 99.0}}}})
		},
		Decide: func(table, gid string, localOp, serverOp Op, server *arcgis.Feature) SyncDecision {
			decided = append(decided, gid)
			// keep the local owner, take the server's area
			return SyncDecision{Apply: true, Feature: &arcgis.Feature{Attributes: map[string]any{"GlobalID": gid, "area": server.Attributes["area"]}},
				Resolution: "merged", Fields: []string{"owner"}}
		},
		SetMeta:          map[string]string{"k": "v"},
		ReplicaServerGen: 77,
		LayerServerGens:  []arcgis.ServerGen{{ID: 2, ServerGen: 78}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Conflicts != 1 || len(decided) != 1 || decided[0] != b {
		t.Errorf("result %+v decided %v", res, decided)
	}
	fa, _ := db.Feature(ctx, 2, a)
	fb, _ := db.Feature(ctx, 2, b)
	if fa.Attributes["owner"] != "server A" || fb.Attributes["owner"] != "local B" || fb.Attributes["area"] != 99.0 {
		t.Errorf("a=%v b=%v/%v", fa.Attributes["owner"], fb.Attributes["owner"], fb.Attributes["area"])
	}
	cs, _ := db.Changes(ctx, 0, 100)
	if len(cs) != 1 || cs[0].GlobalID != b {
		t.Errorf("pending after ack: %+v", cs)
	}
	if v, ok, _ := db.Meta(ctx, "k"); !ok || v != "v" {
		t.Errorf("meta not written in the transaction")
	}
	gen, gens, _ := db.ServerGens(ctx)
	if gen != 77 || len(gens) == 0 {
		t.Errorf("gens %d %v", gen, gens)
	}
	conf, _ := db.Conflicts(ctx)
	if len(conf) != 1 || conf[0].Resolution != "merged" {
		t.Fatalf("conflicts %+v", conf)
	}
	if err := db.SetConflictResolution(ctx, conf[0].ID, "device"); err != nil {
		t.Fatal(err)
	}
	// A failing stream rolls everything back.
	before, _ := db.Feature(ctx, 2, a)
	_, err = db.ApplySync(ctx, SyncApply{Layers: []LayerChanges{{LayerID: 2, Updates: []arcgis.Feature{{Attributes: map[string]any{"GlobalID": a, "owner": "never"}}}}},
		Stream: func(context.Context, func(LayerChanges) error) error { return context.Canceled }, DeleteMeta: []string{"k"}})
	if err == nil {
		t.Fatal("failing stream committed")
	}
	after, _ := db.Feature(ctx, 2, a)
	if after.Attributes["owner"] != before.Attributes["owner"] {
		t.Errorf("partial apply committed")
	}
	if _, ok, _ := db.Meta(ctx, "k"); !ok {
		t.Errorf("meta deleted by a rolled-back transaction")
	}
	// RowValues matches the change log's encoding.
	if err := db.Update(ctx, 2, arcgis.Feature{Attributes: map[string]any{"GlobalID": a, "area": 1.5}}); err != nil {
		t.Fatal(err)
	}
	cs, _ = db.Changes(ctx, 0, 100)
	rv, err := db.RowValues(ctx, 2, a)
	if err != nil || rv["owner"] != "server A" || len(cs) < 2 || cs[len(cs)-1].GlobalID != a {
		t.Errorf("row values %v %v", rv, err)
	}
	if err := db.WriteUnlogged(ctx, 2, arcgis.Feature{Attributes: map[string]any{"GlobalID": a, "owner": "from server"}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.PendingChanges(ctx); n != int64(len(cs)) {
		t.Errorf("WriteUnlogged logged a change: %d pending, want %d", n, len(cs))
	}
}
