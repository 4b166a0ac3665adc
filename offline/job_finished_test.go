package offline

import (
	"path/filepath"
	"testing"
)

// A kill after the job wrote its manifest and removed its journal leaves
// the finished package and nothing else: the same job run again has nothing
// left to do and succeeds without a server request for data (the crash
// loop's take-offline was refused the directory as not empty). Another
// area of interest is still refused.
func TestJobRerunOnFinishedPackage(t *testing.T) {
	e, p, o := newDemoJobEnv(t)
	dir := filepath.Join(t.TempDir(), "pkg")
	first, err := e.run(t, p, o, dir)
	if err != nil {
		t.Fatal(err)
	}
	e.em.Log().Reset()
	again, err := e.run(t, p, o, dir)
	if err != nil {
		t.Fatalf("the same job on its finished package: %v", err)
	}
	if again.State != JobSucceeded || again.Manifest == nil || again.Manifest.ID != first.Manifest.ID {
		t.Errorf("rerun result %+v, want the finished package %s", again, first.Manifest.ID)
	}
	for _, path := range []string{"/createReplica", "/replicafiles/", "/tile/", "/query"} {
		if n := e.em.Log().Count(path); n != 0 {
			t.Errorf("rerun sent %d %s requests", n, path)
		}
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}

	other := *p
	other.AreaOfInterest = wgs84Box(-117.2, 34.0, -117.19, 34.01)
	if _, err := e.run(t, &other, o, dir); !HasCode(err, ErrTargetNotEmpty) {
		t.Errorf("another area into the finished package: %v, want %s", err, ErrTargetNotEmpty)
	}
}
