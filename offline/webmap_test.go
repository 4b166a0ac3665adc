package offline

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sameJSON reports whether a and b are the same JSON value, treating a
// member that is missing on one side as equal to a zero value (0, false,
// "", null, {} or []) on the other: the model drops zero members it knows.
func sameJSON(a, b any) bool {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return isZeroJSON(a) && isZeroJSON(b)
		}
		for k, x := range av {
			y, ok := bv[k]
			if !ok {
				if !isZeroJSON(x) {
					return false
				}
				continue
			}
			if !sameJSON(x, y) {
				return false
			}
		}
		for k, y := range bv {
			if _, ok := av[k]; !ok && !isZeroJSON(y) {
				return false
			}
		}
		return true
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return isZeroJSON(a) && isZeroJSON(b)
		}
		for i := range av {
			if !sameJSON(av[i], bv[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b) || (isZeroJSON(a) && isZeroJSON(b))
}

func isZeroJSON(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case bool:
		return !x
	case float64:
		return x == 0
	case string:
		return x == ""
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func decodeAny(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestParseWebMapFiles parses every fixture and hand-made web map and
// writes it back: every member survives (unknown ones included) and a
// second round trip is byte-identical.
func TestParseWebMapFiles(t *testing.T) {
	for _, path := range webMapFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			wm, err := ParseWebMap(raw)
			if err != nil {
				t.Fatal(err)
			}
			if wm.BaseMap == nil || len(wm.BaseMap.BaseMapLayers) == 0 {
				t.Errorf("no basemap layers parsed")
			}
			if wm.SpatialReference == nil || wm.SpatialReference.EPSG() == 0 {
				t.Errorf("spatial reference not parsed: %+v", wm.SpatialReference)
			}
			out, err := json.Marshal(wm)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(decodeAny(t, raw), decodeAny(t, out)) {
				t.Errorf("round trip lost members:\nin:  %s\nout: %s", raw, out)
			}
			wm2, err := ParseWebMap(out)
			if err != nil {
				t.Fatal(err)
			}
			out2, _ := json.Marshal(wm2)
			if !bytes.Equal(out, out2) {
				t.Errorf("second round trip differs")
			}
		})
	}
}

// loadWebMap parses testdata/webmaps/name.
func loadWebMap(t *testing.T, name string) *WebMap {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "webmaps", name))
	if err != nil {
		t.Fatal(err)
	}
	wm, err := ParseWebMap(raw)
	if err != nil {
		t.Fatal(err)
	}
	return wm
}

func TestWebMapModel(t *testing.T) {
	wm := loadWebMap(t, "survey-offline.json")
	o := wm.Offline()
	if got := o.EditableDownload(); got != DownloadFeaturesAndAttachments {
		t.Errorf("editable download %q", got)
	}
	if got := o.EditableSync(); got != SyncFeaturesUploadAttachments {
		t.Errorf("editable sync %q", got)
	}
	if o.ReadonlyDownloadAttachments() {
		t.Errorf("readonly downloadAttachments should be false")
	}
	if got := o.ReferenceBasemapName(); got != "Demo_Basemap.tpkx" {
		t.Errorf("reference basemap %q", got)
	}
	if len(o.ConnectedOnlineLayers) != 1 || o.ConnectedOnlineLayers[0].ID != "Traffic" {
		t.Errorf("connectedOnlineLayers %+v", o.ConnectedOnlineLayers)
	}
	if o.SyncDataOptions == nil || *o.SyncDataOptions != 132 || !o.TableRows() {
		t.Errorf("syncDataOptions/tables: %v %v", o.SyncDataOptions, o.TableRows())
	}
	if _, ok := o.Extra["futureOption"]; !ok {
		t.Errorf("unknown offline member not kept")
	}
	if ext := wm.Extent(); ext == nil || ext.XMin == nil || *ext.XMin != -13052769 {
		t.Errorf("initial extent %+v", ext)
	}
	if _, ok := wm.Extra["bookmarks"]; !ok {
		t.Errorf("bookmarks not kept")
	}

	entries := wm.Entries()
	byID := map[string]*Entry{}
	for _, e := range entries {
		byID[e.ID] = e
	}
	pipes := byID["Pipes"]
	if pipes == nil || strings.Join(pipes.Path, "/") != "Assets/Network" {
		t.Fatalf("group recursion: pipes entry %+v", pipes)
	}
	if mn, mx := pipes.Layer.ScaleRange(); mn != 144448 || mx != 564 {
		t.Errorf("pipes scale range %v %v (layer minScale wins, layerDefinition maxScale fills in)", mn, mx)
	}
	if byID["Pipes"].Key != LayerKey("http://example.com/arcgis/rest/services/Field_Survey/FeatureServer", 1) {
		t.Errorf("pipes key %s not normalised", byID["Pipes"].Key)
	}
	if byID["Inspections_Open"].Key != byID["Inspections_Urgent"].Key {
		t.Errorf("two references to one layer must share a key")
	}
	if byID["Labels"].Role != RoleReference || byID["Demo_Basemap"].Role != RoleBasemap {
		t.Errorf("basemap roles: %s %s", byID["Labels"].Role, byID["Demo_Basemap"].Role)
	}
	if byID["Notes"].Role != RoleTable || byID["Notes"].LayerType != LayerTypeTable {
		t.Errorf("table entry %+v", byID["Notes"])
	}
	if _, ok := byID["Assets"]; ok {
		t.Errorf("group layers themselves are not entries")
	}
	if byID["Sketch"].Key != "webmap:operational:Sketch" {
		t.Errorf("inline layer key %s", byID["Sketch"].Key)
	}
}

func TestLegacyWebMap(t *testing.T) {
	wm := loadWebMap(t, "legacy.json")
	if wm.HasOfflineSettings() {
		t.Errorf("legacy map has no offline settings")
	}
	o := wm.Offline()
	if o.EditableDownload() != DownloadFeaturesAndAttachments || o.EditableSync() != SyncFeaturesAndAttachments || !o.ReadonlyDownloadAttachments() {
		t.Errorf("defaults without offline settings are wrong")
	}
	l := wm.OperationalLayers[0]
	if l.ID.Value != "7" || !l.ID.Numeric || l.Kind() != LayerTypeFeature {
		t.Errorf("numeric id / deprecated type: %+v", l.ID)
	}
	out, _ := json.Marshal(l)
	if !strings.Contains(string(out), `"id":7`) || !strings.Contains(string(out), `"visibility":false`) {
		t.Errorf("numeric id or visibility false not written back: %s", out)
	}
	if ext := wm.Extent(); ext == nil || *ext.XMin != -117.25 {
		t.Errorf("mapOptions extent not read")
	}
}

func TestParseWebMapErrors(t *testing.T) {
	deep := strings.Repeat(`{"layerType":"GroupLayer","layers":[`, 40) + strings.Repeat(`]}`, 40)
	for name, doc := range map[string]string{
		"not json":      `{"operationalLayers": [`,
		"array":         `[]`,
		"null layer":    `{"operationalLayers":[null]}`,
		"bad layer":     `{"operationalLayers":[{"id":{}}]}`,
		"deep groups":   `{"operationalLayers":[` + deep + `]}`,
		"bad sync opts": `{"operationalLayers":[],"applicationProperties":{"offline":{"syncDataOptions":"x"}}}`,
		"null table":    `{"operationalLayers":[],"tables":[null]}`,
		"deep JSON":     `{"operationalLayers":[],"x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}`,
	} {
		if _, err := ParseWebMap([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzWebMap(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "webmap-*.json"))
	more, _ := filepath.Glob(filepath.Join("testdata", "webmaps", "*.json"))
	for _, p := range append(files, more...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"operationalLayers":[{"id":1,"type":"ArcGISFeatureLayer","url":"http://h/a/FeatureServer/0"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		wm, err := ParseWebMap(b)
		if err != nil {
			return
		}
		for _, e := range wm.Entries() {
			if e.Key == "" {
				t.Fatalf("entry %q without key", e.ID)
			}
		}
		GroupFeatureEntries(wm.Entries())
		out, err := json.Marshal(wm)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		wm2, err := ParseWebMap(out)
		if err != nil {
			t.Fatalf("reparse of own output: %v\n%s", err, out)
		}
		out2, err := json.Marshal(wm2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("round trip not stable:\n%s\n%s", out, out2)
		}
	})
}

func TestRewrite(t *testing.T) {
	wm := loadWebMap(t, "survey-offline.json")
	seen := 0
	out, err := wm.Rewrite(func(e *Entry) bool {
		seen++
		switch {
		case e.ID == "Pipes" || e.ID == "Dynamic_Layers" || e.ID == "Labels" || e.ID == "Lookup":
			return false
		case e.IsFeature():
			e.Layer.URL = "file:data/" + e.ID + ".gpkg"
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(wm.Entries()) {
		t.Errorf("fn saw %d entries of %d", seen, len(wm.Entries()))
	}
	ids := map[string]*Entry{}
	for _, e := range out.Entries() {
		ids[e.ID] = e
	}
	for _, gone := range []string{"Pipes", "Dynamic_Layers", "Labels", "Lookup"} {
		if ids[gone] != nil {
			t.Errorf("%s not removed", gone)
		}
	}
	if ids["Inspections_Open"] == nil || ids["Inspections_Open"].Layer.URL != "file:data/Inspections_Open.gpkg" || ids["Notes"].Layer.URL != "file:data/Notes.gpkg" {
		t.Errorf("URLs not rewritten: %+v", ids["Inspections_Open"])
	}
	// The Network group lost its only layer and is gone; Assets stays.
	b, _ := json.Marshal(out)
	if strings.Contains(string(b), `"id":"Network"`) || !strings.Contains(string(b), `"id":"Assets"`) {
		t.Errorf("group pruning wrong: %s", b)
	}
	if !strings.Contains(string(b), `"bookmarks"`) || !strings.Contains(string(b), `"futureOption"`) || !strings.Contains(string(b), `"drawingInfo"`) {
		t.Errorf("unknown members lost in rewrite")
	}
	// The original is untouched.
	if e := wm.Entries(); len(e) != seen || strings.HasPrefix(e[0].Layer.URL, "file:") {
		t.Errorf("original changed")
	}
}
