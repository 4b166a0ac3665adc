package geodb

import (
	"errors"
	"fmt"
	"syscall"

	"modernc.org/sqlite"
)

// ErrStorageFull is wrapped by write errors caused by a full disk
// (SQLITE_FULL, ENOSPC) or a database that reached its size limit. The
// write was rolled back; it can succeed once space is freed.
var ErrStorageFull = errors.New("storage full")

const (
	sqliteFull  = 13 // SQLITE_FULL (primary result code)
	sqliteIOErr = 10 // SQLITE_IOERR; extended codes keep it in the low byte
)

// isStorageFull reports whether err comes from a full disk or database.
func isStorageFull(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrStorageFull) || errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()&0xff == sqliteFull
	}
	return false
}

// storageErr wraps err with ErrStorageFull when the disk or database is
// full, and returns it unchanged otherwise.
func storageErr(err error) error {
	if err == nil || errors.Is(err, ErrStorageFull) || !isStorageFull(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorageFull, err)
}
