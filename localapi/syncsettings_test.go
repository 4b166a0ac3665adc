package localapi

import (
	"encoding/json"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/testutil"
)

// serverAttr returns one attribute of a server feature by OBJECTID.
func (e *env) serverAttr(oid int64, field string) any {
	e.t.Helper()
	fs, err := e.client.Query(e.t.Context(), arcgis.LayerURL(e.svcURL, 0), arcgis.QueryParams{ObjectIDs: []int64{oid}, OutFields: []string{field}})
	if err != nil || len(fs.Features) != 1 {
		e.t.Fatalf("server query of %d: %v %v", oid, fs, err)
	}
	return fs.Features[0].Attributes[field]
}

// newSyncEnv is an env with the sync service over a package built from
// its own emulator, and the GlobalID and object id of the first feature
// of layer 0.
func newSyncEnv(t *testing.T) (*env, string, int64) {
	t.Helper()
	e := newEnv(t, envOpts{withSyncer: true, fresh: true})
	gid, oid := e.firstFeature()
	return e, gid, oid
}

// deviceEdit sets attribute attr of feature gid of layer 0 through the
// local API, as an app on the device would.
func (e *env) deviceEdit(gid, attr string, v any) {
	e.t.Helper()
	body := mustJSON(map[string]any{"type": "Feature", "properties": map[string]any{attr: v}})
	e.jsonOf(e.do("PATCH", "/api/v1/maps/demo/layers/0/features/"+url.PathEscape(gid), strings.NewReader(body)), 200)
}

func (e *env) serverEdit(oid int64, kv ...any) {
	e.t.Helper()
	a := map[string]any{"OBJECTID": oid}
	for i := 0; i < len(kv); i += 2 {
		a[kv[i].(string)] = kv[i+1]
	}
	if _, err := e.client.ApplyEdits(e.t.Context(), arcgis.LayerURL(e.svcURL, 0), arcgis.ApplyEditsParams{Updates: []arcgis.Feature{{Attributes: a}}}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) localAttr(gid, field string) any {
	e.t.Helper()
	f := e.jsonOf(e.do("GET", "/api/v1/maps/demo/layers/0/features/"+url.PathEscape(gid), nil), 200)
	return f["properties"].(map[string]any)[field]
}

func (e *env) syncOK(body string) {
	e.t.Helper()
	var r *strings.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	var res map[string]any
	if r == nil {
		res = e.jsonOf(e.do("POST", "/api/v1/maps/demo/sync", nil), 200)
	} else {
		res = e.jsonOf(e.do("POST", "/api/v1/maps/demo/sync", r), 200)
	}
	if sv := res["services"].([]any)[0].(map[string]any); sv["error"] != nil {
		e.t.Fatalf("sync failed: %v", sv["error"])
	}
}

// Each case edits a field of a feature on the server and its Notes on the
// device, syncs over HTTP with the settings it chose, and checks both sides.
func TestSyncSettingsOverHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// patch is PATCHed to the map's sync settings first ("": none);
		// the response must show each of its members.
		patch string
		field string // the server's edit
		value any
		body  string // the sync request's body
		check func(t *testing.T, e *env, gid string, oid int64)
	}{
		// An upload-only map (chosen in the sync body) sends the device's
		// edit and leaves a server change on the server; the setting is kept.
		{name: "uploadOnly", field: "Depth", value: 4.25, body: `{"syncDirection":"uploadOnly"}`,
			check: func(t *testing.T, e *env, gid string, oid int64) {
				if got := e.serverAttr(oid, "Notes"); got != "device" {
					t.Errorf("device edit not uploaded: %v", got)
				}
				if got := e.localAttr(gid, "Depth"); got == 4.25 {
					t.Errorf("server change came down to an upload-only map")
				}
				s := e.jsonOf(e.do("GET", "/api/v1/maps/demo/sync/settings", nil), 200)
				if d := s["services"].(map[string]any)[svcName].(map[string]any)["syncDirection"]; d != "uploadOnly" {
					t.Errorf("setting not kept: %v", s)
				}
			}},
		// serverWins set per map keeps the server's value of a feature both
		// sides changed.
		{name: "serverWins", patch: `{"conflictPolicy":"serverWins","rollbackOnFailure":false}`, field: "Notes", value: "server",
			check: func(t *testing.T, e *env, gid string, oid int64) {
				if got := e.serverAttr(oid, "Notes"); got != "server" {
					t.Errorf("server value overwritten under serverWins: %v", got)
				}
				if got := e.localAttr(gid, "Notes"); got != "server" {
					t.Errorf("device keeps %v, want the server's value", got)
				}
			}},
		// fieldMerge keeps a server-side change of a field the device never
		// touched (whole-row lastSyncWins overwrote it).
		{name: "fieldMerge", field: "Depth", value: 8.5, body: `{"conflictPolicy":"fieldMerge"}`,
			check: func(t *testing.T, e *env, gid string, oid int64) {
				if got := e.serverAttr(oid, "Depth"); got != 8.5 {
					t.Errorf("server's Depth lost: %v", got)
				}
				if got := e.serverAttr(oid, "Notes"); got != "device" {
					t.Errorf("device's Notes not sent: %v", got)
				}
				if got := e.localAttr(gid, "Depth"); got != 8.5 {
					t.Errorf("device's Depth %v, want the server's 8.5", got)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e, gid, oid := newSyncEnv(t)
			if tc.patch != "" {
				s := e.jsonOf(e.do("PATCH", "/api/v1/maps/demo/sync/settings", strings.NewReader(tc.patch)), 200)
				set := s["services"].(map[string]any)[svcName].(map[string]any)
				var want map[string]any
				if err := json.Unmarshal([]byte(tc.patch), &want); err != nil {
					t.Fatal(err)
				}
				for k, v := range want {
					if set[k] != v {
						t.Fatalf("settings %v, want %s %v", s, k, v)
					}
				}
			}
			e.serverEdit(oid, tc.field, tc.value)
			e.deviceEdit(gid, "Notes", "device")
			e.syncOK(tc.body)
			tc.check(t, e, gid, oid)
		})
	}
}

func TestSyncSettingsErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOpts{withSyncer: true, fresh: true})
	for _, tc := range []struct{ body, field string }{
		{`{"conflictPolicy":"newestWins"}`, "conflictPolicy"},
		{`{"syncDirection":"sideways"}`, "syncDirection"},
		{`{"layerDirections":{"nope.0":"uploadOnly"}}`, "layerDirections.nope.0"},
		{`{"layerDirections":{"` + svcName + `.99":"uploadOnly"}}`, "layerDirections." + svcName + ".99"},
		{`{"rollbackOnFailure":"maybe"}`, "rollbackOnFailure"},
	} {
		e.wantError(e.do("PATCH", "/api/v1/maps/demo/sync/settings", strings.NewReader(tc.body)), 400, tc.field)
		e.wantError(e.do("POST", "/api/v1/maps/demo/sync", strings.NewReader(tc.body)), 400, tc.field)
	}
	e.wantError(e.do("GET", "/api/v1/maps/nope/sync/settings", nil), 404, "map")
	s := e.jsonOf(e.do("PATCH", "/api/v1/maps/demo/sync/settings", strings.NewReader(`{"layerDirections":{"`+svcName+`.1":"downloadOnly"}}`)), 200)
	if d := s["services"].(map[string]any)[svcName].(map[string]any)["layerDirections"].(map[string]any)["1"]; d != "downloadOnly" {
		t.Fatalf("layer direction %v", s)
	}
}

// readSSEUntil reads events up to and including the first of type last
// (failing the test when it does not come within testutil.Timeout).
func readSSEUntil(t *testing.T, r io.ReadCloser, last string) []sseEvent {
	t.Helper()
	got := make(chan []sseEvent, 1)
	go func() {
		got <- scanSSE(r, func(evs []sseEvent) bool { return evs[len(evs)-1].typ == last })
	}()
	select {
	case evs := <-got:
		return evs
	case <-time.After(testutil.Timeout):
		r.Close()
		t.Fatalf("no %s event within %v", last, testutil.Timeout)
		return nil
	}
}
