package localapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/offlined/offlined/localapi/localapitest"
)

func TestAuthRequiredEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	for _, r := range e.routeRequests() {
		for _, auth := range []string{"", "Bearer wrong", "Basic " + testToken, "Bearer " + testToken + "x"} {
			resp := e.do(r.method, r.path, nil, "Authorization", auth)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: status %d, want 401", r.method, r.path, auth, resp.StatusCode)
				continue
			}
			e.wantError(resp, 401, "Authorization")
		}
	}
	// The FeatureServer subset also takes token= (GDAL, arcgis-rest-js).
	e.jsonOf(e.do("GET", "/arcgis/rest/services/demo/FeatureServer?f=json&token="+testToken, nil, "Authorization", ""), 200)
	e.wantError(e.do("GET", "/arcgis/rest/services/demo/FeatureServer?f=json&token=bad", nil, "Authorization", ""), 401, "Authorization")
	// The JSON API does not.
	e.wantError(e.do("GET", "/api/v1/maps?token="+testToken, nil, "Authorization", ""), 401, "Authorization")
}

func TestHostHeaderMustBeLoopback(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{noMap: true})
	for host, ok := range map[string]bool{
		"localhost": true, "localhost:7878": true, "127.0.0.1:1": true, "[::1]:7878": true, "[::1]": true, "LOCALHOST:80": true,
		"evil.example.com": false, "evil.example.com:7878": false, "127.0.0.1.nip.io": false, "10.0.0.2:7878": false, "localhost.evil.com": false,
	} {
		resp := e.do("GET", "/api/v1/status", nil, "Host", host)
		if ok {
			e.jsonOf(resp, 200)
		} else {
			e.wantError(resp, http.StatusMisdirectedRequest, "Host")
		}
	}
}

func TestCORSClosedUnlessConfigured(t *testing.T) {
	t.Parallel()
	closed := newEnv(t, envOpts{noMap: true})
	r := closed.do("GET", "/api/v1/status", nil, "Origin", "https://app.example")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header on a closed server")
	}
	closed.wantError(r, 403, "Origin")
	r = closed.do("OPTIONS", "/api/v1/status", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "GET", "Authorization", "")
	closed.wantError(r, 403, "Origin")

	open := newEnv(t, envOpts{noMap: true, cors: []string{"https://app.example"}})
	r = open.do("OPTIONS", "/api/v1/maps", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "GET", "Authorization", "")
	if r.StatusCode != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", r.StatusCode, r.Header)
	}
	r = open.do("GET", "/api/v1/maps", nil, "Origin", "https://app.example")
	open.jsonOf(r, 200)
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Fatal("no CORS header for an allowed origin")
	}
	// Allowed origin still needs the token.
	open.wantError(open.do("GET", "/api/v1/maps", nil, "Origin", "https://app.example", "Authorization", ""), 401, "Authorization")
	open.wantError(open.do("GET", "/api/v1/maps", nil, "Origin", "https://other.example"), 403, "Origin")
}

func TestBodySizeLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{maxBody: 1024, maxAttach: 4096})
	sum := e.storeChecksum()
	gid, _ := e.firstFeature()
	big := fmt.Sprintf(`{"type":"Feature","properties":{"x":%q},"geometry":null}`, strings.Repeat("a", 2000))
	e.wantError(e.do("POST", "/api/v1/maps/demo/layers/0/features", strings.NewReader(big), "Content-Type", "application/json"), 413, "body")
	// Without Content-Length (chunked) the limit applies while reading.
	req, _ := http.NewRequest("POST", e.hs.URL+"/api/v1/maps/demo/layers/0/features", struct{ *strings.Reader }{strings.NewReader(big)})
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := contractClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("chunked oversize body: %d", resp.StatusCode)
	}
	// Attachments have their own limit: 3000 bytes pass, 5000 do not.
	ap := "/api/v1/maps/demo/layers/0/features/" + gid + "/attachments?name=a.jpg"
	e.wantError(e.do("POST", ap, bytes.NewReader(make([]byte, 5000)), "Content-Type", "image/jpeg"), 413, "body")
	if e.storeChecksum() != sum {
		t.Fatal("an oversize request changed the store")
	}
	e.jsonOf(e.do("POST", ap, bytes.NewReader(make([]byte, 3000)), "Content-Type", "image/jpeg"), 201)
}

func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{})
	e.do("GET", "/arcgis/rest/services/demo/FeatureServer/0/query?f=json&where=1%3D1&token="+testToken, nil, "Authorization", "")
	e.do("GET", "/api/v1/status", nil)
	e.do("GET", "/api/v1/status", nil, "Authorization", "Bearer "+testToken+"-wrong")
	st := e.do("GET", "/api/v1/status", nil)
	body := e.jsonOf(st, 200)
	if strings.Contains(fmt.Sprint(body), testToken) {
		t.Fatal("token in the status response")
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"path":"/api/v1/status"`) {
		t.Fatalf("requests not logged: %s", logs)
	}
	if strings.Contains(logs, testToken) {
		t.Fatal("the API token appears in the logs")
	}
}

// routeRequest is a route of the server with its parameters filled in.
type routeRequest struct{ method, path string }

// routeRequests returns every route of the server with each parameter
// filled with a value for the demo map (its first feature, its basemap
// tile layer).
func (e *env) routeRequests() []routeRequest {
	e.t.Helper()
	gid, oid := e.firstFeature()
	fill := strings.NewReplacer("{map}", "demo", "{layer}", "0", "{layer:[0-9]+}", "0", "{feature}", gid, "{attachment}", gid,
		"{job}", "j", "{tileLayer}", localapitest.Basemap, "{z:[0-9]+}", "0", "{x:[0-9]+}", "0", "{y}", "0", "{sprite}", "sprite.json",
		"{fontstack}", "Arial", "{range}", "0-255.pbf", "{conflict}", "a:1", "{service}", "demo", "{oid:[0-9]+}", fmt.Sprint(oid), "{aid:[0-9]+}", "1")
	var out []routeRequest
	for _, r := range e.srv.Routes() {
		out = append(out, routeRequest{r.Method, fill.Replace(r.Path)})
	}
	return out
}
