package sync

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

var errCrash = errors.New("simulated crash")

// serverGIDs returns two existing server features of layer 0.
func existing(t *testing.T, f *fixture) (upd, del string) {
	t.Helper()
	all, err := f.em.Features(svcName, 0, "")
	if err != nil || len(all) < 3 {
		t.Fatalf("features: %v", err)
	}
	return fmt.Sprint(all[1].Attributes["GlobalID"]), fmt.Sprint(all[2].Attributes["GlobalID"])
}

// editLocally sets the Notes of feature u of layer 0 and deletes feature d
// in the store (both change-logged).
func editLocally(t *testing.T, f *fixture, u, notes, d string) {
	t.Helper()
	ctx := context.Background()
	if err := f.db.Update(ctx, 0, upd(u, "Notes", notes)); err != nil {
		t.Fatal(err)
	}
	if err := f.db.Delete(ctx, 0, d); err != nil {
		t.Fatal(err)
	}
}

func TestFailureInjectionExactlyOnce(t *testing.T) {
	cases := []struct {
		name   string
		step   Step   // crash at this hook (once)
		cut    string // lose the reply of requests to this path after the server applied the edits
		landed bool
	}{
		{name: "before upload", step: StepBeforeUpload},
		{name: "reply lost after server applied", cut: "synchronizeReplica", landed: true},
		{name: "result file cut after server applied", cut: "replicafiles", landed: true},
		{name: "crash after send before apply", step: StepAfterSend, landed: true},
		{name: "crash during download apply", step: StepBeforeApply, landed: true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			crashed := false
			f := newFixture(t, fixtureOpts{hooks: Hooks{At: func(_ context.Context, s Step) error {
				if s == tc.step && !crashed {
					crashed = true
					return errCrash
				}
				return nil
			}}})
			before := f.em.FeatureCount(svcName, 0)
			gids := addLocal(t, f, 4, fmt.Sprintf("fi%d", i))
			upd, del := existing(t, f)
			editLocally(t, f, upd, "updated offline", del)
			// The download-first call (an update is pending) must not be cut:
			// cut only the upload by arming the fault after the first call.
			if tc.cut != "" {
				f.eng.opts.Hooks.At = func(_ context.Context, s Step) error {
					if s == StepBeforeUpload && !crashed {
						crashed = true
						f.em.SetFaults(emulator.Faults{CutAfterBytes: 5, Paths: []string{tc.cut}})
					}
					return nil
				}
			}
			if _, err := f.eng.Sync(ctx); err == nil {
				t.Fatal("first sync succeeded despite the injected failure")
			}
			f.em.SetFaults(emulator.Faults{})
			if st, _ := f.eng.Status(ctx); st.PendingEdits == 0 {
				t.Errorf("edits acknowledged by a failed sync")
			}
			// A colleague edits the server before the retry.
			colleague := arcgis.Feature{Attributes: map[string]any{"GlobalID": "{22222222-2222-4333-8444-555555555555}", "InspectionID": fmt.Sprintf("colleague%d", i)}, Geometry: pt(-13049000, 4031000)}
			if err := f.em.EditFeatures(svcName, 0, []arcgis.Feature{colleague}, nil, nil); err != nil {
				t.Fatal(err)
			}
			rep, err := f.eng.Sync(ctx)
			if err != nil {
				t.Fatalf("retry: %v", err)
			}
			if tc.landed && (!rep.Recovered || rep.ReplayedLanded != 6) {
				t.Errorf("retry report %+v, want a reconcile that found 6 landed edits", rep)
			}
			if got := f.em.FeatureCount(svcName, 0); got != before+4-1+1 {
				t.Errorf("server has %d features, want %d", got, before+4)
			}
			assertOnServerOnce(t, f, 0, gids)
			if sf, ok := f.em.Feature(svcName, 0, upd); !ok || sf.Attributes["Notes"] != "updated offline" {
				t.Errorf("update lost: %v", sf.Attributes["Notes"])
			}
			if _, ok := f.em.Feature(svcName, 0, del); ok {
				t.Errorf("delete lost")
			}
			if lf, _ := f.db.Feature(ctx, 0, colleague.Attributes["GlobalID"].(string)); lf == nil {
				t.Errorf("colleague's edit not downloaded after recovery")
			}
			st, _ := f.eng.Status(ctx)
			if st.PendingEdits != 0 || st.JournalOpen {
				t.Errorf("after retry: %+v", st)
			}
		})
	}
}
