package localapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
	"github.com/offlined/offlined/offline/offlinetest"
)

// TestArcGISRoutesAnswerArcGISErrors: token problems on the ArcGIS routes
// answer ArcGIS error JSON with 499 (token required) or 498 (invalid
// token) — what ArcGIS clients read to sign in again — while the native
// routes keep the native shape (issue 14 item 6).
func TestArcGISRoutesAnswerArcGISErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, tc := range []struct {
		path, auth string
		code       float64
	}{
		{"/arcgis/rest/services/demo/FeatureServer?f=json", "", 499},
		{"/arcgis/rest/services/demo/FeatureServer/0/query?f=json&where=1=1", "", 499},
		{"/arcgis/rest/services/demo/FeatureServer?f=json&token=wrong", "", 498},
		{"/arcgis/rest/services/demo/FeatureServer/0?f=json", "Bearer wrong", 498},
	} {
		resp := e.do("GET", tc.path, nil, "Authorization", tc.auth)
		m := e.jsonOf(resp, http.StatusUnauthorized)
		er, _ := m["error"].(map[string]any)
		if er == nil || er["code"] != tc.code || er["message"] == "" {
			t.Errorf("%s (%q): error %v, want numeric code %v", tc.path, tc.auth, m, tc.code)
		}
		if _, ok := er["details"].([]any); !ok {
			t.Errorf("%s: no details array: %v", tc.path, er)
		}
	}
	// An unknown ArcGIS route: ArcGIS shape with a numeric code.
	m := e.jsonOf(e.do("GET", "/arcgis/rest/nothing?f=json", nil), http.StatusNotFound)
	if er, _ := m["error"].(map[string]any); er == nil || er["code"] != float64(404) {
		t.Errorf("unknown ArcGIS route: %v", m)
	}
	// Native routes: the native shape (string code naming the problem).
	er := e.wantError(e.do("GET", "/api/v1/maps", nil, "Authorization", ""), 401, "Authorization")
	if er["code"] != "unauthorized" {
		t.Errorf("native 401 code %v", er["code"])
	}
	er = e.wantError(e.do("GET", "/api/v1/nothing", nil), 404, "path")
	if er["code"] != "notFound" {
		t.Errorf("native 404 code %v", er["code"])
	}
}

// TestReadOnlyLayerAdvertisesQueryOnly: the local layer JSON of a
// read-only snapshot says capabilities "Query" (it advertised editing
// before), and every row of it has a GlobalID when one is advertised
// (issue 14 item 4); an editable replica layer keeps editing.
func TestReadOnlyLayerAdvertisesQueryOnly(t *testing.T) {
	t.Parallel()
	em := emulatortest.Start(t, emulator.Options{})
	res := offlinetest.BuildPackage(t, em, offlinetest.Options{})
	e := newEnv(t, envOpts{noMap: true, packages: map[string]string{"built": res.Dir}})
	info := e.jsonOf(e.do("GET", "/api/v1/maps/built", nil), 200)
	services, _ := info["services"].([]any)
	if len(services) == 0 {
		t.Fatalf("no services in %v", info)
	}
	kinds := map[string]string{} // service → kind
	for _, ml := range res.Manifest.Layers {
		if ml.Store != "" && strings.HasPrefix(ml.Store, "data/") {
			kinds[strings.TrimSuffix(strings.TrimPrefix(ml.Store, "data/"), ".gpkg")] = ml.Kind
		}
	}
	seen := map[string]bool{}
	for _, s := range services {
		svc := s.(string)
		kind := kinds[svc]
		base := "/arcgis/rest/services/built." + svc + "/FeatureServer"
		sdoc := e.jsonOf(e.do("GET", base+"?f=json", nil), 200)
		layers, _ := sdoc["layers"].([]any)
		for _, l := range layers {
			id := l.(map[string]any)["id"].(float64)
			ldoc := e.jsonOf(e.do("GET", base+"/"+strconv.Itoa(int(id))+"?f=json", nil), 200)
			caps, _ := ldoc["capabilities"].(string)
			switch kind {
			case offline.KindSnapshot:
				seen["snapshot"] = true
				if caps != "Query" {
					t.Errorf("snapshot layer %s/%v advertises %q", svc, id, caps)
				}
				if gid, _ := ldoc["globalIdField"].(string); gid != "" {
					q := e.jsonOf(e.do("GET", base+"/"+strconv.Itoa(int(id))+"/query?f=json&where=1%3D1&outFields=*&returnGeometry=false", nil), 200)
					fs, _ := q["features"].([]any)
					for _, f := range fs {
						if a := f.(map[string]any)["attributes"].(map[string]any); a[gid] == nil {
							t.Fatalf("snapshot %s/%v advertises %s but a row has none: %v", svc, id, gid, a)
						}
					}
				}
				if sc, _ := sdoc["capabilities"].(string); sc != "Query" {
					t.Errorf("snapshot service %s advertises %q", svc, sc)
				}
			case offline.KindReplica:
				seen["replica"] = true
				if !strings.Contains(caps, "Editing") {
					t.Errorf("replica layer %s/%v advertises %q", svc, id, caps)
				}
			}
		}
	}
	if !seen["snapshot"] || !seen["replica"] {
		t.Fatalf("the built package lacks a snapshot or a replica store: %v (kinds %v)", seen, kinds)
	}
}
