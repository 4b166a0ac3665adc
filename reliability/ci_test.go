package reliability

// CI subset of the reliability campaign: small, fast and robust under -race
// on a loaded machine. The full campaign is behind the "reliability" build
// tag (campaign_test.go); bench/reliability.sh runs it.

import (
	"testing"
	"time"
)

func TestCICrashLoopDownload(t *testing.T) {
	skipShort(t, "subprocess crash loop")
	// Kills land after the first quarter of the reference run's duration,
	// where the work is, or after the package is finished (the restart
	// returns it: offline's TestJobRerunOnFinishedPackage); the tagged
	// campaign kills anywhere.
	crashLoopDownload(t, 2, 2, 0.25, 1)
}

func TestCICrashLoopSync(t *testing.T) {
	skipShort(t, "subprocess crash loop")
	crashLoopSync(t, 3, 1)
}

func TestCIFaultMatrix(t *testing.T) {
	skipShort(t, "subprocess fault matrix")
	// One case of the matrix (deterministic); the tagged campaign runs all.
	var cases []faultCase
	for _, c := range faultMatrix(50 * time.Millisecond) {
		if c.name == "failing async job" {
			cases = append(cases, c)
		}
	}
	runFaultMatrix(t, cases)
}

func TestCIHostileInput(t *testing.T) {
	skipShort(t, "subprocess daemon")
	hostileInput(t, 500, 1)
}

func TestCIConcurrency(t *testing.T) {
	skipShort(t, "subprocess daemon")
	concurrentClients(t, 4, 20, false)
}

func TestCIHostileSecurity(t *testing.T) {
	skipShort(t, "subprocess daemon")
	hostileSecurity(t, 3, 64<<20, 100)
}
