package sync

import (
	"os"
	"time"
)

// fileStamp is what the file system says of a GeoPackage and its -wal:
// size and modification time of each. A write by anyone changes it; the
// scheduler takes one after its own writes, so a file event that finds the
// files unchanged since then was caused by those writes (a sync's status
// bookkeeping), not by another process.
type fileStamp [2]struct {
	size  int64
	mtime time.Time
}

// stampOf reads the stamp of the GeoPackage at path (a missing file reads
// as zero).
func stampOf(path string) fileStamp {
	var s fileStamp
	for i, p := range [...]string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			s[i].size, s[i].mtime = fi.Size(), fi.ModTime()
		}
	}
	return s
}

// same reports whether a and b describe the same files.
func (a fileStamp) same(b fileStamp) bool {
	for i := range a {
		if a[i].size != b[i].size || !a[i].mtime.Equal(b[i].mtime) {
			return false
		}
	}
	return true
}
