package localapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

func TestPortalSearchPaged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true})
	p1 := e.jsonOf(e.do("GET", "/api/v1/portal/webmaps?num=2", nil), 200)
	total := int(p1["total"].(float64))
	if total < 3 || len(p1["results"].([]any)) != 2 || p1["nextStart"].(float64) != 3 {
		t.Fatalf("page 1 %v", p1)
	}
	seen := map[string]bool{}
	for start := 1; start > 0; {
		p := e.jsonOf(e.do("GET", fmt.Sprintf("/api/v1/portal/webmaps?num=2&start=%d", start), nil), 200)
		for _, r := range p["results"].([]any) {
			id := r.(map[string]any)["id"].(string)
			if seen[id] {
				t.Fatalf("%s twice", id)
			}
			seen[id] = true
		}
		ns, _ := p["nextStart"].(float64)
		start = int(ns)
		if start > 0 && start <= len(seen) && len(seen) > 100 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != total || !seen[emulator.DemoWebMapFieldSurveyID] {
		t.Fatalf("saw %d of %d web maps", len(seen), total)
	}
	q := e.jsonOf(e.do("GET", "/api/v1/portal/webmaps?q=vector", nil), 200)
	if q["total"].(float64) < 1 || q["total"].(float64) >= float64(total) {
		t.Fatalf("q=vector total %v of %d", q["total"], total)
	}
	for qs, field := range map[string]string{"num=0": "num", "num=101": "num", "start=0": "start", "start=x": "start", "sortOrder=up": "sortOrder", "q=" + strings.Repeat("a", 600): "q"} {
		e.wantError(e.do("GET", "/api/v1/portal/webmaps?"+qs, nil), 400, field)
	}
}

func TestCapabilitiesParametersOverrides(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true, withPlanner: true})
	src := fmt.Sprintf(`{"portalUrl":%q,"itemId":%q}`, e.em.PortalURL, emulator.DemoWebMapFieldSurveyID)
	aoi := `{"xmin":-117.2,"ymin":34.0,"xmax":-117.15,"ymax":34.05,"spatialReference":{"wkid":4326}}`
	c := e.jsonOf(e.do("POST", "/api/v1/capabilities", strings.NewReader(`{"source":`+src+`}`)), 200)
	byID := map[string]map[string]any{}
	for _, l := range c["layers"].([]any) {
		byID[l.(map[string]any)["id"].(string)] = l.(map[string]any)
	}
	if ins := byID["Field_Survey_Inspections"]; ins == nil || ins["supportsOffline"] != true || ins["method"] != "replica" {
		t.Fatalf("Inspections capability %v", ins)
	}
	if dyn := byID["Dynamic_Layers"]; dyn == nil || dyn["error"] != true || dyn["reason"] != "unsupportedLayerType" || c["hasErrors"] != true {
		t.Fatalf("dynamic layer capability %v", dyn)
	}
	p := e.jsonOf(e.do("POST", "/api/v1/parameters", strings.NewReader(`{"source":`+src+`,"areaOfInterest":`+aoi+`,"maxScale":5000}`)), 200)
	if p["areaOfInterest"] == nil || p["maxScale"].(float64) != 5000 {
		t.Fatalf("parameters %v", p)
	}
	pj := e.jsonOf(e.do("POST", "/api/v1/parameters", strings.NewReader(`{"source":`+src+`,"areaOfInterest":`+aoi+`}`)), 200)
	body := fmt.Sprintf(`{"source":%s,"parameters":%s}`, src, mustJSON(pj))
	o := e.jsonOf(e.do("POST", "/api/v1/overrides", strings.NewReader(body)), 200)
	if len(o["generateGeodatabase"].(map[string]any)) == 0 {
		t.Fatalf("overrides %v", o)
	}
	for _, c := range []struct {
		path, body, field string
		code              int
	}{
		{"/api/v1/capabilities", `{"source":{}}`, "source", 400},
		{"/api/v1/capabilities", `{"source":{"file":"/etc/passwd"}}`, "source.file", 400},
		{"/api/v1/capabilities", `{"source":{"itemId":"doesnotexist"}}`, "source", 422},
		{"/api/v1/parameters", `{"source":` + src + `,"areaOfInterest":{"rings":[[[1,2]]]}}`, "areaOfInterest", 400},
		{"/api/v1/parameters", `{"source":` + src + `,"minScale":-1}`, "minScale", 400},
		{"/api/v1/overrides", `{"source":` + src + `}`, "parameters", 400},
		{"/api/v1/overrides", `{"source":` + src + `,"parameters":{"minScale":"x"}}`, "parameters.minScale", 400},
	} {
		e.wantError(e.do("POST", c.path, strings.NewReader(c.body)), c.code, c.field)
	}
}
