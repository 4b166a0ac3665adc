package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// childResult is what TestSyncChild prints for its parent.
type childResult struct {
	Report  *Report `json:"report"`
	Err     string  `json:"err,omitempty"`
	WallMS  int64   `json:"wallMs"`
	PeakRSS int64   `json:"peakRssKB"`
}

// TestSyncChild runs one sync of a GeoPackage in a fresh process (so its
// peak RSS is the client's alone) and prints a childResult line.
func TestSyncChild(t *testing.T) {
	portal, path := os.Getenv("OFFLINED_SYNC_ONE_PORTAL"), os.Getenv("OFFLINED_SYNC_ONE_GPKG")
	if portal == "" {
		t.Skip("child of the bench and large-attachment tests")
	}
	ctx := context.Background()
	db, c := openChild(t, portal, path)
	if dir := os.Getenv("OFFLINED_SYNC_PROFILE"); dir != "" {
		pf, err := os.Create(filepath.Join(dir, "cpu.pprof"))
		if err == nil {
			_ = pprof.StartCPUProfile(pf)
			defer func() {
				pprof.StopCPUProfile()
				pf.Close()
				if hf, err := os.Create(filepath.Join(dir, "heap.pprof")); err == nil {
					_ = pprof.Lookup("allocs").WriteTo(hf, 0)
					hf.Close()
				}
			}()
		}
	}
	if dir := os.Getenv("OFFLINED_SYNC_PROFILE"); dir != "" {
		stop := make(chan struct{})
		defer close(stop)
		go func() { // heap profile at the peak of live heap
			var max uint64
			for {
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > max+max/10 {
					max = ms.HeapAlloc
					if hf, err := os.Create(filepath.Join(dir, "heap-peak.pprof")); err == nil {
						_ = pprof.Lookup("heap").WriteTo(hf, 0)
						hf.Close()
					}
				}
			}
		}()
	}
	start := time.Now()
	rep, err := New(db, c, Options{}).Sync(ctx)
	res := childResult{Report: rep, WallMS: time.Since(start).Milliseconds(), PeakRSS: peakRSS()}
	if err != nil {
		res.Err = err.Error()
	}
	b, _ := json.Marshal(res)
	fmt.Printf("CHILD-RESULT %s\n", b)
}

func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			n, _ := strconv.ParseInt(strings.Fields(strings.TrimPrefix(l, "VmHWM:"))[0], 10, 64)
			return n
		}
	}
	return 0
}

// syncInChild syncs f's GeoPackage in a re-exec'd test binary.
func syncInChild(t *testing.T, f *fixture) childResult {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestSyncChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "OFFLINED_SYNC_ONE_PORTAL="+f.em.PortalURL, "OFFLINED_SYNC_ONE_GPKG="+f.path)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "CHILD-RESULT "); ok {
			var r childResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				t.Fatal(err)
			}
			if r.Err != "" {
				t.Fatalf("child sync: %s", r.Err)
			}
			return r
		}
	}
	t.Fatalf("child printed no result:\n%s", out)
	return childResult{}
}
