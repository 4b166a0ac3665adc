package localapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

// warnedLayers returns the layers an answer's warnings name with code.
func warnedLayers(m map[string]any, code string) map[string]bool {
	out := map[string]bool{}
	ws, _ := m["warnings"].([]any)
	for _, w := range ws {
		wm := w.(map[string]any)
		if wm["code"] == code {
			out[wm["layer"].(string)] = true
		}
	}
	return out
}

// POST /api/v1/capabilities with an area (no parameters) and POST
// /api/v1/estimate warn, per layer, when the area lies outside a layer's
// extent (code areaOutsideExtent); over the demo area nothing is warned
// (issue 15 item 3).
func TestAreaOutsideExtentWarnings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true, withPlanner: true})
	src := fmt.Sprintf(`{"portalUrl":%q,"itemId":%q}`, e.em.PortalURL, emulator.DemoWebMapFieldSurveyID)
	far := `{"xmin":-100.2,"ymin":40.0,"xmax":-100.1,"ymax":40.1}` // no spatialReference: WGS84
	near := `{"xmin":-117.2,"ymin":34.0,"xmax":-117.15,"ymax":34.05}`

	caps := e.jsonOf(e.do("POST", "/api/v1/capabilities", strings.NewReader(`{"source":`+src+`,"areaOfInterest":`+far+`}`), "Content-Type", "application/json"), 200)
	warned := warnedLayers(caps, "areaOutsideExtent")
	if !warned["Inspections"] {
		t.Fatalf("capabilities over a far area: warnings %v", caps["warnings"])
	}
	for _, l := range caps["layers"].([]any) {
		lm := l.(map[string]any)
		if lm["method"] == "replica" && !warned[lm["title"].(string)] {
			t.Errorf("layer %v not warned", lm["title"])
		}
	}
	if c := e.jsonOf(e.do("POST", "/api/v1/capabilities", strings.NewReader(`{"source":`+src+`,"areaOfInterest":`+near+`}`), "Content-Type", "application/json"), 200); c["warnings"] != nil {
		t.Errorf("capabilities over the demo area warn: %v", c["warnings"])
	}
	e.wantError(e.do("POST", "/api/v1/capabilities", strings.NewReader(`{"source":`+src+`,"areaOfInterest":{"xmin":-100,"ymin":95,"xmax":-99,"ymax":96}}`), "Content-Type", "application/json"), 400, "areaOfInterest")

	pj := e.jsonOf(e.do("POST", "/api/v1/parameters", strings.NewReader(`{"source":`+src+`,"areaOfInterest":`+far+`,"minScale":150000,"maxScale":140000}`), "Content-Type", "application/json"), 200)
	est := e.jsonOf(e.do("POST", "/api/v1/estimate", strings.NewReader(fmt.Sprintf(`{"source":%s,"parameters":%s}`, src, mustJSON(pj))), "Content-Type", "application/json"), 200)
	if got := warnedLayers(est, "areaOutsideExtent"); !got["Inspections"] {
		t.Errorf("estimate over a far area: warnings %v", est["warnings"])
	}
}

// A job whose area misses the layers' data ends with per-layer warnings in
// the job, in its last progress event and in its final state event (issue
// 15 item 3).
func TestJobWarningsInEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true, realJobs: true, withPlanner: true})
	src := fmt.Sprintf(`{"portalUrl":%q,"itemId":%q}`, e.em.PortalURL, emulator.DemoWebMapFieldSurveyID)
	pj := e.jsonOf(e.do("POST", "/api/v1/parameters", strings.NewReader(`{"source":`+src+`,"areaOfInterest":{"xmin":-100.2,"ymin":40.0,"xmax":-100.1,"ymax":40.1},"minScale":150000,"maxScale":140000}`), "Content-Type", "application/json"), 200)
	pj["onlineOnlyServicesOption"] = "include"
	j := e.jsonOf(e.do("POST", "/api/v1/jobs", strings.NewReader(fmt.Sprintf(`{"source":%s,"mapId":"far","parameters":%s}`, src, mustJSON(pj))), "Content-Type", "application/json"), 201)
	r := e.do("GET", "/api/v1/jobs/"+j["id"].(string)+"/events", nil, "Accept", "text/event-stream")
	var final, lastProgress map[string]any
	for _, ev := range readSSE(t, r.Body, 0) {
		switch {
		case ev.typ == "progress":
			lastProgress = ev.data
		case ev.typ == "state" && ev.data["state"] != "running" && ev.data["state"] != "pending":
			final = ev.data
		}
		if final != nil {
			break
		}
	}
	if final == nil || final["state"] != "succeeded" {
		t.Fatalf("final state %v", final)
	}
	if w := warnedLayers(final["progress"].(map[string]any), "emptyLayer"); !w["Inspections"] {
		t.Errorf("final state event: warnings %v", final["progress"])
	}
	if w := warnedLayers(lastProgress, "emptyLayer"); !w["Inspections"] {
		t.Errorf("last progress event: %v", lastProgress)
	}
	got := e.jsonOf(e.do("GET", "/api/v1/jobs/"+j["id"].(string), nil), 200)
	if w := warnedLayers(got["progress"].(map[string]any), "emptyLayer"); !w["Inspections"] {
		t.Errorf("GET job: %v", got["progress"])
	}
}
