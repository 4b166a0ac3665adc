package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

func upd(gid string, kv ...any) arcgis.Feature {
	a := map[string]any{"GlobalID": gid}
	for i := 0; i < len(kv); i += 2 {
		a[kv[i].(string)] = kv[i+1]
	}
	return arcgis.Feature{Attributes: a}
}

func TestConflictPolicies(t *testing.T) {
	for _, pol := range []Policy{LastSyncWins, DeviceWins, ServerWins, FieldMerge} {
		t.Run(string(pol), func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, fixtureOpts{cfg: func(c *Config) { c.Policy = pol }})
			all, _ := f.em.Features(svcName, 0, "")
			x, z, y := fmt.Sprint(all[3].Attributes["GlobalID"]), fmt.Sprint(all[4].Attributes["GlobalID"]), fmt.Sprint(all[5].Attributes["GlobalID"])
			// Local edits.
			for _, g := range []string{x, z, y} {
				if err := f.db.Update(ctx, 0, upd(g, "Notes", "device")); err != nil {
					t.Fatal(err)
				}
			}
			// Server edits by a colleague: x overlaps (Notes) and adds Depth,
			// z changes Depth only, y is deleted.
			if err := f.em.EditFeatures(svcName, 0, nil, []arcgis.Feature{upd(x, "Notes", "server", "Depth", 7.5), upd(z, "Depth", 9.25)}, []string{y}); err != nil {
				t.Fatal(err)
			}
			rep, err := f.eng.Sync(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Conflicts != 3 || !rep.DownloadFirstCall {
				t.Errorf("report %+v, want 3 conflicts found by a download-first call", rep)
			}
			cs, _ := f.db.Conflicts(ctx)
			if len(cs) != 3 {
				t.Fatalf("%d conflicts recorded, want 3", len(cs))
			}
			for _, c := range cs {
				if c.GlobalID == x && (c.ServerVersion == nil || !json.Valid(c.ServerVersion) || !contains(string(c.ServerVersion), `"server"`)) {
					t.Errorf("overwritten server value not kept: %s", c.ServerVersion)
				}
			}
			srv := func(g, k string) any {
				ft, ok := f.em.Feature(svcName, 0, g)
				if !ok {
					return "<deleted>"
				}
				return ft.Attributes[k]
			}
			loc := func(g, k string) any {
				ft, _ := f.db.Feature(ctx, 0, g)
				if ft == nil {
					return "<deleted>"
				}
				return ft.Attributes[k]
			}
			switch pol {
			case LastSyncWins:
				// whole device row wins on x and z (Depth of the colleague
				// overwritten by the device's stale value), y stays deleted.
				if srv(x, "Notes") != "device" || srv(y, "Notes") != "<deleted>" || loc(y, "Notes") != "<deleted>" {
					t.Errorf("server x=%v y=%v local y=%v", srv(x, "Notes"), srv(y, "Notes"), loc(y, "Notes"))
				}
				if srv(z, "Depth") == 9.25 {
					t.Errorf("z: the device's whole row should have been applied (ArcGIS rule)")
				}
			case DeviceWins:
				if srv(x, "Notes") != "device" || srv(z, "Notes") != "device" || loc(x, "Notes") != "device" || srv(y, "Notes") != "<deleted>" {
					t.Errorf("server x=%v z=%v y=%v local x=%v", srv(x, "Notes"), srv(z, "Notes"), srv(y, "Notes"), loc(x, "Notes"))
				}
			case ServerWins:
				if srv(x, "Notes") != "server" || loc(x, "Notes") != "server" || loc(y, "Notes") != "<deleted>" || loc(z, "Notes") == "device" {
					t.Errorf("server x=%v local x=%v y=%v z=%v", srv(x, "Notes"), loc(x, "Notes"), loc(y, "Notes"), loc(z, "Notes"))
				}
			case FieldMerge:
				// z merges: device Notes up, server Depth down.
				if srv(z, "Notes") != "device" || srv(z, "Depth") != 9.25 || loc(z, "Depth") != 9.25 || loc(z, "Notes") != "device" {
					t.Errorf("z merge: server %v/%v local %v/%v", srv(z, "Notes"), srv(z, "Depth"), loc(z, "Notes"), loc(z, "Depth"))
				}
				// x: Notes overlaps (held), Depth taken.
				if srv(x, "Notes") != "server" || loc(x, "Notes") != "device" || loc(x, "Depth") != 7.5 {
					t.Errorf("x: server Notes %v local Notes %v Depth %v", srv(x, "Notes"), loc(x, "Notes"), loc(x, "Depth"))
				}
				st, _ := f.eng.Status(ctx)
				if st.PendingConflicts != 1 {
					t.Fatalf("pending conflicts %d, want 1", st.PendingConflicts)
				}
				var held int64
				for _, c := range cs {
					if c.Resolution == ResolutionPending {
						held = c.ID
					}
				}
				if err := f.eng.ResolveConflict(ctx, held, ResolutionDevice); err != nil {
					t.Fatal(err)
				}
				if _, err := f.eng.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				if srv(x, "Notes") != "device" {
					t.Errorf("after resolving for the device, server Notes = %v", srv(x, "Notes"))
				}
			}
			if st, _ := f.eng.Status(ctx); st.PendingEdits != 0 {
				t.Errorf("pending edits left: %d", st.PendingEdits)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
