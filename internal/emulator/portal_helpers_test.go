package emulator_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/internal/testutil"
)

// obj is a decoded JSON object.
type obj = map[string]any

// fetch sends req and decodes its JSON body; it returns the HTTP response
// too (body already read).
func fetch(t *testing.T, req *http.Request) (*http.Response, obj) {
	t.Helper()
	resp, b := testutil.Do(t, req)
	var o obj
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v\n%s", req.Method, req.URL, err, b)
	}
	return resp, o
}

// get GETs rawURL with query parameters q.
func get(t *testing.T, rawURL string, q url.Values) obj {
	t.Helper()
	_, o := getResp(t, rawURL, q)
	return o
}

func getResp(t *testing.T, rawURL string, q url.Values) (*http.Response, obj) {
	t.Helper()
	if q != nil {
		rawURL += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fetch(t, req)
}

// post POSTs form to rawURL as application/x-www-form-urlencoded.
func post(t *testing.T, rawURL string, form url.Values) obj {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	_, o := fetch(t, req)
	return o
}

// signIn returns a token for the demo user.
func signIn(t *testing.T, em *emulatortest.Server) string {
	t.Helper()
	o := post(t, em.PortalURL+"/generateToken", url.Values{
		"username": {emulator.DemoUser}, "password": {emulator.DemoPassword}, "client": {"referer"},
		"referer": {em.URL}, "f": {"json"},
	})
	tok, _ := o["token"].(string)
	if tok == "" {
		t.Fatalf("generateToken: no token in %v", o)
	}
	return tok
}

// withToken returns query parameters f=json&token=tok plus kv pairs.
func withToken(tok string, kv ...string) url.Values {
	q := url.Values{"f": {"json"}}
	if tok != "" {
		q.Set("token", tok)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

// fixture loads testdata/portal/name as a JSON object.
func fixture(t testing.TB, name string) obj {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("portal", "testdata", "portal", name))
	if err != nil {
		t.Fatal(err)
	}
	var o obj
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return o
}

// missingKeys lists the keys of want that got lacks.
func missingKeys(want, got obj) []string {
	var out []string
	for k := range want {
		if _, ok := got[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// assertHasKeys fails when got lacks any key of the fixture object want.
func assertHasKeys(t *testing.T, what string, want, got obj) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: fixture object is empty", what)
	}
	if m := missingKeys(want, got); len(m) > 0 {
		t.Errorf("%s: missing keys of the fixture: %v", what, m)
	}
}

// errorCode returns body.error.code, or 0 without an error.
func errorCode(o obj) int {
	e, ok := o["error"].(obj)
	if !ok {
		return 0
	}
	c, _ := e["code"].(float64)
	return int(c)
}

// decodeObj decodes a JSON object.
func decodeObj(b []byte) (obj, error) {
	var o obj
	err := json.Unmarshal(b, &o)
	return o, err
}
