package localapi

import (
	"fmt"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

// POST /api/v1/estimate answers per-layer figures and the total for the
// parameters (overrides defaulted), a proposal over maxBytes, and 4xx
// naming the field for bad input.
func TestPostEstimate(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true, withPlanner: true})
	src := fmt.Sprintf(`{"portalUrl":%q,"itemId":%q}`, e.em.PortalURL, emulator.DemoWebMapFieldSurveyID)
	aoi := `{"xmin":-117.2,"ymin":34.0,"xmax":-117.15,"ymax":34.05,"spatialReference":{"wkid":4326}}`
	pj := e.jsonOf(e.do("POST", "/api/v1/parameters", strings.NewReader(`{"source":`+src+`,"areaOfInterest":`+aoi+`,"minScale":150000,"maxScale":10000}`)), 200)
	est := e.jsonOf(e.do("POST", "/api/v1/estimate", strings.NewReader(fmt.Sprintf(`{"source":%s,"parameters":%s}`, src, mustJSON(pj)))), 200)
	layers, _ := est["layers"].([]any)
	total, _ := est["bytes"].(map[string]any)
	if len(layers) < 4 || total == nil || total["bytes"].(float64) <= 0 || est["overBudget"] != nil {
		t.Fatalf("estimate %v", est)
	}
	methods := map[string]bool{}
	for _, l := range layers {
		methods[l.(map[string]any)["bytes"].(map[string]any)["method"].(string)] = true
	}
	if !methods["sampled"] || !methods["counted"] {
		t.Errorf("methods %v", methods)
	}
	pj["maxBytes"] = 500000
	over := e.jsonOf(e.do("POST", "/api/v1/estimate", strings.NewReader(fmt.Sprintf(`{"source":%s,"parameters":%s}`, src, mustJSON(pj)))), 200)
	if over["overBudget"] != true || over["proposal"] == nil {
		t.Fatalf("over budget %v", over)
	}
	pj["maxBytes"] = -1
	e.wantError(e.do("POST", "/api/v1/estimate", strings.NewReader(fmt.Sprintf(`{"source":%s,"parameters":%s}`, src, mustJSON(pj)))), 400, "parameters.maxBytes")
	e.wantError(e.do("POST", "/api/v1/estimate", strings.NewReader(`{"source":`+src+`}`)), 400, "parameters")
	e.wantError(e.do("POST", "/api/v1/estimate", strings.NewReader(`{"source":{"file":"/etc/passwd"},"parameters":{}}`)), 400, "source.file")
}
