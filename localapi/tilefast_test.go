package localapi

import (
	"log/slog"
	"maps"
	"net/http/httptest"
	"testing"

	"github.com/gorilla/mux"
)

const tileRouteTemplate = "/api/v1/maps/{map}/tiles/{tileLayer}/{z:[0-9]+}/{x:[0-9]+}/{y}"

// checkTileFastPath fails if the fast path and the router disagree on p:
// the fast path takes a path only if the router sends it to the tile route
// with the same variables.
func checkTileFastPath(t *testing.T, s *Server, p string) {
	t.Helper()
	r := httptest.NewRequest("GET", "http://localhost/", nil)
	r.URL.Path = p
	var m mux.RouteMatch
	routed := s.router.Match(r, &m) && m.Route != nil && m.MatchErr == nil
	if routed {
		tpl, _ := m.Route.GetPathTemplate()
		routed = tpl == tileRouteTemplate
	}
	ref, fast := tilePath(p)
	vars := map[string]string{"map": ref.mapID, "tileLayer": ref.layer, "z": ref.z, "x": ref.x, "y": ref.y}
	if fast && (!routed || !maps.Equal(vars, m.Vars)) {
		t.Errorf("%q: fast path %v, router tile route %v vars %v", p, vars, routed, m.Vars)
	}
}

// tileTestServer is a server with its routes registered (no maps in it).
func tileTestServer(t testing.TB) *Server {
	d := NewTestDaemon(t, TestDaemonOptions{Root: t.TempDir(), Hub: NewHub(0)})
	s, err := New(Options{Token: testToken, Maps: d.Maps, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTileFastPathAgreesWithRouter(t *testing.T) {
	s := tileTestServer(t)
	yes := []string{"/api/v1/maps/map1/tiles/basemap/3/2/1.png", "/api/v1/maps/m/tiles/v/0/0/0", "/api/v1/maps/m/tiles/v/12/5/7.pbf"}
	for _, p := range yes {
		if _, ok := tilePath(p); !ok {
			t.Errorf("%q: not taken by the fast path", p)
		}
		checkTileFastPath(t, s, p)
	}
	for _, p := range []string{
		"/api/v1/maps/m/tiles/v/fonts/a/0-255", "/api/v1/maps/m/tiles/v/sprites/x.png", "/api/v1/maps/m/tiles/v/tilejson",
		"/api/v1/maps/m/tiles/v/1/x/1", "/api/v1/maps/m/tiles/v/1/1/", "/api/v1/maps/m/tiles/v/1/1/1/2", "/api/v1/maps//tiles/v/1/1/1",
		"/api/v1/maps/../tiles/v/1/1/1", "/api/v1/maps/m/layers/v/1/1/1", "/api/v1/maps/m/tiles/v/1/1/..",
	} {
		if _, ok := tilePath(p); ok {
			t.Errorf("%q: taken by the fast path", p)
		}
		checkTileFastPath(t, s, p)
	}
}

func FuzzTileFastPath(f *testing.F) {
	s := tileTestServer(f)
	for _, p := range []string{"/api/v1/maps/map1/tiles/basemap/3/2/1.png", "/api/v1/maps/m/tiles/v/fonts/a/0-255", "/api/v1/maps/./tiles/v/1/1/1"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) { checkTileFastPath(t, s, p) })
}
