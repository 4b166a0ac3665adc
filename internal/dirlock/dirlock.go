// Package dirlock takes exclusive, advisory locks that keep two offlined
// processes (or two jobs in one) from writing the same package directory or
// data root at once. On Unix (Linux, Android, macOS, BSD) the lock is an
// flock(2), released by the kernel when its holder exits, so a crash never
// leaves a stale lock.
package dirlock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrLocked is wrapped by every refusal to take a lock another holder has.
var ErrLocked = errors.New("locked by another offlined process or job")

// LockedError names what is locked and, when known, by which process.
type LockedError struct {
	Path string // the locked directory or lock file
	PID  int    // the holder's process id; 0 when unknown
}

// Error implements error.
func (e *LockedError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("%s is in use by offlined process %d", e.Path, e.PID)
	}
	return fmt.Sprintf("%s is in use by another offlined process or job", e.Path)
}

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is a held lock; Unlock releases it.
type Lock struct {
	f      *os.File
	path   string
	remove bool // delete path on Unlock (lock-file fallback)
}

// Unlock releases the lock. It is safe to call more than once.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	if l.remove {
		os.Remove(l.path)
	}
	return f.Close()
}

// Dir locks the directory dir itself (no file is created in it), so the
// directory's content stays the caller's. dir must exist.
func Dir(dir string) (*Lock, error) {
	return lockDir(dir)
}

// File locks the file at path, creating it (mode 0600) when absent, and
// writes the caller's process id into it so a refused caller can name the
// holder.
func File(path string) (*Lock, error) {
	l, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	if err := l.f.Truncate(0); err == nil {
		l.f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return l, nil
}

// holderPID reads the process id a lock file holds (0 when unreadable).
func holderPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
