package localapi

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatusAndMaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	st := e.jsonOf(e.do("GET", "/api/v1/status", nil), 200)
	if st["maps"].(float64) != 1 || st["version"] != "test" {
		t.Fatalf("status: %v", st)
	}
	ml := e.jsonOf(e.do("GET", "/api/v1/maps", nil), 200)
	maps := ml["maps"].([]any)
	if len(maps) != 1 {
		t.Fatalf("maps: %v", ml)
	}
	m := maps[0].(map[string]any)
	if m["id"] != "demo" || m["title"] != "Field Survey" || m["complete"] != true {
		t.Fatalf("map: %v", m)
	}
	if got := len(m["layers"].([]any)); got != 4 {
		t.Fatalf("layers = %d, want 4 (3 layers + 1 table): %v", got, m["layers"])
	}
	// The manifest and web map are the package's, as the offline job wrote them.
	man := e.jsonOf(e.do("GET", "/api/v1/maps/demo/manifest", nil), 200)
	if stored := e.packageFile("package.json"); man["id"] == nil || man["id"] != stored["id"] {
		t.Fatalf("manifest id %v, package's %v", man["id"], stored["id"])
	}
	wm := e.jsonOf(e.do("GET", "/api/v1/maps/demo/webmap", nil), 200)
	if stored := e.packageFile("map.json"); wm["version"] == nil || wm["version"] != stored["version"] {
		t.Fatalf("webmap version %v, package's %v", wm["version"], stored["version"])
	}
	e.wantError(e.do("GET", "/api/v1/maps/nope", nil), 404, "map")
	e.wantError(e.do("GET", "/api/v1/maps/nope/manifest", nil), 404, "map")
	e.wantError(e.do("GET", "/api/v1/nothing", nil), 404, "path")
	e.wantError(e.do("PUT", "/api/v1/maps", nil), 405, "method")
	ls := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers", nil), 200)
	if len(ls["layers"].([]any)) != 4 {
		t.Fatalf("layers: %v", ls)
	}
	l := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/Field_Survey.0", nil), 200)
	if l["name"] != "Inspections" || l["count"].(float64) < 1 {
		t.Fatalf("layer: %v", l)
	}
	e.wantError(e.do("GET", "/api/v1/maps/demo/layers/Field_Survey.9", nil), 404, "layer")
	e.wantError(e.do("GET", "/api/v1/maps/demo/layers/x", nil), 404, "layer")
}

func TestOpenAPIListsEveryRoute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true})
	doc := e.jsonOf(e.do("GET", "/api/v1/openapi.json", nil), 200)
	if !strings.HasPrefix(doc["openapi"].(string), "3.") {
		t.Fatalf("openapi version %v", doc["openapi"])
	}
	paths := doc["paths"].(map[string]any)
	for _, r := range e.srv.Routes() {
		p := openAPIPath(r.Path)
		item, ok := paths[p].(map[string]any)
		if !ok {
			t.Errorf("route %s %s: path %s missing from openapi.json", r.Method, r.Path, p)
			continue
		}
		if _, ok := item[strings.ToLower(r.Method)]; !ok {
			t.Errorf("route %s %s: method missing from openapi.json", r.Method, r.Path)
		}
	}
	// And nothing documented that is not served.
	served := map[string]bool{}
	for _, r := range e.srv.Routes() {
		served[openAPIPath(r.Path)+" "+strings.ToLower(r.Method)] = true
	}
	for p, item := range paths {
		for m := range item.(map[string]any) {
			if m == "parameters" {
				continue
			}
			if !served[p+" "+m] {
				t.Errorf("openapi.json documents %s %s which is not served", m, p)
			}
		}
	}
}

// openAPIPath strips mux regexps: {z:[0-9]+} → {z}.
func openAPIPath(p string) string {
	var b strings.Builder
	for len(p) > 0 {
		i := strings.IndexByte(p, '{')
		if i < 0 {
			b.WriteString(p)
			break
		}
		b.WriteString(p[:i])
		j := strings.IndexByte(p[i:], '}')
		name := p[i+1 : i+j]
		name, _, _ = strings.Cut(name, ":")
		b.WriteString("{" + name + "}")
		p = p[i+j+1:]
	}
	return b.String()
}

func TestUnavailableParts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true})
	for _, p := range []string{"/api/v1/jobs"} {
		r := e.do("GET", p, nil)
		if r.StatusCode != 501 {
			b, _ := io.ReadAll(r.Body)
			t.Fatalf("%s: %d %s", p, r.StatusCode, b)
		}
	}
}

// packageFile decodes a JSON file of the demo map's package directory.
func (e *env) packageFile(name string) map[string]any {
	e.t.Helper()
	var m map[string]any
	b, err := os.ReadFile(filepath.Join(e.root, "packages", "demo", name))
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil {
		e.t.Fatalf("package file %s: %v", name, err)
	}
	return m
}
