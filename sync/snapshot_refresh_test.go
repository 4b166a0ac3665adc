package sync

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

// bareService serves the emulator's services as an older or plainer
// ArcGIS Server would: no editingInfo, and with stripGID no GlobalIDs. It
// counts the layer queries.
type bareService struct {
	h        http.Handler
	stripGID bool
	queries  atomic.Int32
}

func (b *bareService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/query") {
		b.queries.Add(1)
	}
	r.Header.Del("Accept-Encoding")
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	var v any
	if json.Unmarshal(body, &v) == nil {
		v = b.strip(v)
		body, _ = json.Marshal(v)
	}
	for k, vs := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (b *bareService) strip(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "editingInfo")
		if b.stripGID {
			delete(x, "globalIdField")
			delete(x, "GlobalID")
			if fs, ok := x["fields"].([]any); ok {
				var keep []any
				for _, f := range fs {
					if fm, ok := f.(map[string]any); ok && fm["type"] == "esriFieldTypeGlobalID" {
						continue
					}
					keep = append(keep, f)
				}
				x["fields"] = keep
			}
		}
		for k, e := range x {
			x[k] = b.strip(e)
		}
	case []any:
		for i := range x {
			x[i] = b.strip(x[i])
		}
	}
	return v
}

func localOwners(t *testing.T, db *geodb.DB) map[int64]string {
	t.Helper()
	fs, err := db.Features(context.Background(), geodb.Query{LayerID: 0, NoGeometry: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]string{}
	for _, f := range fs {
		var oid int64
		switch v := f.Attributes["OBJECTID"].(type) {
		case float64:
			oid = int64(v)
		case int64:
			oid = v
		case json.Number:
			oid, _ = v.Int64()
		}
		out[oid], _ = f.Attributes["Owner"].(string)
	}
	return out
}

// snapshotEngine serves the emulator's Reference_Data through h and
// returns an empty snapshot-mode store of it and its sync engine.
func snapshotEngine(t *testing.T, h http.Handler) (*geodb.DB, *Engine) {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	c, err := arcgis.New(arcgis.WithRetryPolicy(fastRetry()))
	if err != nil {
		t.Fatal(err)
	}
	url := hs.URL + "/arcgis/rest/services/Reference_Data/FeatureServer"
	db := emptyGPKG(t, c, url, Config{ServiceURL: url, Mode: ModeSnapshot})
	return db, New(db, c, Options{})
}

// A snapshot of a service without editingInfo and without GlobalIDs is
// re-queried at every sync; rows are matched by object id, so unchanged
// rows keep their ids, a server update changes the row in place and a
// server delete removes it; the report counts each.
func TestSnapshotRefreshWithoutEditingInfoOrGlobalIDs(t *testing.T) {
	ctx := context.Background()
	em := emulator.New(emulator.Options{Anonymous: true})
	defer em.Close()
	bare := &bareService{h: em, stripGID: true}
	db, eng := snapshotEngine(t, bare)
	rep, err := eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := em.Features("Reference_Data", 0, "")
	if rep.Snapshot == nil || rep.Snapshot.Added != len(all) || len(all) < 3 {
		t.Fatalf("first refresh: %+v (server has %d)", rep.Snapshot, len(all))
	}
	first := localOwners(t, db)
	upd, del := all[1], all[2]
	updOID := upd.Attributes["OBJECTID"].(int64)
	delOID := del.Attributes["OBJECTID"].(int64)
	if err := em.EditFeatures("Reference_Data", 0, nil, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": upd.Attributes["GlobalID"], "Owner": "Changed"}}},
		[]string{del.Attributes["GlobalID"].(string)}); err != nil {
		t.Fatal(err)
	}
	q := bare.queries.Load()
	rep, err = eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bare.queries.Load() == q {
		t.Fatal("a layer without editingInfo was not re-queried")
	}
	if s := rep.Snapshot; s == nil || s.Updated != 1 || s.Deleted != 1 || s.Added != 0 || s.Unchanged != len(all)-2 || s.Skipped {
		t.Fatalf("refresh counts: %+v", rep.Snapshot)
	}
	now := localOwners(t, db)
	if now[updOID] != "Changed" {
		t.Errorf("updated row %d: owner %q", updOID, now[updOID])
	}
	if _, ok := now[delOID]; ok {
		t.Errorf("row %d deleted on the server is still there", delOID)
	}
	for oid, owner := range first {
		if oid == updOID || oid == delOID {
			continue
		}
		if now[oid] != owner {
			t.Errorf("unchanged row %d: %q, was %q (ids must stay stable)", oid, now[oid], owner)
		}
	}
	// Nothing changed since: re-queried all the same (no editingInfo), no change.
	q = bare.queries.Load()
	rep, err = eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if bare.queries.Load() == q || rep.Snapshot.Skipped || rep.Snapshot.Unchanged != len(all)-1 || rep.Snapshot.Updated+rep.Snapshot.Added+rep.Snapshot.Deleted != 0 {
		t.Fatalf("third refresh: queries %d→%d, %+v", q, bare.queries.Load(), rep.Snapshot)
	}
}

// With editingInfo, an unchanged layer is not downloaded again; a server
// edit (which moves lastEditDate) is.
func TestSnapshotRefreshSkipsUnchangedLayer(t *testing.T) {
	ctx := context.Background()
	em := emulator.New(emulator.Options{Anonymous: true})
	defer em.Close()
	var queries atomic.Int32
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/query") {
			queries.Add(1)
		}
		em.ServeHTTP(w, r)
	})
	_, eng := snapshotEngine(t, h)
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	q := queries.Load()
	rep, err := eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if queries.Load() != q || rep.Snapshot == nil || !rep.Snapshot.Skipped || len(rep.Snapshot.SkippedLayers) != 1 {
		t.Fatalf("unchanged layer: %d queries, %+v", queries.Load()-q, rep.Snapshot)
	}
	all, _ := em.Features("Reference_Data", 0, "")
	if err := em.EditFeatures("Reference_Data", 0, nil, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": all[0].Attributes["GlobalID"], "Owner": "Later"}}}, nil); err != nil {
		t.Fatal(err)
	}
	rep, err = eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Snapshot == nil || rep.Snapshot.Skipped || rep.Snapshot.Updated != 1 {
		t.Fatalf("after a server edit: %+v", rep.Snapshot)
	}
}

// A refresh holds the local rows of one server page at a time, not the
// whole layer, and still finds every change: an update, a delete and the
// unchanged rest across several pages.
func TestSnapshotRefreshHoldsOnePageOfLocalRows(t *testing.T) {
	ctx := context.Background()
	ref := emulator.ReferenceDataService()
	ref.Layers[0].Count = 230
	ref.MaxRecordCount = 50
	em := emulator.New(emulator.Options{Anonymous: true, FeatureServices: []emulator.FeatureServiceOptions{ref}})
	defer em.Close()
	db, eng := snapshotEngine(t, &bareService{h: em}) // no editingInfo: every sync re-queries
	if _, err := eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Count(ctx, geodb.Query{LayerID: 0}); n != 230 {
		t.Fatalf("first refresh stored %d rows, want 230", n)
	}
	all, _ := em.Features("Reference_Data", 0, "")
	if err := em.EditFeatures("Reference_Data", 0, nil, []arcgis.Feature{{Attributes: map[string]any{"GlobalID": all[120].Attributes["GlobalID"], "Owner": "Changed"}}},
		[]string{all[200].Attributes["GlobalID"].(string)}); err != nil {
		t.Fatal(err)
	}
	rep, err := eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Snapshot
	if s == nil || s.Updated != 1 || s.Deleted != 1 || s.Added != 0 || s.Unchanged != 228 {
		t.Fatalf("refresh counts: %+v", s)
	}
	if s.localHeld == 0 || s.localHeld > ref.MaxRecordCount {
		t.Errorf("refresh held %d local rows at once, want 1..%d (one page)", s.localHeld, ref.MaxRecordCount)
	}
}
