package sync

import (
	"errors"
	"io"
	"net"
	"syscall"
)

// errAfterSend marks failures after the server accepted a sync request
// (job polling, result download): what it applied is unknown.
var errAfterSend = errors.New("sync answer lost after the server accepted the request")

// isNetErr reports a transport failure (no answer, or a broken one).
func isNetErr(err error) bool {
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
