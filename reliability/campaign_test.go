//go:build reliability

package reliability

// The full reliability campaign (issue 8). Run with bench/reliability.sh or
//
//	go test -tags reliability ./reliability/ -run Campaign -v -timeout 3h
//
// Scale with RELIABILITY_DOWNLOAD_RUNS (default 10; 100 for the long run),
// RELIABILITY_DOWNLOAD_KILLS (kills per run, default 3),
// RELIABILITY_SYNC_KILLS (default 30), RELIABILITY_HOSTILE (default 10000),
// RELIABILITY_LATENCY_MS (default 2000), RELIABILITY_CLIENTS (default 20).

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offlined/offlined/geodb"
)

func TestCampaignCrashLoopDownload(t *testing.T) {
	// Kill moments cover the whole run, including its first milliseconds.
	crashLoopDownload(t, envInt("RELIABILITY_DOWNLOAD_RUNS", 10), envInt("RELIABILITY_DOWNLOAD_KILLS", 3), 0, 42)
}

func TestCampaignCrashLoopSync(t *testing.T) {
	crashLoopSync(t, envInt("RELIABILITY_SYNC_KILLS", 30), 42)
}

func TestCampaignFaultMatrix(t *testing.T) {
	runFaultMatrix(t, faultMatrix(time.Duration(envInt("RELIABILITY_LATENCY_MS", 2000))*time.Millisecond))
}

func TestCampaignDiskFull(t *testing.T) {
	var fig diskFullFigures
	t.Run("download", func(t *testing.T) { diskFullDownload(t, []float64{0.05, 0.3, 0.6, 0.9}, &fig) })
	t.Run("sync", func(t *testing.T) { diskFullSync(t, []int64{16 << 10, 256 << 10, 1 << 20}, &fig) })
	t.Logf("disk full: download cases=%d clear errors=%d resumed=%d; sync cases=%d clear errors=%d resumed=%d; corrupted stores=%d",
		fig.DownloadCases, fig.DownloadClearErrors, fig.DownloadResumed, fig.SyncCases, fig.SyncClearErrors, fig.SyncResumed, fig.Corrupted)
}

func TestCampaignHostileInput(t *testing.T) {
	hostileInput(t, envInt("RELIABILITY_HOSTILE", 10000), 42)
}

func TestCampaignConcurrency(t *testing.T) {
	// The daemon is built with -race; run the test binary with -race too
	// (bench/reliability.sh does) so the emulator side is checked as well.
	concurrentClients(t, envInt("RELIABILITY_CLIENTS", 20), envInt("RELIABILITY_CLIENT_OPS", 100), true)
}

func TestCampaignEarlyKill(t *testing.T) {
	earlyKills(t, envInt("RELIABILITY_EARLY_KILLS", 20))
}

// TestCampaignOddPaths opens GeoPackages in directories whose names hold
// characters SQLite URIs reserve: '%' must work (a user's "10%20 survey"
// folder); '?' and '#' work or are refused with geodb's documented error.
func TestCampaignOddPaths(t *testing.T) {
	for name, ok := range map[string]bool{"plain": true, "50% done": true, "10%20": true, "a%41b": true, "what?": false, "crew #7": false} {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		db, err := geodb.Open(context.Background(), filepath.Join(dir, "x.gpkg"), geodb.Options{})
		switch {
		case ok && err != nil:
			t.Errorf("geodb.Open in %q: %v", name, err)
		case !ok && err != nil && !strings.Contains(err.Error(), "may not contain"):
			t.Errorf("geodb.Open in %q: want success or the documented refusal, got %v", name, err)
		}
		if db != nil {
			db.Close()
		}
	}
}

func TestCampaignHostileSecurity(t *testing.T) {
	hostileSecurity(t, envInt("RELIABILITY_PREAUTH_BODIES", 3), int64(envInt("RELIABILITY_PREAUTH_MB", 250))<<20, envInt("RELIABILITY_SLOW_BODIES", 1100))
}
