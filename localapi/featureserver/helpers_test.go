package featureserver_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/daemon"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/localapi/featureserver"
	"github.com/offlined/offlined/offline/offlinetest"
)

const testToken = "test-token-0123456789abcdef"

// env is the local API with the FeatureServer-compatible routes over a
// data root holding one offline map "demo": the demo Field Survey web map
// taken offline from the emulator by an offline job.
type env struct {
	t    *testing.T
	hs   *httptest.Server
	maps localapi.Maps
	logs *syncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	em := emulatortest.Start(t, emulator.Options{})
	root := t.TempDir()
	offlinetest.BuildPackage(t, em, offlinetest.Options{Dir: filepath.Join(root, "packages", "demo"), Timeout: 4 * time.Minute}) // generous: several build at once under -race
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg, err := daemon.OpenRegistry(root, daemon.RegistryOptions{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	api, err := localapi.New(localapi.Options{Token: testToken, Maps: reg, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	featureserver.Register(api)
	e := &env{t: t, hs: httptest.NewServer(api), maps: reg, logs: logs}
	t.Cleanup(e.hs.Close)
	return e
}

// do sends an authenticated request; hdr are header name, value pairs.
func (e *env) do(method, path string, body io.Reader, hdr ...string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.hs.URL+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// jsonOf checks the status and decodes a JSON object body.
func (e *env) jsonOf(resp *http.Response, status int) map[string]any {
	e.t.Helper()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatalf("%s: body is not a JSON object: %v: %.300s", resp.Request.URL.Path, err, b)
	}
	return m
}

// wantError checks a 4xx ArcGIS-shaped error naming field.
func (e *env) wantError(resp *http.Response, status int, field string) map[string]any {
	e.t.Helper()
	m := e.jsonOf(resp, status)
	er, ok := m["error"].(map[string]any)
	if !ok {
		e.t.Fatalf("%s: no error object: %v", resp.Request.URL.Path, m)
	}
	if er["field"] != field {
		e.t.Fatalf("%s %s: error field %v, want %q (%v)", resp.Request.Method, resp.Request.URL.Path, er["field"], field, er["message"])
	}
	if er["message"] == "" || er["code"] == nil {
		e.t.Fatalf("error without code or message: %v", er)
	}
	return er
}

// store returns the demo map's Field_Survey feature store.
func (e *env) store() *geodb.DB {
	e.t.Helper()
	db, err := e.maps.FeatureStore(e.t.Context(), "demo", "Field_Survey")
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}

// storeChecksum hashes every feature, attachment and the change log of the
// demo map's GeoPackage as seen through geodb.
func (e *env) storeChecksum() string {
	e.t.Helper()
	ctx := e.t.Context()
	db := e.store()
	h := sha256.New()
	for _, tb := range db.Tables() {
		fs, err := db.Features(ctx, geodb.Query{LayerID: tb.LayerID, OrderBy: []string{tb.OIDCol}})
		if err != nil {
			e.t.Fatal(err)
		}
		json.NewEncoder(h).Encode(fs)
		if tb.AttachTable != "" {
			as, err := db.Attachments(ctx, tb.LayerID, "")
			if err != nil {
				e.t.Fatal(err)
			}
			json.NewEncoder(h).Encode(as)
		}
	}
	seq, _ := db.LastChangeSeq(ctx)
	pend, _ := db.PendingChanges(ctx)
	fmt.Fprint(h, seq, pend)
	return hex.EncodeToString(h.Sum(nil))
}

// firstFeature returns the global id and object id of layer 0's first
// feature.
func (e *env) firstFeature() (string, int64) {
	e.t.Helper()
	db := e.store()
	tb := db.TableByID(0)
	var gid string
	var oid int64
	err := db.Each(e.t.Context(), geodb.Query{LayerID: 0, Limit: 1, OrderBy: []string{tb.OIDCol}}, func(r *geodb.Row) error {
		gid, _ = r.Attributes[tb.GIDCol].(string)
		oid = r.OID
		return nil
	})
	if err != nil || gid == "" {
		e.t.Fatalf("no feature in layer 0: %v", err)
	}
	return gid, oid
}

// form encodes key, value pairs as a form body.
func form(kv ...string) io.Reader {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return strings.NewReader(v.Encode())
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
