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
	"testing"
	"time"
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
