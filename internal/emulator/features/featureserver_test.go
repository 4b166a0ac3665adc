package features

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/offlined/offlined/internal/arcgis"
)

// commonKeys returns the keys present in every fixture.
func commonKeys(docs ...map[string]any) []string {
	var out []string
	for k := range docs[0] {
		all := true
		for _, d := range docs[1:] {
			if _, ok := d[k]; !ok {
				all = false
			}
		}
		if all {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// unknownKeys lists keys of got found in none of the fixtures.
func unknownKeys(got map[string]any, docs ...map[string]any) []string {
	var out []string
	for k := range got {
		found := false
		for _, d := range docs {
			if _, ok := d[k]; ok {
				found = true
			}
		}
		if !found {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func TestServiceJSONKeysMatchFixtures(t *testing.T) {
	env := fsStart(t, nil)
	fx := []map[string]any{fsFixture(t, "featureserver-service.arcgis-rest-js.json"), fsFixture(t, "featureserver-service.arcrestgo.json")}
	// Keys ArcGIS documents (arcgis-rest.md §3.1) that neither fixture happens to carry.
	documented := []string{"supportsRelationshipsResource", "supportsReturnDeleteResults", "relationships", "serviceItemId", "advancedEditingCapabilities", "extractChangesCapabilities"}
	for _, name := range []string{"Field_Survey", "Reference_Data"} {
		got := fsGet(t, env.svc(name), nil)
		for _, k := range commonKeys(fx...) {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: missing key %q that both fixtures have", name, k)
			}
		}
		for _, k := range unknownKeys(got, fx...) {
			if !slices.Contains(documented, k) {
				t.Errorf("%s: key %q appears in no fixture", name, k)
			}
		}
		sc := got["syncCapabilities"].(map[string]any)
		for k := range fx[0]["syncCapabilities"].(map[string]any) {
			if _, ok := sc[k]; !ok && k != "supportsASync" {
				t.Errorf("%s: syncCapabilities lacks %q", name, k)
			}
		}
		sr := got["spatialReference"].(map[string]any)
		if sr["wkid"] != 102100.0 || sr["latestWkid"] != 3857.0 {
			t.Errorf("%s: spatialReference = %v", name, sr)
		}
	}
	fsj := fsGet(t, env.svc("Field_Survey"), nil)
	caps := fsj["capabilities"].(string)
	for _, c := range []string{"Query", "Create", "Update", "Delete", "Uploads", "Editing", "Sync"} {
		if !arcgis.HasCapability(caps, c) {
			t.Errorf("Field_Survey capabilities %q lack %s", caps, c)
		}
	}
	if fsj["syncEnabled"] != true || fsj["supportsApplyEditsWithGlobalIds"] != true {
		t.Errorf("Field_Survey syncEnabled/supportsApplyEditsWithGlobalIds = %v/%v", fsj["syncEnabled"], fsj["supportsApplyEditsWithGlobalIds"])
	}
	layers, tables := fsj["layers"].([]any), fsj["tables"].([]any)
	if len(layers) != 3 || len(tables) != 1 {
		t.Fatalf("Field_Survey: %d layers %d tables, want 3 and 1", len(layers), len(tables))
	}
	wantGeom := []string{arcgis.GeometryPoint, arcgis.GeometryPolyline, arcgis.GeometryPolygon}
	for i, l := range layers {
		if g := l.(map[string]any)["geometryType"]; g != wantGeom[i] {
			t.Errorf("layer %d geometryType %v, want %s", i, g, wantGeom[i])
		}
	}
	if n := tables[0].(map[string]any)["name"]; n != "InspectionNotes" {
		t.Errorf("table name %v", n)
	}
	ref := fsGet(t, env.svc("Reference_Data"), nil)
	if arcgis.HasCapability(ref["capabilities"].(string), "Sync") || ref["syncEnabled"] != false {
		t.Errorf("Reference_Data must not sync: %v %v", ref["capabilities"], ref["syncEnabled"])
	}
	// The decoded wire type accepts it.
	var svc arcgis.FeatureService
	if err := jsonRoundTrip(fsj, &svc); err != nil || svc.SyncCapabilities == nil || !svc.SyncCapabilities.SupportsPerLayerSync {
		t.Errorf("FeatureService decode: %v %+v", err, svc.SyncCapabilities)
	}
}

func TestLayerJSONKeysMatchFixtures(t *testing.T) {
	env := fsStart(t, nil)
	fx := []map[string]any{fsFixture(t, "featureserver-layer.arcgis-rest-js.json"), fsFixture(t, "featureserver-layer.arcrestgo.json")}
	documented := []string{"spatialReference", "syncCanReturnChanges", "supportsValidateSql"}
	for id := 0; id <= 3; id++ {
		got := fsGet(t, env.svc("Field_Survey")+"/"+itoa(id), nil)
		for _, k := range commonKeys(fx...) {
			if _, ok := got[k]; !ok && !(id == 3 && (k == "geometryType" || k == "extent" || k == "drawingInfo")) {
				t.Errorf("layer %d: missing key %q that both fixtures have", id, k)
			}
		}
		for _, k := range unknownKeys(got, fx...) {
			if !slices.Contains(documented, k) {
				t.Errorf("layer %d: key %q appears in no fixture", id, k)
			}
		}
		var l arcgis.Layer
		if err := jsonRoundTrip(got, &l); err != nil {
			t.Fatalf("layer %d decode: %v", id, err)
		}
		if l.Field("OBJECTID") == nil || l.Field("GlobalID") == nil || l.GlobalIDField != "GlobalID" {
			t.Errorf("layer %d lacks OID/GlobalID fields", id)
		}
		if l.EditFieldsInfo == nil || l.EditFieldsInfo.EditorField != "Editor" || l.Field("EditDate") == nil {
			t.Errorf("layer %d editor tracking: %+v", id, l.EditFieldsInfo)
		}
		if l.AdvancedQueryCapabilities == nil || !l.AdvancedQueryCapabilities.SupportsPagination || l.MaxRecordCount != 2000 {
			t.Errorf("layer %d paging: %+v %d", id, l.AdvancedQueryCapabilities, l.MaxRecordCount)
		}
		if l.HasAttachments != (id == 0) {
			t.Errorf("layer %d hasAttachments = %v", id, l.HasAttachments)
		}
		if id == 0 || id == 3 {
			if len(l.Relationships) != 1 {
				t.Errorf("layer %d relationships = %+v", id, l.Relationships)
			}
		}
	}
	pts := fsGet(t, env.svc("Field_Survey")+"/0", nil)
	var l arcgis.Layer
	_ = jsonRoundTrip(pts, &l)
	types := map[string]bool{}
	for _, f := range l.Fields {
		types[f.Type] = true
		if f.Name == "Status" && (f.Domain == nil || f.Domain.Type != "codedValue" || len(f.Domain.CodedValues) != 3) {
			t.Errorf("Status domain %+v", f.Domain)
		}
		if f.Name == "Priority" && (f.Domain == nil || f.Domain.Type != "range") {
			t.Errorf("Priority domain %+v", f.Domain)
		}
		if f.Type == arcgis.FieldString && f.Length == 0 {
			t.Errorf("string field %s has no length", f.Name)
		}
	}
	for _, typ := range []string{arcgis.FieldOID, arcgis.FieldGlobalID, arcgis.FieldString, arcgis.FieldSmallInteger, arcgis.FieldInteger, arcgis.FieldDouble, arcgis.FieldDate, arcgis.FieldGUID} {
		if !types[typ] {
			t.Errorf("layer 0 has no %s field", typ)
		}
	}
	bad := fsGet(t, env.svc("Field_Survey")+"/9", nil)
	if fsErrCode(bad) != 400 {
		t.Errorf("unknown layer: %v", bad)
	}
	if nosvc := fsGet(t, env.svc("Nope"), nil); fsErrCode(nosvc) != 404 {
		t.Errorf("unknown service: %v", nosvc)
	}
	all := fsGet(t, env.svc("Field_Survey")+"/layers", nil)
	if len(all["layers"].([]any)) != 3 || len(all["tables"].([]any)) != 1 {
		t.Errorf("/layers: %v", fsKeys(all))
	}
}

func TestDataGeneratorDeterministic(t *testing.T) {
	defs := buildLayerDefs(DemoFeatureService())
	for _, d := range defs {
		for _, idx := range []int64{1, 5, 7, 35, 60} {
			a, b := d.generate(42, idx, d.fields), d.generate(42, idx, d.fields)
			if fsJSON(t, a) != fsJSON(t, b) {
				t.Fatalf("layer %d feature %d not deterministic", d.ID, idx)
			}
			if c := d.generate(43, idx, d.fields); fsJSON(t, c) == fsJSON(t, a) {
				t.Errorf("layer %d feature %d ignores the seed", d.ID, idx)
			}
			gid := a.Attributes["GlobalID"].(string)
			if gid != strings.ToUpper(gid) || !strings.HasPrefix(gid, "{") || len(gid) != 38 {
				t.Errorf("GlobalID %q not upper-case braced", gid)
			}
			kind, layer, i, ok := parseGenGUID(42, gid)
			if !ok || kind != gidFeature || layer != d.ID || i != idx {
				t.Errorf("parseGenGUID(%s) = %d %d %d %v", gid, kind, layer, i, ok)
			}
			if _, _, _, ok := parseGenGUID(43, gid); ok {
				t.Errorf("GUID %s reversed under another seed", gid)
			}
			for _, f := range d.fields {
				if _, ok := a.Attributes[f.Name]; !ok {
					t.Errorf("layer %d feature lacks field %s", d.ID, f.Name)
				}
			}
			if d.isTable() {
				if a.Geometry != nil {
					t.Errorf("table row has geometry")
				}
				continue
			}
			if err := a.Geometry.Validate(); err != nil || a.Geometry.Type() != d.GeometryType {
				t.Errorf("layer %d feature %d geometry %v %s", d.ID, idx, err, a.Geometry.Type())
			}
			b4326 := toEPSG(a.Geometry, 3857, 4326)
			bd, _ := geomBound(b4326)
			area := orb.Bound{Min: orb.Point{demoXMin - 0.02, demoYMin - 0.02}, Max: orb.Point{demoXMax + 0.02, demoYMax + 0.02}}
			if !area.Contains(bd.Min) || !area.Contains(bd.Max) {
				t.Errorf("layer %d feature %d outside the demo area: %v", d.ID, idx, bd)
			}
		}
	}
	// Polygons: every 5th has a hole (a counter-clockwise ring), every 7th two parts.
	poly := defs[2]
	holes := func(g *arcgis.Geometry) (outer, inner int) {
		for _, r := range g.Rings {
			if ringArea2(r) < 0 {
				outer++
			} else {
				inner++
			}
		}
		return
	}
	if o, i := holes(poly.generate(1, 5, poly.fields).Geometry); o != 1 || i != 1 {
		t.Errorf("polygon 5: %d outer %d holes", o, i)
	}
	if o, i := holes(poly.generate(1, 7, poly.fields).Geometry); o != 2 || i != 0 {
		t.Errorf("polygon 7: %d outer %d holes", o, i)
	}
	if mp, ok := esriToOrb(poly.generate(1, 35, poly.fields).Geometry).(orb.MultiPolygon); !ok || len(mp) != 2 || len(mp[0]) != 2 {
		t.Errorf("polygon 35 (hole + two parts) as orb: %T %v", esriToOrb(poly.generate(1, 35, poly.fields).Geometry), ok)
	}
	// The related table points at existing inspections.
	tbl := defs[3]
	row := tbl.generate(1, 1, tbl.fields)
	if k, l, i, ok := parseGenGUID(1, row.Attributes["InspectionGUID"].(string)); !ok || k != gidFeature || l != 0 || i != 1 {
		t.Errorf("table row 1 InspectionGUID → %d %d %d %v", k, l, i, ok)
	}
}

func TestTileFeatures(t *testing.T) {
	env := fsStart(t, nil)
	all := env.em.TileFeatures(orb.Bound{Min: orb.Point{demoXMin, demoYMin}, Max: orb.Point{demoXMax, demoYMax}})
	for name, want := range map[string]int{"Inspections": 200, "Pipes": 60, "Parcels": 40} {
		fc := all[name]
		if fc == nil || len(fc.Features) != want {
			t.Errorf("%s: %d features, want %d", name, lenFC(fc), want)
			continue
		}
		b := fc.Features[0].Geometry.Bound()
		if b.Min[0] < -180 || b.Max[0] > 180 || b.Min[0] > demoXMax+0.02 {
			t.Errorf("%s geometry not WGS84: %v", name, b)
		}
	}
	if _, ok := all["InspectionNotes"]; ok {
		t.Errorf("tables must not be tiled")
	}
	small := orb.Bound{Min: orb.Point{-117.20, 34.00}, Max: orb.Point{-117.17, 34.03}}
	part := env.em.TileFeatures(small)
	n := lenFC(part["Inspections"])
	if n == 0 || n >= 200 {
		t.Errorf("small bound: %d inspections", n)
	}
	for _, f := range part["Inspections"].Features {
		if !small.Contains(f.Geometry.(orb.Point)) {
			t.Errorf("point %v outside %v", f.Geometry, small)
		}
	}
	// Edits show up.
	if err := env.em.EditFeatures("Field_Survey", 0, nil, nil, []string{fsFirstGID(t, env, 0, small)}); err != nil {
		t.Fatal(err)
	}
	if m := lenFC(env.em.TileFeatures(small)["Inspections"]); m != n-1 {
		t.Errorf("after delete: %d, want %d", m, n-1)
	}
}

func fsFirstGID(t *testing.T, env *fsEnv, layer int, b orb.Bound) string {
	t.Helper()
	q := fsGet(t, env.svc("Field_Survey")+"/"+itoa(layer)+"/query", url.Values{"where": {"1=1"}, "outFields": {"GlobalID"},
		"geometry": {ftoa(b.Min[0]) + "," + ftoa(b.Min[1]) + "," + ftoa(b.Max[0]) + "," + ftoa(b.Max[1])}, "inSR": {"4326"}})
	fs := fsFeatures(q)
	if len(fs) == 0 {
		t.Fatalf("no feature in %v", b)
	}
	return fsAttr(fs[0], "GlobalID").(string)
}
