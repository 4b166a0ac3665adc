package geodb

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func TestLoadEdgeCases(t *testing.T) {
	ctx := testCtx(t)
	db := openTemp(t, "edge.gpkg")
	ls, raws := readLayers(t)
	for i := range ls {
		if _, err := db.CreateLayer(ctx, &ls[i], raws[i]); err != nil {
			t.Fatal(err)
		}
	}
	// Duplicate GlobalIDs: the last one wins, as with a replace.
	dup := `{"layers":[{"id":4,"features":[
 {"attributes":{"OBJECTID":1,"GlobalID":"{00000001-0000-4000-8000-000000000001}","text":"first"}},
 {"attributes":{"OBJECTID":2,"GlobalID":"{00000001-0000-4000-8000-000000000001}","text":"second"}}]}]}`
	if _, _, err := db.LoadReplica(ctx, strings.NewReader(dup), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	fs, _ := db.Features(ctx, Query{LayerID: 4})
	if len(fs) != 1 || fs[0].Attributes["text"] != "second" {
		t.Fatalf("after duplicate load: %+v", fs)
	}
	// Query JSON for one layer; unknown layer; features before id; bad JSON;
	// a server error body; cancellation.
	if _, err := db.LoadFeatures(ctx, 5, strings.NewReader(`{"geometryType":"esriGeometryPolygon","features":[{"attributes":{"zone":"A"},"geometry":{"rings":[[[0,0],[0,1],[1,1],[0,0]]]}}]}`), LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.Count(ctx, Query{LayerID: 5, Envelope: &arcgis.Envelope{XMin: 0.1, YMin: 0.5, XMax: 0.2, YMax: 0.6}}); n != 1 {
		t.Fatalf("loaded polygon not indexed: %d", n)
	}
	for _, bad := range []struct {
		doc  string
		want error
	}{
		{`{"layers":[{"id":42,"features":[]}]}`, ErrNoLayer},
		{`{"layers":[{"features":[],"id":4}]}`, nil},
		{`{"layers":[{"id":4,"features":[{"attributes":`, nil},
		{`{"error":{"code":400,"message":"Invalid replica"}}`, nil},
	} {
		before := dbDigest(t, db)
		_, _, err := db.LoadReplica(ctx, strings.NewReader(bad.doc), LoadOptions{})
		if err == nil || (bad.want != nil && !errors.Is(err, bad.want)) {
			t.Errorf("%s: err = %v, want %v", bad.doc, err, bad.want)
		}
		if dbDigest(t, db) != before {
			t.Errorf("%s: failed load changed the database", bad.doc)
		}
	}
	// A value of the wrong type no longer fails the layer (the server is
	// wrong, not the user): the feature loads without it, with a warning.
	_, st, err := db.LoadReplica(ctx, strings.NewReader(`{"layers":[{"id":4,"features":[{"attributes":{"OBJECTID":77,"text":{"a":1}}}]}]}`), LoadOptions{})
	if err != nil || st.Features != 1 || len(st.Warnings) != 1 || st.Warnings[0].Kind != WarnDroppedValue || st.Warnings[0].Field != "text" || st.Warnings[0].ObjectID != 77 {
		t.Errorf("wrong-typed value: err %v, stats %+v", err, st)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := db.LoadReplica(cctx, strings.NewReader(`{"layers":[{"id":4,"features":[{"attributes":{"text":"x"}}]}]}`), LoadOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: %v", err)
	}
	validate(t, db)
}
