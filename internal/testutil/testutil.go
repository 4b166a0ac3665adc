// Package testutil holds helpers shared by the tests of several packages.
package testutil

import (
	"testing"
	"time"
)

// Timeout bounds Eventually: long enough for a loaded two-core machine,
// short enough that a hang fails the test instead of the package.
const Timeout = 30 * time.Second

// Eventually polls cond until it returns true and fails the test, naming
// what it waited for, if that does not happen within Timeout. It is for
// state observed from outside (a server, a file, another process); code
// under test that can signal completion should be waited on directly.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	if !Poll(Timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", Timeout, what)
	}
}

// Poll calls cond every few milliseconds until it returns true (Poll
// returns true) or timeout passes (false).
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
		}
	}
}
