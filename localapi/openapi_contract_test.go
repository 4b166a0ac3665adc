package localapi

// Glue between the localapi tests and the contract checker
// (localapi/openapitest): env.do sends every request through
// contractClient. How to keep it green when you add a route: see the
// package comment of localapi/openapitest.

import (
	"io"
	"net/http"
	"strings"
	stdsync "sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/offlined/offlined/localapi/openapitest"
)

var contractOnce = stdsync.OnceValues(func() (*openapitest.Contract, error) { return openapitest.Load(OpenAPIDocument()) })

// contractClient returns an HTTP client whose requests and responses are
// checked against openapi.json; mismatches fail t.
func contractClient(t testing.TB) *http.Client {
	t.Helper()
	c, err := contractOnce()
	if err != nil {
		t.Fatal(err)
	}
	return c.Client(t)
}

// TestContractCheckerCatchesMismatches makes sure the checker fails what it
// should: an undocumented status, a body against its schema, an accepted
// request the document rejects, and an unknown route answered 200.
func TestContractCheckerCatchesMismatches(t *testing.T) {
	c, err := contractOnce()
	if err != nil {
		t.Fatal(err)
	}
	mk := func(method, path, body string) *http.Request {
		r, _ := http.NewRequest(method, "http://127.0.0.1:1"+path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		return r
	}
	res := func(status int, body string) *http.Response {
		h := http.Header{}
		h.Set("Content-Type", "application/json")
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))}
	}
	errBody := `{"error":{"code":"notFound","message":"no such map","field":"map"}}`
	cases := []struct {
		name   string
		req    *http.Request
		body   string
		resp   *http.Response
		wantOK bool
	}{
		{"documented error", mk("GET", "/api/v1/maps/x", ""), "", res(404, errBody), true},
		{"error without code", mk("GET", "/api/v1/maps/x", ""), "", res(404, `{"error":{"message":"m"}}`), false},
		{"undocumented status", mk("GET", "/api/v1/maps/x", ""), "", res(418, errBody), false},
		{"list body of the wrong type", mk("GET", "/api/v1/maps", ""), "", res(200, `{"maps":{}}`), false},
		{"unknown route answered", mk("GET", "/api/v1/nothing", ""), "", res(200, `{}`), false},
		{"unknown route refused", mk("GET", "/api/v1/nothing", ""), "", res(404, errBody), true},
		{"invalid body accepted", mk("POST", "/api/v1/jobs", `{"webMapUrl":7}`), `{"webMapUrl":7}`, res(201, `{}`), false},
	}
	for _, tc := range cases {
		msg := c.Check(tc.req, []byte(tc.body), tc.resp)
		if (msg == "") != tc.wantOK {
			t.Errorf("%s: check = %q, want ok=%v", tc.name, msg, tc.wantOK)
		}
	}
}

// TestOpenAPIEveryBodyHasSchema: every JSON request and response body of
// the document has a real schema (a reference, properties or a
// composition), not a bare {"type":"object"}: the contract checks mean
// something only then (issue 23 item 12).
func TestOpenAPIEveryBodyHasSchema(t *testing.T) {
	c, err := contractOnce()
	if err != nil {
		t.Fatal(err)
	}
	real := func(s *openapi3.SchemaRef) bool {
		if s == nil {
			return false
		}
		if s.Ref != "" {
			return true
		}
		v := s.Value
		return v != nil && (len(v.Properties) > 0 || v.AdditionalProperties.Schema != nil || len(v.AnyOf) > 0 || len(v.OneOf) > 0 || len(v.AllOf) > 0 || v.Type.Is("string") || v.Type.Is("array"))
	}
	for path, item := range c.Doc().Paths.Map() {
		for method, op := range item.Operations() {
			if op.RequestBody != nil && op.RequestBody.Value != nil {
				for mt, m := range op.RequestBody.Value.Content {
					if !real(m.Schema) {
						t.Errorf("%s %s: request %s has no schema", method, path, mt)
					}
				}
			}
			for status, r := range op.Responses.Map() {
				if r.Value == nil {
					t.Errorf("%s %s %s: unresolved response", method, path, status)
					continue
				}
				if strings.HasPrefix(status, "2") && status != "204" && len(r.Value.Content) == 0 {
					t.Errorf("%s %s %s: no content documented", method, path, status)
				}
				for mt, m := range r.Value.Content {
					if !real(m.Schema) {
						t.Errorf("%s %s %s: response %s has no schema", method, path, status, mt)
					}
				}
			}
		}
	}
}
