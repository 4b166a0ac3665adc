package offline

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/emulator"
)

// A job stopped mid-way resumes with the parameters and overrides it
// started with even when the web map changed on the server meanwhile
// (live bug 4: the resume used to recompute them and refuse the directory
// as another job's).
func TestJobResumeAfterWebMapChange(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	notes := LayerKey(e.em.ServicesURL+"/Field_Survey/FeatureServer", 3)
	if o.GenerateGeodatabase[svcKey(e, "Field_Survey/FeatureServer")] == nil {
		t.Fatalf("overrides have no Field_Survey replica: %v", sortedKeys(o.GenerateGeodatabase))
	}
	dir := filepath.Join(t.TempDir(), "pkg")

	// First run: stop as soon as one service is done.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e.stopAfterFirstService(ctx, t, p, o, dir)
	if jr, err := loadJournal(dir); err != nil || jr == nil {
		t.Fatalf("no journal after the stop: %v", err)
	}

	// The author edits the web map: drops the notes table, renames a layer
	// and changes the offline settings.
	var wm map[string]any
	if err := e.c.ItemDataInto(ctx, emulator.DemoWebMapFieldSurveyID, &wm); err != nil {
		t.Fatal(err)
	}
	delete(wm, "tables")
	for _, l := range wm["operationalLayers"].([]any) {
		l.(map[string]any)["title"] = "Renamed"
	}
	wm["applicationProperties"].(map[string]any)["offline"].(map[string]any)["readonlyLayers"] = map[string]any{"downloadAttachments": true}
	b, _ := json.Marshal(wm)
	if err := e.em.SetWebMap(emulator.DemoWebMapFieldSurveyID, b); err != nil {
		t.Fatal(err)
	}

	// The resume recomputes parameters and overrides (as every caller does)
	// from the changed map: they differ, the job still resumes.
	e2 := newJobEnvFor(t, e.em, e.em.URL)
	p2 := e2.params(t)
	o2 := e2.overrides(t, p2)
	if reflect.DeepEqual(o, o2) {
		t.Fatal("the web map change did not change the overrides: the test proves nothing")
	}
	resumed := e2.task.NewJob(p2, o2, dir, JobOptions{Client: e2.c, PollInterval: 2 * time.Millisecond})
	res, err := resumed.Run(ctx)
	if err != nil {
		t.Fatalf("resume after the web map changed: %v", err)
	}
	if msg := resumed.Progress().Message; !strings.Contains(msg, "recorded when the job started") {
		t.Errorf("progress message %q does not say the recorded parameters were used", msg)
	}
	if res.State != JobSucceeded || len(jobErrors(res.LayerErrors))+len(res.TableErrors) > 0 {
		t.Fatalf("resume: state %s, errors %v %v", res.State, res.LayerErrors, res.TableErrors)
	}
	m := res.Manifest
	wantO, _ := json.Marshal(o)
	gotO, _ := json.Marshal(m.Overrides)
	if string(wantO) != string(gotO) {
		t.Errorf("package overrides are not the original ones:\n got %s\nwant %s", gotO, wantO)
	}
	wantP, _ := json.Marshal(p)
	gotP, _ := json.Marshal(m.Parameters)
	if string(wantP) != string(gotP) {
		t.Errorf("package parameters are not the original ones:\n got %s\nwant %s", gotP, wantP)
	}
	if g := m.Overrides.GenerateGeodatabase[svcKey(e, "Field_Survey/FeatureServer")]; g == nil || g.LayerOption(3) == nil {
		t.Errorf("the original overrides' notes table %s is gone from the package", notes)
	}
	// map.json and the package's layer list come from the web map as it
	// was when the job started: the notes table is there, nothing renamed.
	found := false
	for _, ml := range m.Tables {
		found = found || ml.Key == notes && ml.Store != ""
	}
	if !found {
		t.Errorf("package tables %v lack the notes table %s", m.Tables, notes)
	}
	for _, ml := range m.Layers {
		if ml.Title == "Renamed" {
			t.Errorf("package layer %s has the title given after the job started", ml.Key)
		}
	}
	pkg, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	inMap := false
	for _, en := range pkg.Map.Entries() {
		inMap = inMap || en.IsTable() && en.ID == "Field_Survey_InspectionNotes"
		if en.Title == "Renamed" {
			t.Errorf("map.json entry %s has the title given after the job started", en.ID)
		}
	}
	if !inMap {
		t.Error("map.json lacks the notes table of the original web map")
	}
	if len(jobErrors(m.LayerErrors))+len(m.TableErrors) != 0 {
		t.Errorf("layer errors %v, table errors %v", m.LayerErrors, m.TableErrors)
	}
}

// stopAfterFirstService runs the job into dir and stops it as soon as one
// service is done (its journal stays); it fails the test unless the run
// ends canceled.
func (e *jobEnv) stopAfterFirstService(ctx context.Context, t *testing.T, p *Parameters, o *Overrides, dir string) {
	t.Helper()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	job := e.task.NewJob(p, o, dir, JobOptions{Client: e.c, PollInterval: 2 * time.Millisecond, Concurrency: 1,
		Hook: func(point string) {
			if point == "serviceDone" {
				stop()
			}
		}})
	if _, err := job.Run(runCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: want it stopped, got %v", err)
	}
}

// A directory holding a stopped job for another area of interest is still
// refused: that is another job, not a resume.
func TestJobResumeOtherAreaRefused(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e.stopAfterFirstService(ctx, t, p, o, dir)
	p2 := e.params(t)
	env := *p2.AreaOfInterest
	xmin := *env.XMin + 0.001
	env.XMin = &xmin
	p2.AreaOfInterest = &env
	if _, err := e.task.NewJob(p2, e.overrides(t, p2), dir, JobOptions{Client: e.c}).Run(ctx); !HasCode(err, ErrTargetNotEmpty) {
		t.Fatalf("resume with another area of interest: want %s, got %v", ErrTargetNotEmpty, err)
	}
}
