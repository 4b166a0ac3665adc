package localapi

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"

	"modernc.org/sqlite"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
	"github.com/offlined/offlined/offline"
	editsync "github.com/offlined/offlined/sync"
)

// SQLite primary result codes of a store another application holds.
const (
	sqliteBusy   = 5 // SQLITE_BUSY
	sqliteLocked = 6 // SQLITE_LOCKED
)

// typedError maps the conditions a user, another application or a remote
// server can cause to a typed 4xx/502/503/504; nil for real internal
// faults. The codes are listed in docs/localapi.md ("Error codes").
func typedError(err error) *Error {
	var (
		ve  *offline.ValidationError
		he  *arcgis.HTTPError
		ue  *arcgis.UnexpectedResponseError
		re  *arcgis.RetryError
		tl  *arcgis.ResponseTooLargeError
		se  *sqlite.Error
		ne  net.Error
		ope *net.OpError
	)
	switch {
	case errors.Is(err, editsync.ErrNeedsAuth), arcgis.IsForbidden(err):
		return &Error{Status: http.StatusForbidden, Code: "needsAuth", Message: err.Error()}
	case errors.Is(err, editsync.ErrBusy):
		return &Error{Status: http.StatusConflict, Code: "syncBusy", Message: "a sync of this map is already running; wait for it (sync/events) and retry"}
	case errors.As(err, &ve):
		return &Error{Status: http.StatusUnprocessableEntity, Code: string(ve.Code), Message: ve.Message}
	case errors.Is(err, geodb.ErrSchemaTooNew):
		return &Error{Status: http.StatusConflict, Code: "brokenPackage", Message: err.Error()}
	case errors.As(err, &tl):
		return &Error{Status: http.StatusBadGateway, Code: "serverAnswerTooLarge", Message: tl.Error()}
	case errors.As(err, &ue):
		return &Error{Status: http.StatusBadGateway, Code: "serverUnexpectedAnswer", Message: ue.Op + " " + ue.URL + ": unexpected answer (want " + ue.Want + ")"}
	case errors.As(err, &he):
		return &Error{Status: http.StatusBadGateway, Code: "serverError", Message: he.Error()}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Code: "timeout", Message: "the operation took too long"}
	case errors.Is(err, context.Canceled):
		// The client went away (or the daemon is stopping).
		return &Error{Status: http.StatusServiceUnavailable, Code: "canceled", Message: "the request was canceled"}
	case errors.As(err, &re), errors.As(err, &ope), errors.As(err, &ne):
		return &Error{Status: http.StatusServiceUnavailable, Code: "serverUnreachable", Message: "the server could not be reached: " + err.Error()}
	case errors.As(err, &se) && (se.Code()&0xff == sqliteBusy || se.Code()&0xff == sqliteLocked):
		return &Error{Status: http.StatusServiceUnavailable, Code: "storeBusy", Message: "another application holds the map's store; retry"}
	case errors.Is(err, fs.ErrNotExist):
		return &Error{Status: http.StatusConflict, Code: "brokenPackage", Message: "a file of the map's package is missing (removed while in use?)"}
	case errors.Is(err, fs.ErrPermission):
		return &Error{Status: http.StatusConflict, Code: "brokenPackage", Message: "a file of the map's package cannot be read or written (permissions)"}
	}
	return nil
}
