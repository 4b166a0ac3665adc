package offlinetest

import (
	"testing"

	"github.com/offlined/offlined/internal/emulator/emulatortest"
	"github.com/offlined/offlined/offline"
)

// OpenPackage builds a package (BuildPackage) and opens it.
func OpenPackage(tb testing.TB, em *emulatortest.Server, opt Options) (*offline.Result, *offline.Package) {
	tb.Helper()
	res := BuildPackage(tb, em, opt)
	pkg, err := offline.Open(res.Dir)
	if err != nil {
		tb.Fatal(err)
	}
	return res, pkg
}
