package main

import (
	"strings"
	"testing"
)

// offlined capabilities -bbox and offlined estimate say when the area lies
// outside a layer's extent, per layer (issue 15 item 3).
func TestCLIAreaOutsideExtentWarned(t *testing.T) {
	em := demoPortal(t)
	far := "-100.2,40.0,-100.1,40.1"
	for _, tc := range []struct {
		args []string
		warn bool
	}{
		{[]string{"capabilities", "-bbox", far}, true},
		{[]string{"capabilities", "-bbox", "-117.2,34.0,-117.15,34.05"}, false},
		{[]string{"estimate", "--bbox", far, "--min-scale", "150000", "--max-scale", "140000", "--online-only", "include"}, true},
	} {
		out := cli(t, demoCmd(em, tc.args[0], tc.args[1:]...)...)
		if tc.warn && (!strings.Contains(out, "warning (areaOutsideExtent)") || tc.args[0] == "capabilities" && !strings.Contains(out, "Inspections")) {
			t.Errorf("%v: no warning naming the layer: %s", tc.args, out)
		}
		if !tc.warn && strings.Contains(out, "warning") {
			t.Errorf("%v over the demo area warns: %s", tc.args, out)
		}
	}
}
