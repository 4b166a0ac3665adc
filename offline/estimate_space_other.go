//go:build !(linux || android || darwin || freebsd)

package offline

// statfsFree has no implementation here: the free space check is skipped.
func statfsFree(string) (int64, error) { return 0, errNoStatfs }
