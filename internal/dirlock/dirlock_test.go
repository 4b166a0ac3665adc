package dirlock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDirExclusive(t *testing.T) {
	dir := t.TempDir()
	l, err := Dir(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dir(dir)
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Path != dir {
		t.Fatalf("second lock: %v, want a LockedError for %s", err, dir)
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Fatalf("lock left %d entries in the directory", len(names))
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	l2, err := Dir(dir)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	l2.Unlock()
}

func TestFileNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "offlined.lock")
	l, err := File(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	_, err = File(path)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() {
		t.Fatalf("second lock: %v, want holder pid %d", err, os.Getpid())
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode: %v %v", st, err)
	}
}
