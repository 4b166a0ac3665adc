package features

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/internal/arcgis"
)

// FuzzGeometryParam feeds the query/createReplica geometry parser; an
// accepted filter must evaluate against generated features.
func FuzzGeometryParam(f *testing.F) {
	for _, s := range []string{
		demoAOI, "-117.2,34,-117.1,34.1", "-13050000,4030000", `{"x":-117.2,"y":34.05}`,
		`{"rings":[[[-117.2,34],[-117.2,34.1],[-117.1,34.1],[-117.2,34]]],"spatialReference":{"wkid":4326}}`,
		`{"xmin":"NaN","ymin":1,"xmax":2,"ymax":3}`, `{"paths":[[[0,0],[1,1]]]}`, `{"rings":[[[0,0]]]}`, "1,2,3",
	} {
		f.Add(s)
	}
	defs := buildLayerDefs(DemoFeatureService())
	var feats []arcgis.Feature
	for _, d := range defs[:3] {
		for i := int64(1); i <= 8; i++ {
			feats = append(feats, d.generate(1, i, d.fields))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, sr := range []int{4326, 3857} {
			flt, err := parseGeometryParam(s, "", sr)
			if err != nil || flt == nil {
				continue
			}
			for _, ft := range feats {
				_ = flt.intersects(ft.Geometry)
			}
		}
	})
}

// FuzzApplyEditsInput feeds applyEdits' adds/updates/deletes parsers and
// the edit engine; nothing may panic and a rolled-back batch must leave
// the layer unchanged.
func FuzzApplyEditsInput(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "fs-fixtures", "applyedits-attachments-param.docs-example.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`[{"attributes":{"Status":"open","Priority":2},"geometry":{"x":-13050000,"y":4030000}}]`, "1,2", string(b))
	f.Add(`[{"attributes":{"OBJECTID":3,"Notes":"x"}}]`, `["{AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE}"]`, `{"adds":[{"globalId":"{1}","parentGlobalId":"{2}","data":"!!"}]}`)
	f.Add(`[{"attributes":{"GlobalID":"{0A0A0A0A-0000-4000-8000-000000000001}"},"geometry":{"paths":[[[0,0]]]}}]`, "[5, 6, \"x\"]", `{}`)
	f.Fuzz(func(t *testing.T, adds, deletes, atts string) {
		fs := newFSService(DemoFeatureService(), 1)
		ls := fs.byID[0]
		var e layerEdits
		e.Adds, _ = parseFeatures(adds)
		e.Updates, _ = parseFeatures(adds)
		e.DeleteOIDs, e.DeleteGIDs, _ = parseDeletes(deletes)
		var a attEditsJSON
		if jsonUnmarshalOK(atts, &a) {
			e.AttAdds, e.AttUpdates, e.AttDeletes = a.Adds, a.Updates, a.Deletes
		}
		fs.mu.Lock()
		defer fs.mu.Unlock()
		before := ls.view().count()
		logLen := len(fs.log)
		res := fs.applyLayerEditsLocked(ls, e, editOptions{useGlobalIDs: true, rollback: true, canAdd: true, canUpdate: true, canDelete: true})
		if res.failed && (ls.view().count() != before || len(fs.log) != logLen) {
			t.Fatalf("rolled-back batch changed the layer")
		}
	})
}
