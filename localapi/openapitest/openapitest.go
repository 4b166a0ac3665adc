// Package openapitest checks HTTP exchanges against an OpenAPI 3 document
// with kin-openapi, for tests: localapi's tests send every request through
// it (env.do), and so can the tests of packages that register routes on a
// localapi.Server (Load(localapi.OpenAPIDocument()).Client(t)).
//
// Keeping it green when you add or change a route:
//   - add the path and method to localapi/openapi.json (TestOpenAPIListsEveryRoute
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
//
// localapi's TestOpenAPIEveryBodyHasSchema also refuses a body documented
// as a bare {"type":"object"}: give it properties or a $ref.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// server is the origin the document's routes are matched on (its servers
// entry); requests are rewritten to it before routing.
const server = "http://127.0.0.1:7878"

// Contract is a parsed OpenAPI document with its router.
type Contract struct {
	doc    *openapi3.T
	router routers.Router
}

// Load parses and validates an OpenAPI 3 document (localapi's openapi.json:
// localapi.OpenAPIDocument()).
func Load(b []byte) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi.json is not a valid OpenAPI document: %w", err)
	}
	doc.Servers = openapi3.Servers{{URL: server}}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi.json router: %w", err)
	}
	return &Contract{doc: doc, router: r}, nil
}

// Doc returns the parsed document.
func (c *Contract) Doc() *openapi3.T { return c.doc }

// Client returns an HTTP client whose requests and responses are checked
// against the document; a mismatch fails tb (Errorf) with the method, path,
// status and reason.
func (c *Contract) Client(tb testing.TB) *http.Client {
	return &http.Client{Transport: c.Transport(tb, nil)}
}

// Transport wraps next (http.DefaultTransport when nil) with the checks.
func (c *Contract) Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{t: tb, c: c, next: next}
}

// transport validates each exchange it carries.
type transport struct {
	t    testing.TB
	c    *Contract
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (ct *transport) RoundTrip(req *http.Request) (*http.Response, error) {
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
	if msg := ct.c.Check(req, reqBody, resp); msg != "" {
		ct.t.Errorf("openapi contract: %s %s → %d: %s", req.Method, req.URL.RequestURI(), resp.StatusCode, msg)
	}
	return resp, nil
}

// Check validates one exchange (reqBody is the request's body); it returns
// "" when it conforms, else what is wrong. It buffers a JSON response body
// and puts it back on resp.
func (c *Contract) Check(req *http.Request, reqBody []byte, resp *http.Response) string {
	ctx := context.Background()
	vreq := req.Clone(ctx)
	u, _ := url.Parse(server)
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
