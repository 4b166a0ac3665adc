// Package atomicfile replaces files durably: readers see the old file or
// the whole new one, and after a power cut the new one or the old one,
// never an empty or partial file.
//
// A write goes to a temporary file in the destination's directory, which
// is synced, renamed over the destination and then the directory is synced
// so the rename itself is on disk.
package atomicfile

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// WriteFile writes data to path with permissions perm, atomically and
// durably.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	_, err := WriteFrom(path, bytes.NewReader(data), perm)
	return err
}

// WriteFrom copies r to path with permissions perm, atomically and durably,
// and returns the number of bytes written. On error path is unchanged and
// no temporary file is left.
func WriteFrom(path string, r io.Reader, perm os.FileMode) (n int64, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if n, err = io.Copy(f, r); err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return n, fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	return n, SyncDir(filepath.Dir(path))
}

// Replace durably renames the finished file tmp (written by the caller,
// for example a resumable download) over path: tmp is synced, renamed and
// the directory synced.
func Replace(tmp, path string) error {
	f, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("replace %s: sync: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir syncs directory dir so renames and creations in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// IsTemp reports whether the directory entry name is a temporary file left
// by an interrupted write of the file named base in the same directory
// (by this package, or base+".tmp" as earlier versions wrote).
func IsTemp(name, base string) bool {
	return name == base+".tmp" || strings.HasPrefix(name, "."+base+".tmp")
}
