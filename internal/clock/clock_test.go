package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	a := f.NewTimer(10 * time.Second)
	b := f.NewTimer(5 * time.Second)
	if f.Armed() != 2 {
		t.Fatalf("armed %d", f.Armed())
	}
	if d, ok := f.AdvanceToNext(); !ok || d != 5*time.Second {
		t.Fatalf("AdvanceToNext = %v %v", d, ok)
	}
	select {
	case at := <-b.C():
		if !at.Equal(start.Add(5 * time.Second)) {
			t.Errorf("fired at %v", at)
		}
	default:
		t.Fatal("b did not fire")
	}
	select {
	case <-a.C():
		t.Fatal("a fired early")
	default:
	}
	a.Stop()
	f.Advance(time.Hour)
	select {
	case <-a.C():
		t.Fatal("stopped timer fired")
	default:
	}
	if !f.Now().Equal(start.Add(time.Hour + 5*time.Second)) {
		t.Errorf("now %v", f.Now())
	}
	a.Reset(0)
	if _, ok := <-a.C(); !ok || f.Armed() != 0 {
		t.Error("Reset(0) did not fire at once")
	}
}

func TestRealTimer(t *testing.T) {
	tm := Real().NewTimer(time.Millisecond)
	<-tm.C()
	tm.Reset(time.Hour)
	tm.Stop()
}
