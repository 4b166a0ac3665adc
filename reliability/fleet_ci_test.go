package reliability

// CI subset of the fleet harness (issue 20): three devices, a short
// workload, one kill; then the checks, and the same checks against two
// deliberately broken outcomes to show they catch them. The full fleet is
// TestCampaignFleet (build tag reliability). FLEET_SEED picks another seed
// (default 1) for flake hunts: the seed fixes each device's operations, the
// kills and the link cuts; the process scheduling varies on its own.

import (
	"testing"
	"time"
)

func TestCIFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet of daemon subprocesses")
	}
	f := runFleet(t, fleetOptions{Devices: 3, OpsPerDevice: 25, Kills: 1, Seed: uint64(envInt("FLEET_SEED", 1)), SyncInterval: time.Second, OfficeEvery: 300 * time.Millisecond})
	checkFleet(t, f, true)
}
