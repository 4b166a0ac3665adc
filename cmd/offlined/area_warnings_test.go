package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/emulator"
)

// offlined capabilities -bbox and offlined estimate say when the area lies
// outside a layer's extent, per layer (issue 15 item 3).
func TestCLIAreaOutsideExtentWarned(t *testing.T) {
	em := startEmulator(t)
	t.Setenv("OFFLINED_PASSWORD", emulator.DemoPassword)
	far := "-100.2,40.0,-100.1,40.1"
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"capabilities", "-portal", em.PortalURL, "-item", emulator.DemoWebMapFieldSurveyID, "-user", emulator.DemoUser, "-bbox", far}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "warning (areaOutsideExtent)") || !strings.Contains(out.String(), "Inspections") {
		t.Errorf("capabilities -bbox far: %s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"capabilities", "-portal", em.PortalURL, "-item", emulator.DemoWebMapFieldSurveyID, "-user", emulator.DemoUser, "-bbox", "-117.2,34.0,-117.15,34.05"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if strings.Contains(out.String(), "warning") {
		t.Errorf("capabilities over the demo area warn: %s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"estimate", "--portal", em.PortalURL, "--item", emulator.DemoWebMapFieldSurveyID, "--user", emulator.DemoUser,
		"--bbox", far, "--min-scale", "150000", "--max-scale", "140000", "--online-only", "include"}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if n := strings.Count(out.String(), "warning (areaOutsideExtent)"); n == 0 {
		t.Errorf("estimate over a far area: no warning: %s", out.String())
	}
}
