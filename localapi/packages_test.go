package localapi

import (
	"path/filepath"
	"strings"
	"testing"
)

// POST /api/v1/maps registers a package directory and names the field of
// bad input; GET /api/v1/replicas lists the replicas the daemon knows.
func TestAddMapAndListReplicas(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.wantError(e.do("POST", "/api/v1/maps", strings.NewReader(`{}`)), 400, "dir")
	e.wantError(e.do("POST", "/api/v1/maps", jsonBody(map[string]string{"dir": t.TempDir()})), 400, "dir")
	e.wantError(e.do("POST", "/api/v1/maps", jsonBody(map[string]string{"dir": template.Dir(), "id": "no spaces"})), 400, "id")
	e.wantError(e.do("POST", "/api/v1/maps", strings.NewReader(`{"dir":"x","bogus":1}`)), 400, "body")
	src := filepath.Join(t.TempDir(), "crew7")
	template.CopyTo(t, src)
	mi := e.jsonOf(e.do("POST", "/api/v1/maps", jsonBody(map[string]string{"dir": src})), 201)
	if mi["id"] != "crew7" || len(mi["layers"].([]any)) == 0 {
		t.Fatalf("added map %v", mi)
	}
	e.jsonOf(e.do("GET", "/api/v1/maps/crew7", nil), 200)
	e.wantError(e.do("POST", "/api/v1/maps", jsonBody(map[string]string{"dir": src})), 409, "id")
	reps := e.jsonOf(e.do("GET", "/api/v1/replicas", nil), 200)["replicas"].([]any)
	maps := map[string]int{}
	for _, r := range reps {
		r := r.(map[string]any)
		if r["state"] != "registered" || r["replicaId"] == "" || r["serviceUrl"] == "" {
			t.Fatalf("replica %v", r)
		}
		maps[r["mapId"].(string)]++
	}
	if maps["demo"] != 1 || maps["crew7"] != 1 {
		t.Fatalf("replicas by map %v", maps)
	}
	res := e.jsonOf(e.do("POST", "/api/v1/replicas/cleanup", nil), 200)
	if res["queued"].(float64) != 0 {
		t.Fatalf("cleanup without orphans %v", res)
	}
}

// Without the daemon's package service the routes answer 501.
func TestPackageRoutesUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true, noPackages: true})
	for _, r := range [][2]string{{"POST", "/api/v1/maps"}, {"GET", "/api/v1/replicas"}, {"POST", "/api/v1/replicas/cleanup"}} {
		resp := e.do(r[0], r[1], strings.NewReader(`{"dir":"x"}`))
		if resp.StatusCode != 501 {
			t.Fatalf("%s %s: %d", r[0], r[1], resp.StatusCode)
		}
	}
}
