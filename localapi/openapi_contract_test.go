package localapi

// Contract checking: every request the localapi tests send through env.do
// goes through contractTransport, which validates the request and the
// response against the embedded openapi.json with kin-openapi.
//
// Keeping it green when you add or change a route:
//   - add the path and method to openapi.json (TestOpenAPIListsEveryRoute
//     fails otherwise), with a schema for each request body and each
//     response status the route can answer, errors included (most routes
//     reference #/components/responses/Error);
//   - a mismatch fails the test that sent the request, with the method,
//     path, status and kin-openapi's reason: fix the document or the code.
//
// Rules the wrapper applies:
//   - a path the document does not know must be answered 404 or 405 (tests
//     probe unknown routes on purpose), or 401/403/421 by the guard that runs
//     before routing; an OPTIONS preflight (the CORS middleware answers it
//     for every route) must be 204 or 403;
//   - a JSON body sent without Content-Type is validated as application/json
//     (the server reads it so, as the document's description says); raw
//     bodies of other media types (attachment uploads) are checked for
//     their Content-Type only;
//   - a request the document rejects (bad parameter, body against its
//     schema) must be answered 4xx: the server may not accept what the
//     document calls invalid; a request the document accepts is not
//     required to succeed (the server checks more than a schema can say);
//   - every response: its status must be documented for the operation, its
//     Content-Type listed for that status, and a JSON body must match the
//     schema. Bodies of other media types (tiles, photos, event streams)
//     are checked for their Content-Type only.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	stdsync "sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// contractServer is the origin the document's routes are matched on (its
// servers entry); requests are rewritten to it before routing.
const contractServer = "http://127.0.0.1:7878"

var contractOnce = stdsync.OnceValues(loadContract)

// contract is the parsed embedded document and its router.
type contract struct {
	doc    *openapi3.T
	router routers.Router
}

func loadContract() (*contract, error) {
	b, err := openapiFS.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	doc.Servers = openapi3.Servers{{URL: contractServer}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.json router: %w", err)
	}
	return &contract{doc: doc, router: r}, nil
}

// contractClient returns an HTTP client whose requests and responses are
// checked against openapi.json; mismatches fail t.
func contractClient(t testing.TB) *http.Client {
	t.Helper()
	c, err := contractOnce()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: &contractTransport{t: t, c: c, next: http.DefaultTransport}}
}

// contractTransport validates each exchange it carries.
type contractTransport struct {
	t    testing.TB
	c    *contract
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (ct *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		if len(b) == 0 && req.ContentLength == 0 {
			req.Body = http.NoBody // as sent: no body, not an empty chunked one
		}
	}
	resp, err := ct.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if msg := ct.c.check(req, reqBody, resp); msg != "" {
		ct.t.Errorf("openapi contract: %s %s → %d: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, msg)
	}
	return resp, nil
}

// check validates one exchange; it returns "" when it conforms. It buffers
// a JSON response body and puts it back on resp.
func (c *contract) check(req *http.Request, reqBody []byte, resp *http.Response) string {
	ctx := context.Background()
	vreq := req.Clone(ctx)
	u, _ := url.Parse(contractServer)
	vreq.URL.Scheme, vreq.URL.Host, vreq.Host = u.Scheme, u.Host, u.Host
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	if req.Method == http.MethodOptions {
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusForbidden {
			return "a CORS preflight must be answered 204 or 403"
		}
		return ""
	}
	route, pathParams, err := c.router.FindRoute(vreq)
	if err != nil {
		switch resp.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized, http.StatusForbidden, http.StatusMisdirectedRequest:
			return ""
		}
		return fmt.Sprintf("route not in openapi.json (%v) but answered: add it to localapi/openapi.json", err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true,
		RejectWhenRequestBodyNotSpecified: true}
	if len(reqBody) > 0 && vreq.Header.Get("Content-Type") == "" {
		vreq.Header.Set("Content-Type", "application/json")
	}
	switch rmt, _, _ := mime.ParseMediaType(vreq.Header.Get("Content-Type")); {
	case len(reqBody) == 0, rmt == "application/json", rmt == "application/x-www-form-urlencoded", rmt == "multipart/form-data":
	default:
		ropt := *opts
		ropt.ExcludeRequestBody = true
		opts = &ropt
		if rb := route.Operation.RequestBody; rb != nil && rb.Value != nil && rb.Value.Content.Get(rmt) == nil {
			return fmt.Sprintf("request Content-Type %q is not documented", rmt)
		}
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: pathParams, Route: route, Options: opts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && resp.StatusCode < 400 {
		return fmt.Sprintf("the document rejects the request but the server answered %d: %v", resp.StatusCode, err)
	}
	ctype := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ctype)
	jsonBody := mt == "application/json" || strings.HasSuffix(mt, "+json")
	var body []byte
	if jsonBody && resp.Body != nil {
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Sprintf("reading the response: %v", err)
		}
		body = b
		resp.Body = io.NopCloser(bytes.NewReader(b))
	}
	ropts := *opts
	ropts.ExcludeResponseBody = !jsonBody
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: &ropts}
	rin.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, rin); err != nil {
		return fmt.Sprintf("response does not match openapi.json: %v (body %.300s)", err, body)
	}
	if !jsonBody && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified {
		if r := route.Operation.Responses.Status(resp.StatusCode); r != nil && r.Value != nil && len(r.Value.Content) > 0 && r.Value.Content.Get(ctype) == nil {
			return fmt.Sprintf("Content-Type %q is not documented for status %d", ctype, resp.StatusCode)
		}
	}
	return ""
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
		msg := c.check(tc.req, []byte(tc.body), tc.resp)
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
	for path, item := range c.doc.Paths.Map() {
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
