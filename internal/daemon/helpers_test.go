package daemon

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/localapi"
	"github.com/offlined/offlined/offline/offlinetest"
	editsync "github.com/offlined/offlined/sync"
)

// buildTimeout bounds a test's offline job: generous, as several run at
// once under -race on a loaded machine (the 60 s default was exceeded).
const buildTimeout = 4 * time.Minute

// testEnv is the daemon's state over a data root, against an emulator.
type testEnv struct {
	root   string
	em     *emulatortest.Server
	client *arcgis.Client
	svcURL string // the demo Field_Survey feature service
	reg    *Registry
	syncer *EngineSyncer
}

// newTestEnv opens the registry (with the unregister queue on the
// emulator) and a syncer; withMap first takes the demo web map offline
// into packages/demo with an offline job.
func newTestEnv(t *testing.T, withMap bool) *testEnv {
	t.Helper()
	e := &testEnv{root: t.TempDir(), em: emulatortest.Start(t, emulator.Options{})}
	e.client = offlinetest.Client(t, e.em)
	e.svcURL = e.em.ServicesURL + "/Field_Survey/FeatureServer"
	if withMap {
		offlinetest.BuildPackage(t, e.em, offlinetest.Options{Dir: filepath.Join(e.root, "packages", "demo"), Client: e.client, Timeout: buildTimeout})
	}
	log := slog.New(slog.DiscardHandler)
	reg, err := OpenRegistry(e.root, RegistryOptions{Logger: log, Unregister: editsync.OpenUnregisterQueue(filepath.Join(e.root, UnregisterFile), e.client)})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	e.syncer = NewEngineSyncer(t.Context(), reg, e.client, localapi.NewHub(0), log)
	t.Cleanup(func() {
		e.syncer.Wait()
		reg.Close()
	})
	return e
}
