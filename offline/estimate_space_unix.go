//go:build linux || android || darwin || freebsd

package offline

import "golang.org/x/sys/unix"

// statfsFree returns the free bytes for unprivileged users on path's volume.
func statfsFree(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
