//go:build reliability

package reliability

// The full fleet (issue 20). Run with
//
//	go test -tags reliability ./reliability/ -run TestCampaignFleet -v -timeout 2h
//
// Scale with FLEET_DEVICES (default 20), FLEET_OPS (operations per device,
// default 60), FLEET_KILLS (default devices/4), FLEET_SEED (default 42),
// FLEET_SYNC_INTERVAL_MS (background sync interval, default 2000).

import (
	"testing"
	"time"
)

func TestCampaignFleet(t *testing.T) {
	n := envInt("FLEET_DEVICES", 20)
	f := runFleet(t, fleetOptions{
		Devices: n, OpsPerDevice: envInt("FLEET_OPS", 60), Kills: envInt("FLEET_KILLS", max(1, n/4)), Seed: uint64(envInt("FLEET_SEED", 42)),
		SyncInterval: time.Duration(envInt("FLEET_SYNC_INTERVAL_MS", 2000)) * time.Millisecond, OfficeEvery: 200 * time.Millisecond,
	})
	checkFleet(t, f, envInt("FLEET_BROKEN", 0) > 0)
}
