package sync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

func TestTokenExpiryRenewsMidSync(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	gids := addLocal(t, f, 3, "renew")
	f.em.SetFaults(emulator.Faults{ExpireTokensNow: true})
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatalf("sync with an expired token should renew it: %v", err)
	}
	assertOnServerOnce(t, f, 0, gids)
}

func TestNeedsAuthKeepsEdits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	gids := addLocal(t, f, 3, "auth")
	static := newClient(t, f.em, arcgis.StaticToken(f.em.IssueToken(emulator.DemoUser)))
	eng := New(f.db, static, Options{})
	f.em.SetFaults(emulator.Faults{ExpireTokensNow: true})
	_, err := eng.Sync(ctx)
	if !errors.Is(err, ErrNeedsAuth) {
		t.Fatalf("err = %v, want ErrNeedsAuth", err)
	}
	st, _ := eng.Status(ctx)
	if st.State != StateNeedsAuth || st.PendingEdits != 3 {
		t.Errorf("status %+v, want needsAuth with 3 pending edits", st)
	}
	// Credentials come back: everything goes up once.
	if _, err := f.eng.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	assertOnServerOnce(t, f, 0, gids)
	if st, _ := f.eng.Status(ctx); st.State != StateIdle || st.PendingEdits != 0 {
		t.Errorf("after re-auth: %+v", st)
	}
}

func TestServerSchemaChange(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, fixtureOpts{})
	if err := f.em.AddField(svcName, 0, arcgis.Field{Name: "Weather", Type: arcgis.FieldString, Length: 20, Nullable: arcgis.Bool(true), Editable: arcgis.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if err := f.em.RemoveField(svcName, 0, "Notes"); err != nil {
		t.Fatal(err)
	}
	all, _ := f.em.Features(svcName, 0, "")
	g := all[0].Attributes["GlobalID"].(string)
	if err := f.db.Update(ctx, 0, upd(g, "Notes", "local only", "Score", 42)); err != nil {
		t.Fatal(err)
	}
	f.em.Log().Reset()
	rep, err := f.eng.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.SchemaChanged) == 0 || f.db.TableByID(0).Col("Weather") == nil {
		t.Errorf("added field not evolved locally: %+v", rep)
	}
	if f.db.TableByID(0).Col("Notes") == nil {
		t.Errorf("removed field dropped locally")
	}
	if lf, _ := f.db.Feature(ctx, 0, g); lf == nil || lf.Attributes["Notes"] != "local only" {
		t.Errorf("local value of the removed field lost")
	}
	sent := 0
	for _, e := range f.em.Log().Matching("synchronizeReplica") {
		ed := e.Query.Get("edits")
		if strings.Contains(ed, g) {
			sent++
			if strings.Contains(ed, "Notes") {
				t.Errorf("removed field sent: %s", ed)
			}
		}
	}
	if sent == 0 {
		t.Errorf("the update was not sent")
	}
	if sf, _ := f.em.Feature(svcName, 0, g); sf.Attributes["Score"] != 42.0 && sf.Attributes["Score"] != 42 && sf.Attributes["Score"] != int64(42) {
		t.Errorf("Score on server = %v (%T)", sf.Attributes["Score"], sf.Attributes["Score"])
	}
}
