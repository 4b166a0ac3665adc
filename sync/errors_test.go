package sync

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

func TestPerEditErrorsKeptAndSurfaced(t *testing.T) {
	ctx := context.Background()
	svc := smallDemo()
	svc.Update = false // the server rejects updates
	f := newFixture(t, fixtureOpts{emu: emulator.Options{FeatureServices: []emulator.FeatureServiceOptions{svc}},
		cfg: func(c *Config) { c.RollbackOnFailure = arcgis.Bool(false) }})
	gids := addLocal(t, f, 2, "pe")
	all, _ := f.em.Features(svcName, 0, "")
	g := fmt.Sprint(all[0].Attributes["GlobalID"])
	if err := f.db.Update(ctx, 0, upd(g, "Notes", "rejected")); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		rep, err := f.eng.Sync(ctx)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if rep.Failed != 1 {
			t.Errorf("round %d: %d failures, want 1", round, rep.Failed)
		}
		st, _ := f.eng.Status(ctx)
		if st.PendingEdits != 1 || len(st.EditErrors) != 1 || st.EditErrors[0].GlobalID != g || st.EditErrors[0].Description == "" {
			t.Errorf("round %d: status %+v, want the rejected update kept and surfaced", round, st)
		}
		assertOnServerOnce(t, f, 0, gids)
	}
	// With rollbackOnFailure the whole batch is refused: nothing is lost,
	// the reason is surfaced.
	cfg, _ := LoadConfig(ctx, f.db)
	cfg.RollbackOnFailure = nil
	if err := SaveConfig(ctx, f.db, cfg); err != nil {
		t.Fatal(err)
	}
	more := addLocal(t, f, 1, "pf")
	if _, err := f.eng.Sync(ctx); err == nil {
		t.Fatal("batch with a rejected edit succeeded under rollbackOnFailure")
	}
	st, _ := f.eng.Status(ctx)
	if st.PendingEdits != 2 || len(st.EditErrors) == 0 || st.JournalOpen || st.State != StateError {
		t.Errorf("status %+v", st)
	}
	if _, ok := f.em.Feature(svcName, 0, more[0]); ok {
		t.Errorf("rolled-back add is on the server")
	}
}

func TestOneSyncAtATime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	gids := addLocal(t, f, 20, "cc")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.eng.Sync(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	assertOnServerOnce(t, f, 0, gids)
	f.eng.mu.Lock()
	_, err := f.eng.TrySync(ctx)
	f.eng.mu.Unlock()
	if err != ErrBusy {
		t.Errorf("TrySync during a sync = %v, want ErrBusy", err)
	}
}
