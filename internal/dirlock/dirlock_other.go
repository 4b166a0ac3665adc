//go:build !(linux || android || darwin || freebsd || netbsd || openbsd || dragonfly)

package dirlock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Without flock, a lock is a file created exclusively and removed on
// Unlock; a crash leaves it behind and the error says which file to remove.

func lockDir(dir string) (*Lock, error) {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("lock %s: not a directory", dir)
	}
	// The marker sits next to the directory so its content stays the caller's.
	return lockFile(filepath.Clean(dir) + ".offlined-lock")
}

func lockFile(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, &LockedError{Path: path, PID: holderPID(path)}
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f, path: path, remove: true}, nil
}
