package testutil

import (
	"testing"
	"time"
)

func TestPoll(t *testing.T) {
	n := 0
	if !Poll(time.Minute, func() bool { n++; return n == 3 }) || n != 3 {
		t.Errorf("Poll stopped after %d calls, want 3", n)
	}
	if Poll(20*time.Millisecond, func() bool { return false }) {
		t.Error("Poll of a condition that never holds returned true")
	}
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = format
}

func TestEventuallyPassesWhenTrue(t *testing.T) {
	r := &fatalRecorder{TB: t}
	Eventually(r, "ready", func() bool { return true })
	if r.msg != "" {
		t.Errorf("Eventually failed: %s", r.msg)
	}
}
