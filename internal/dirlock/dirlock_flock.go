//go:build linux || android || darwin || freebsd || netbsd || openbsd || dragonfly

package dirlock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

func flock(f *os.File, path string) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return &LockedError{Path: path}
		}
		if err != nil {
			return fmt.Errorf("lock %s: %w", path, err)
		}
		return nil
	}
}

func lockDir(dir string) (*Lock, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := flock(f, dir); err != nil {
		f.Close()
		return nil, err
	}
	return &Lock{f: f, path: dir}, nil
}

func lockFile(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := flock(f, path); err != nil {
		f.Close()
		var le *LockedError
		if errors.As(err, &le) {
			le.PID = holderPID(path)
		}
		return nil, err
	}
	return &Lock{f: f, path: path}, nil
}
