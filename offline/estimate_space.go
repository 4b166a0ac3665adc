package offline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// InsufficientSpaceError is the refusal of a job (or its stop between
// steps) when the volume of the package directory has less free space than
// the estimate of what is left to write plus a margin. The job wrote
// nothing (before starting) or stopped resumable (between steps).
type InsufficientSpaceError struct {
	Dir string
	// Needed is the estimate of what is left plus the margin; Free the
	// volume's free bytes.
	Needed, Free int64
}

func (e *InsufficientSpaceError) Error() string {
	return fmt.Sprintf("not enough free space for %s: about %s needed (estimate plus margin), %s free on its volume",
		e.Dir, HumanBytes(e.Needed), HumanBytes(e.Free))
}

// spaceMargin is the margin above the estimate: its high end, plus 10 %
// and 8 MB for SQLite journals and temporary files.
func spaceMargin(f Figure) int64 {
	return max(f.High, f.Bytes) + f.Bytes/10 + 8<<20
}

// FreeSpace returns the bytes available to an unprivileged user on the
// volume holding dir (or its nearest existing parent).
func FreeSpace(dir string) (int64, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	for {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return 0, err
		}
		parent := filepath.Dir(d)
		if parent == d {
			return 0, fmt.Errorf("free space of %s: no existing parent", dir)
		}
		d = parent
	}
	n, err := statfsFree(d)
	if err != nil {
		return 0, fmt.Errorf("free space of %s: %w", d, err)
	}
	return n, nil
}

// errNoStatfs: the platform has no free space query (the check is skipped).
var errNoStatfs = errors.New("free space unknown on this platform")
