package localapi_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/offlined/offlined/internal/daemon"
	"github.com/offlined/offlined/localapi"
)

func init() {
	localapi.WatchTestDaemon = watchTestDaemon
}

func watchTestDaemon(t testing.TB, d *localapi.TestDaemon) {
	t.Helper()
	reg, ok := d.Maps.(*daemon.Registry)
	if !ok {
		t.Fatalf("test daemon's maps are a %T, not the daemon's registry", d.Maps)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- daemon.WatchPackages(ctx, reg, slog.New(slog.DiscardHandler), func() { close(started) })
	}()
	select {
	case <-started:
	case err := <-done:
		cancel()
		t.Fatalf("packages watcher: %v", err)
	}
	// Runs before the daemon's own clean-up (registered earlier), which
	// closes the registry.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}
