package sync

import (
	"context"
	"fmt"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

func pt(x, y float64) *arcgis.Geometry { return &arcgis.Geometry{X: &x, Y: &y} }

// addLocal adds n inspections locally and returns their GlobalIDs.
func addLocal(t testing.TB, f *fixture, n int, tag string) []string {
	t.Helper()
	var gids []string
	for i := range n {
		r, err := f.db.Add(context.Background(), 0, arcgis.Feature{Attributes: map[string]any{"InspectionID": fmt.Sprintf("%s-%d", tag, i)}, Geometry: pt(-13050000+float64(i), 4030000)})
		if err != nil {
			t.Fatal(err)
		}
		gids = append(gids, r.GlobalID)
	}
	return gids
}

// serverCountByGID asserts every GlobalID is on the server exactly once.
func assertOnServerOnce(t testing.TB, f *fixture, layer int, gids []string) {
	t.Helper()
	all, err := f.em.Features(svcName, layer, "")
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	names := map[string]int{}
	for _, ft := range all {
		count[fmt.Sprint(ft.Attributes["GlobalID"])]++
		names[fmt.Sprint(ft.Attributes["InspectionID"])]++
	}
	for _, g := range gids {
		if count[g] != 1 {
			t.Errorf("GlobalID %s on the server %d times, want 1", g, count[g])
		}
	}
	for n, c := range names {
		if c > 1 && n != "<nil>" && n != "" {
			t.Errorf("name %q on the server %d times (duplicate feature)", n, c)
		}
	}
}

func TestSyncEndToEndWithConcurrentServerEdits(t *testing.T) {
	variants := []struct {
		name  string
		model string
		cfg   func(*Config)
	}{
		{"perLayer result file", arcgis.SyncModelPerLayer, nil},
		{"perLayer embedded", arcgis.SyncModelPerLayer, func(c *Config) { c.Embedded = true }},
		{"perLayer async", arcgis.SyncModelPerLayer, func(c *Config) { c.Async = true }},
		{"perReplica", arcgis.SyncModelPerReplica, nil},
		{"per-layer directions", arcgis.SyncModelPerLayer, func(c *Config) { c.LayerDirections = map[int]string{1: arcgis.SyncDownload, 2: arcgis.SyncUpload} }},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { testEndToEnd(t, v.model, v.cfg) })
	}
}

func testEndToEnd(t *testing.T, model string, mod func(*Config)) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{syncModel: model, cfg: mod})
	before := f.em.FeatureCount(svcName, 0)
	gids := addLocal(t, f, 5, "e2e")
	// Another user edits the server meanwhile.
	other := arcgis.Feature{Attributes: map[string]any{"GlobalID": "{11111111-2222-4333-8444-555555555555}", "InspectionID": "from colleague"}, Geometry: pt(-13049000, 4031000)}
	if err := f.em.EditFeatures(svcName, 0, []arcgis.Feature{other}, nil, nil); err != nil {
		t.Fatal(err)
	}
	rep, err := f.eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploaded != 5 {
		t.Errorf("uploaded %d, want 5", rep.Uploaded)
	}
	if got := f.em.FeatureCount(svcName, 0); got != before+6 {
		t.Errorf("server count %d, want %d", got, before+6)
	}
	assertOnServerOnce(t, f, 0, gids)
	local, err := f.db.Feature(ctx, 0, other.Attributes["GlobalID"].(string))
	if err != nil || local == nil {
		t.Fatalf("colleague's feature not downloaded: %v", err)
	}
	st, err := f.eng.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.PendingEdits != 0 || st.State != StateIdle || st.LastSuccess.IsZero() || st.JournalOpen {
		t.Errorf("status after sync = %+v", st)
	}
	// A second sync sends nothing and downloads nothing new.
	rep, err = f.eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Uploaded != 0 || rep.Downloaded != 0 {
		t.Errorf("idle sync report %+v", rep)
	}
	_ = emulator.DemoUser
}
