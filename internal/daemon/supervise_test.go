package daemon

import (
	"context"
	"errors"
	"testing"
)

// A failing service stops the others (their context ends) and Supervise
// returns its error after every service has returned.
func TestSuperviseStopsAllOnFailure(t *testing.T) {
	boom := errors.New("listener closed")
	stopped := make(chan struct{})
	waiter := ServiceFunc(func(ctx context.Context) error {
		<-ctx.Done()
		close(stopped)
		return nil
	})
	failing := ServiceFunc(func(context.Context) error { return boom })
	if err := Supervise(t.Context(), waiter, failing); !errors.Is(err, boom) {
		t.Fatalf("Supervise: %v, want %v", err, boom)
	}
	select {
	case <-stopped:
	default:
		t.Fatal("Supervise returned before the other service stopped")
	}
}

// Canceling the context stops every service; Supervise returns nil.
func TestSuperviseStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	started := make(chan struct{}, 2)
	svc := ServiceFunc(func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		return nil
	})
	done := make(chan error, 1)
	go func() { done <- Supervise(ctx, svc, svc) }()
	for range 2 {
		<-started
		n++
	}
	cancel()
	if err := <-done; err != nil || n != 2 {
		t.Fatalf("Supervise after cancel: %v (%d started)", err, n)
	}
}
