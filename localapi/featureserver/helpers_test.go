package featureserver_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/daemon"
	"github.com/offlined/offlined/internal/testutil"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/localapi/featureserver"
	"github.com/offlined/offlined/localapi/localapitest"
	"github.com/offlined/offlined/offline/offlinetest"
)

const testToken = localapitest.Token

// template is the demo Field Survey web map (two feature services:
// Field_Survey and Reference_Data) taken offline from the emulator by an
// offline job, once by TestMain (read-only).
var template localapitest.Template

func TestMain(m *testing.M) { localapitest.RunWithTemplate(m, &template, offlinetest.Options{}) }

// env is the local API with the FeatureServer-compatible routes over a
// data root holding one offline map "demo", a copy of the template.
type env struct {
	*localapitest.Client
	t    *testing.T
	maps localapi.Maps
	logs *testutil.SyncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	root := t.TempDir()
	template.CopyTo(t, filepath.Join(root, "packages", localapitest.MapID))
	logs := &testutil.SyncBuffer{}
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
	hs := httptest.NewServer(api)
	t.Cleanup(hs.Close)
	return &env{Client: &localapitest.Client{TB: t, URL: hs.URL, HTTP: http.DefaultClient}, t: t, maps: reg, logs: logs}
}

// store returns the demo map's Field_Survey feature store.
func (e *env) store() *geodb.DB {
	e.t.Helper()
	db, err := e.maps.FeatureStore(e.t.Context(), localapitest.MapID, localapitest.Service)
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}
