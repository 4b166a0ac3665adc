package geodb

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
)

var registryGUID = regexp.MustCompile(`^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$`)

func pt(x, y float64) *arcgis.Geometry { return &arcgis.Geometry{X: &x, Y: &y} }

func TestEditsValidation(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	good := func() map[string]any {
		return map[string]any{"name": "ok", "status": "open", "priority": 3.0, "kind": 2.0}
	}
	cases := []struct {
		name   string
		mod    func(a map[string]any)
		geom   *arcgis.Geometry
		field  string
		reason error
	}{
		{"unknown field", func(a map[string]any) { a["colour"] = "red" }, nil, "colour", ErrUnknownField},
		{"too long", func(a map[string]any) { a["name"] = strings.Repeat("x", 21) }, nil, "name", ErrLength},
		{"null in not-null", func(a map[string]any) { a["name"] = nil }, nil, "name", ErrNull},
		{"missing required", func(a map[string]any) { delete(a, "name") }, nil, "name", ErrNull},
		{"coded domain", func(a map[string]any) { a["status"] = "maybe" }, nil, "status", ErrDomain},
		{"numeric coded domain", func(a map[string]any) { a["kind"] = 3.0 }, nil, "kind", ErrDomain},
		{"range domain", func(a map[string]any) { a["priority"] = 9.0 }, nil, "priority", ErrDomain},
		{"int type", func(a map[string]any) { a["priority"] = "three" }, nil, "priority", ErrType},
		{"int fraction", func(a map[string]any) { a["big"] = 1.5 }, nil, "big", ErrType},
		{"smallint overflow", func(a map[string]any) { a["priority"] = 70000.0 }, nil, "priority", ErrType},
		{"date type", func(a map[string]any) { a["seen"] = true }, nil, "seen", ErrType},
		{"dateonly", func(a map[string]any) { a["day"] = "31/12/2024" }, nil, "day", ErrType},
		{"guid", func(a map[string]any) { a["ref"] = "not-a-guid" }, nil, "ref", ErrType},
		{"blob", func(a map[string]any) { a["data"] = "***" }, nil, "data", ErrType},
		{"string type", func(a map[string]any) { a["doc"] = map[string]any{} }, nil, "doc", ErrType},
		{"geometry kind", func(a map[string]any) {}, &arcgis.Geometry{Paths: [][][]float64{{{0, 0}, {1, 1}}}}, "geom", ErrType},
		{"geometry bad", func(a map[string]any) {}, &arcgis.Geometry{Rings: [][][]float64{{{0, 0}, {1, 1}}}}, "geom", ErrType},
	}
	before := dbDigest(t, db)
	for _, c := range cases {
		a := good()
		c.mod(a)
		g := c.geom
		if g == nil {
			g = pt(1, 2)
		}
		_, _, err := db.ApplyEdits(ctx, 0, Edits{Adds: []arcgis.Feature{{Attributes: good(), Geometry: pt(0, 0)}, {Attributes: a, Geometry: g}}})
		if !isFieldErr(err, c.field, c.reason) {
			t.Errorf("%s: err = %v, want %v on %s", c.name, err, c.reason, c.field)
		}
	}
	if after := dbDigest(t, db); after != before {
		t.Fatal("a rejected batch changed the database")
	}
	// A valid add gets a registry-form GlobalID, defaults and the change log.
	seq0, _ := db.LastChangeSeq(ctx)
	res, err := db.Add(ctx, 0, arcgis.Feature{Attributes: good(), Geometry: pt(-117.15, 34.05)})
	if err != nil {
		t.Fatal(err)
	}
	if !registryGUID.MatchString(res.GlobalID) {
		t.Fatalf("GlobalID %q", res.GlobalID)
	}
	f, _ := db.Feature(ctx, 0, res.GlobalID)
	if f.Attributes["note"] != "none" || f.Attributes["priority"] != int64(3) || *f.Geometry.X != -117.15 {
		t.Fatalf("stored %+v", f.Attributes)
	}
	// Update by GlobalID (lower case accepted), then delete.
	lower := strings.ToLower(res.GlobalID)
	if err := db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": lower, "name": "renamed", "seen": json.Number("86400000")}}); err != nil {
		t.Fatal(err)
	}
	f, _ = db.Feature(ctx, 0, res.GlobalID)
	if f.Attributes["name"] != "renamed" || f.Attributes["seen"] != int64(86400000) || *f.Geometry.X != -117.15 {
		t.Fatalf("after update %+v", f.Attributes)
	}
	if err := db.Update(ctx, 0, arcgis.Feature{Attributes: map[string]any{"GlobalID": NewGlobalID(), "name": "x"}}); !errors.Is(err, ErrNoFeature) {
		t.Fatalf("update missing: %v", err)
	}
	if err := db.Delete(ctx, 0, res.GlobalID); err != nil {
		t.Fatal(err)
	}
	chs, err := db.Changes(ctx, seq0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, c := range chs {
		if c.GlobalID != res.GlobalID || c.LayerID != 0 {
			t.Fatalf("change %+v", c)
		}
		ops = append(ops, string(c.Op))
	}
	if strings.Join(ops, ",") != "insert,update,delete" {
		t.Fatalf("ops %v", ops)
	}
	var old map[string]any
	if err := json.Unmarshal(chs[1].OldValues, &old); err != nil || old["name"] != "ok" || old["geom"] == nil {
		t.Fatalf("old values %s", chs[1].OldValues)
	}
	validate(t, db)
}

func TestGlobalIDFormat(t *testing.T) {
	for i := 0; i < 100; i++ {
		if g := NewGlobalID(); !registryGUID.MatchString(g) {
			t.Fatal(g)
		}
	}
	for in, want := range map[string]string{
		"{00000001-0000-4000-8000-00000000000a}": "{00000001-0000-4000-8000-00000000000A}",
		"00000001-0000-4000-8000-00000000000a":   "{00000001-0000-4000-8000-00000000000A}",
		"x":                                      "",
	} {
		if got, _ := NormalizeGlobalID(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}

func TestChangedNotification(t *testing.T) {
	db := loadedDB(t)
	ctx := testCtx(t)
	ch, stop := db.Changed()
	defer stop()
	select {
	case <-ch:
		t.Fatal("notified before any commit")
	default:
	}
	if _, err := db.Add(ctx, 4, arcgis.Feature{Attributes: map[string]any{"text": "hi"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		t.Fatal("no notification after commit")
	}
}
