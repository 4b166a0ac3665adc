package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/offlined/offlined/internal/dirlock"
)

// A second serve on a data root in use is refused naming the holder, and
// leaves the first daemon's api-addr file in place.
func TestSecondServeRefused(t *testing.T) {
	root := t.TempDir()
	d := startDaemon(t, root)
	before, err := os.ReadFile(filepath.Join(root, AddrFile))
	if err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), []string{"serve", "-data", root, "-listen", "127.0.0.1:0"}, io.Discard, io.Discard)
	var le *dirlock.LockedError
	if !errors.Is(err, dirlock.ErrLocked) || !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second serve: %v, want a lock error naming pid %d", err, os.Getpid())
	}
	if !strings.HasPrefix(err.Error(), "-data ") || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Fatalf("message %q should name -data and the holder's pid", err)
	}
	after, err := os.ReadFile(filepath.Join(root, AddrFile))
	if err != nil || string(after) != string(before) {
		t.Fatalf("the first daemon's api-addr changed or vanished: %q %v", after, err)
	}
	if code, _ := d.api(t, "GET", "/api/v1/maps", nil); code != 200 {
		t.Fatalf("first daemon answers %d", code)
	}
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	// Released on exit: the data root can be served again.
	startDaemon(t, root).stop()
}
