// Package democlient makes the REST client tests use against the ArcGIS
// emulator: signed in as the demo user, with quick retries and polling.
// It does not import offline, so the offline package's own tests use it
// too (offlinetest.Client is the same client).
package democlient

import (
	"testing"
	"time"

	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/internal/emulator"
)

// New returns a client of the portal at portalURL signed in as the demo
// user, retrying 3 times within milliseconds and polling jobs every 2 ms;
// opts come after those and may replace them.
func New(tb testing.TB, portalURL string, opts ...arcgis.Option) *arcgis.Client {
	tb.Helper()
	c, err := arcgis.New(append([]arcgis.Option{
		arcgis.WithPortal(portalURL),
		arcgis.WithCredential(&arcgis.UserCredential{Username: emulator.DemoUser, Password: emulator.DemoPassword}),
		arcgis.WithRetryPolicy(arcgis.RetryPolicy{MaxAttempts: 3, InitialDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond, Multiplier: 2, MaxElapsed: 10 * time.Second}),
		arcgis.WithPollInterval(2 * time.Millisecond),
	}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
