package offlinetest

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
)

// Names in the package DemoOptions builds.
const (
	// DemoService is its one feature service (a replica, store
	// data/Field_Survey.gpkg); layer 0 is Inspections.
	DemoService = "Field_Survey"
	// DemoBasemap is its raster tile layer (tiles/Demo_Basemap.mbtiles).
	DemoBasemap = "Demo_Basemap"
	// DemoVector is its vector tile layer, with its style resources
	// (tiles/Demo_Vector.mbtiles and tiles/Demo_Vector/resources).
	DemoVector = "Demo_Vector"
)

// DemoOptions builds the one-service demo package the local API tests
// address: the Field Survey web map with only the Field_Survey replica
// (attachments synced both ways), the Demo_Basemap raster tiles and the
// Demo_Vector vector tiles (the Reference_Data snapshot and the open XYZ
// layer are left out of the overrides).
func DemoOptions() Options {
	return Options{Overrides: func(o *offline.Overrides) {
		for k, g := range o.GenerateGeodatabase {
			if serviceName(g.ServiceURL) != DemoService {
				delete(o.GenerateGeodatabase, k)
				continue
			}
			g.AttachmentSyncDirection = offline.AttachmentSyncBidirectional
		}
		for k := range o.WebTiles {
			delete(o.WebTiles, k)
		}
	}}
}

// serviceName is the folder-less name of an ArcGIS service URL
// (…/services/<name>/FeatureServer).
func serviceName(svcURL string) string {
	u, err := url.Parse(svcURL)
	if err != nil {
		return ""
	}
	return path.Base(path.Dir(strings.TrimSuffix(u.Path, "/")))
}

// BuildTemplate builds a package into dir with its own emulator, outside
// any test: for a TestMain that builds one template per test binary and
// lets each test copy it (CopyDir).
func BuildTemplate(dir string, opt Options) (res *offline.Result, err error) {
	tb := &mainTB{}
	defer func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
		if r := recover(); r != nil {
			if f, ok := r.(mainFailure); ok {
				res, err = nil, fmt.Errorf("build template package %s: %s", dir, string(f))
				return
			}
			panic(r)
		}
	}()
	em := emulatortest.Start(tb, emulator.Options{})
	opt.Dir = dir
	return BuildPackage(tb, em, opt), nil
}

// mainTB is the testing.TB BuildTemplate hands to BuildPackage: failures
// panic (recovered into an error), cleanups run when the build ends. Only
// the methods BuildPackage and emulatortest.Start call are implemented.
type mainTB struct {
	testing.TB
	cleanups []func()
}

type mainFailure string

func (*mainTB) Helper()                      {}
func (t *mainTB) Cleanup(f func())           { t.cleanups = append(t.cleanups, f) }
func (*mainTB) Fatal(args ...any)            { panic(mainFailure(fmt.Sprint(args...))) }
func (*mainTB) Fatalf(f string, a ...any)    { panic(mainFailure(fmt.Sprintf(f, a...))) }
func (*mainTB) TempDir() string              { panic(mainFailure("BuildTemplate needs a package directory")) }
func (*mainTB) Logf(format string, a ...any) {}

// CopyDir copies a package directory (a template) to dst.
func CopyDir(tb testing.TB, src, dst string) {
	tb.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		tb.Fatalf("copy package %s: %v", src, err)
	}
}
