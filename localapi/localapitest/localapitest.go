// Package localapitest holds what the tests of localapi and its
// FeatureServer routes share: the demo package built once per test binary
// by a real offline job (offlinetest.DemoOptions) and copied per test, an
// authenticated HTTP client with JSON and error checks, and checks of a
// feature store. It does not import localapi, so localapi's own tests can
// use it.
package localapitest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/offline/offlinetest"
)

// Token is the API token the test servers require.
const Token = "test-token-0123456789abcdef"

// Names in the demo package (see offlinetest.DemoOptions): the map id the
// tests register it under, its feature service and tile layers.
const (
	MapID   = "demo"
	Service = offlinetest.DemoService
	Basemap = offlinetest.DemoBasemap
	Vector  = offlinetest.DemoVector
)

// Template is a package built by RunWithTemplate (read-only).
type Template struct{ dir string }

// RunWithTemplate builds a package (opt: e.g. offlinetest.DemoOptions())
// once into a temporary directory, runs the tests of m and exits with
// their status; tests copy the package with tmpl.CopyTo.
func RunWithTemplate(m *testing.M, tmpl *Template, opt offlinetest.Options) {
	dir, err := os.MkdirTemp("", "localapi-template")
	if err != nil {
		panic(err)
	}
	tmpl.dir = filepath.Join(dir, MapID)
	if opt.Timeout == 0 {
		opt.Timeout = 4 * time.Minute // generous: a -race run on a busy machine
	}
	if _, err := offlinetest.BuildTemplate(tmpl.dir, opt); err != nil {
		os.RemoveAll(dir)
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Dir is the template's directory; tests must not change it.
func (tmpl *Template) Dir() string { return tmpl.dir }

// CopyTo copies the demo package to the package directory dst.
func (tmpl *Template) CopyTo(tb testing.TB, dst string) {
	tb.Helper()
	offlinetest.CopyDir(tb, tmpl.dir, dst)
}

// Client sends authenticated requests to a test server and checks the
// answers.
type Client struct {
	TB testing.TB
	// URL is the server's root URL.
	URL string
	// HTTP sends the requests (e.g. one checking them against openapi.json).
	HTTP *http.Client
}

// Do sends a request with the API token. hdr are header name, value pairs:
// "Host" sets the request's host, an empty value removes the header (e.g.
// "Authorization", "").
func (c *Client) Do(method, path string, body io.Reader, hdr ...string) *http.Response {
	c.TB.Helper()
	req, err := http.NewRequest(method, c.URL+path, body)
	if err != nil {
		c.TB.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+Token)
	for i := 0; i+1 < len(hdr); i += 2 {
		switch {
		case hdr[i] == "Host":
			req.Host = hdr[i+1]
		case hdr[i+1] == "":
			req.Header.Del(hdr[i])
		default:
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.TB.Fatal(err)
	}
	c.TB.Cleanup(func() { resp.Body.Close() })
	return resp
}

// JSONOf checks the status of resp and decodes its JSON object body.
func (c *Client) JSONOf(resp *http.Response, status int) map[string]any {
	c.TB.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.TB.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		c.TB.Fatalf("%s: body is not a JSON object: %v: %.300s", resp.Request.URL.Path, err, b)
	}
	return m
}

// WantError checks a 4xx JSON error with a code and a message naming field.
func (c *Client) WantError(resp *http.Response, status int, field string) map[string]any {
	c.TB.Helper()
	m := c.JSONOf(resp, status)
	er, ok := m["error"].(map[string]any)
	if !ok {
		c.TB.Fatalf("%s: no error object: %v", resp.Request.URL.Path, m)
	}
	if er["field"] != field {
		c.TB.Fatalf("%s %s: error field %v, want %q (%v)", resp.Request.Method, resp.Request.URL.Path, er["field"], field, er["message"])
	}
	if er["message"] == "" || er["code"] == nil {
		c.TB.Fatalf("error without code or message: %v", er)
	}
	return er
}

// StoreChecksum hashes every feature, attachment and the change log of db
// as seen through geodb.
func StoreChecksum(tb testing.TB, db *geodb.DB) string {
	tb.Helper()
	ctx := tb.Context()
	h := sha256.New()
	for _, t := range db.Tables() {
		fs, err := db.Features(ctx, geodb.Query{LayerID: t.LayerID, OrderBy: []string{t.OIDCol}})
		if err != nil {
			tb.Fatal(err)
		}
		json.NewEncoder(h).Encode(fs)
		if t.AttachTable != "" {
			as, err := db.Attachments(ctx, t.LayerID, "")
			if err != nil {
				tb.Fatal(err)
			}
			json.NewEncoder(h).Encode(as)
		}
	}
	seq, _ := db.LastChangeSeq(ctx)
	pend, _ := db.PendingChanges(ctx)
	fmt.Fprint(h, seq, pend)
	return hex.EncodeToString(h.Sum(nil))
}

// FirstFeature returns the global id and object id of the first feature
// (by object id) of layer 0 of db.
func FirstFeature(tb testing.TB, db *geodb.DB) (string, int64) {
	tb.Helper()
	t := db.TableByID(0)
	var gid string
	var oid int64
	err := db.Each(tb.Context(), geodb.Query{LayerID: 0, Limit: 1, OrderBy: []string{t.OIDCol}}, func(r *geodb.Row) error {
		gid, _ = r.Attributes[t.GIDCol].(string)
		oid = r.OID
		return nil
	})
	if err != nil || gid == "" {
		tb.Fatalf("no feature in layer 0: %v", err)
	}
	return gid, oid
}

// Form encodes key, value pairs as a form body.
func Form(kv ...string) io.Reader {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode())
}
