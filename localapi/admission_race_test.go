package localapi

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offlined/offlined/internal/testutil"
)

// A waiter admitted in the instant its wait is cancelled either keeps the
// slot (its request leaves it later) or hands it on to the next waiter: no
// slot is lost or counted twice. The hook makes both happen before the
// waiter's select, which then picks one of its two ready cases at random;
// the loop runs until it has seen both.
func TestAdmissionCancelRacesAdmit(t *testing.T) {
	var kept, handedOn int
	for i := 0; i < 200 && (kept == 0 || handedOn == 0); i++ {
		a := newAdmission(1)
		if err := a.enter(t.Context()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		aQueued, bQueued := make(chan struct{}), make(chan struct{})
		var calls atomic.Int32
		a.waiting = func() {
			switch calls.Add(1) {
			case 1: // A, first in the queue: once B waits behind it,
				close(aQueued)
				<-bQueued
				cancel()  // A's wait ends
				a.leave() // and the held slot goes to A
			case 2: // B
				close(bQueued)
			}
		}
		aDone, bDone := make(chan error, 1), make(chan error, 1)
		go func() { aDone <- a.enter(ctx) }()
		<-aQueued
		go func() { bDone <- a.enter(t.Context()) }()
		if err := <-aDone; err == nil { // A kept the slot; B gets it once A leaves
			kept++
			if n := a.held(); n != 1 {
				t.Fatalf("A admitted: %d slots held, want 1", n)
			}
			a.leave()
		} else {
			handedOn++
		}
		select {
		case err := <-bDone:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(testutil.Timeout):
			t.Fatal("the waiter behind was never admitted: the slot was lost")
		}
		if n := a.held(); n != 1 {
			t.Fatalf("B admitted: %d slots held, want 1", n)
		}
		a.leave()
		if n := a.held(); n != 0 || a.head != len(a.queue) {
			t.Fatalf("%d slots held, %d waiting at the end", n, len(a.queue)-a.head)
		}
	}
	if kept == 0 || handedOn == 0 {
		t.Fatalf("the admitted, cancelled waiter kept its slot %d times and handed it on %d times: want both", kept, handedOn)
	}
}
