package localapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/offlined/offlined/geodb"
	"github.com/offlined/offlined/internal/arcgis"
)

// Error is an API error: the HTTP status and the body
// {"error":{"code","message","field"}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	// ArcGISCode, when set, is the numeric code the ArcGIS-compatible
	// routes answer instead of the HTTP status (498 invalid token, 499
	// token required).
	ArcGISCode int `json:"-"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return e.Code + ": " + e.Message
}

// ErrNotFound is wrapped by lookups of maps, layers, features, jobs and
// conflicts that do not exist.
var ErrNotFound = errors.New("not found")

// ErrUnavailable is returned by the parts of the API whose backing service
// is not configured (for example no portal credentials).
var ErrUnavailable = errors.New("not available")

// isBroken reports whether err is the 409 brokenPackage of a package file
// that cannot be used.
func isBroken(err error) bool {
	var ae *Error
	return errors.As(err, &ae) && ae.Code == "brokenPackage"
}

// brokenMap is the 409 brokenPackage for a map whose feature stores are all
// unusable.
func brokenMap(mi MapInfo) *Error {
	msg := fmt.Sprintf("map %q cannot be used", mi.ID)
	if len(mi.Problems) > 0 {
		msg = mi.Problems[0]
	}
	return &Error{Status: http.StatusConflict, Code: "brokenPackage", Field: "map", Message: msg}
}

func badRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "invalidParameter", Field: field, Message: fmt.Sprintf(format, args...)}
}

func notFound(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusNotFound, Code: "notFound", Field: field, Message: fmt.Sprintf(format, args...)}
}

// toAPIError maps an error from a backing package to an API error.
func toAPIError(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var fe *geodb.FieldError
	if errors.As(err, &fe) {
		code := "invalidField"
		for _, c := range fieldErrorCodes {
			if errors.Is(fe.Reason, c.reason) {
				code = c.code
				break
			}
		}
		return &Error{Status: http.StatusUnprocessableEntity, Code: code, Field: fe.Field, Message: fe.Error()}
	}
	var aerr *arcgis.Error
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, geodb.ErrNoFeature), errors.Is(err, geodb.ErrNoAttachment), errors.Is(err, geodb.ErrNoLayer):
		return &Error{Status: http.StatusNotFound, Code: "notFound", Message: err.Error()}
	case errors.Is(err, geodb.ErrWhere):
		return &Error{Status: http.StatusBadRequest, Code: "invalidParameter", Field: "where", Message: err.Error()}
	case errors.Is(err, geodb.ErrBadGeometry):
		return &Error{Status: http.StatusUnprocessableEntity, Code: "invalidGeometry", Field: "geometry", Message: err.Error()}
	case errors.Is(err, geodb.ErrTooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "tooLarge", Message: err.Error()}
	case errors.Is(err, geodb.ErrStorageFull):
		return &Error{Status: http.StatusInsufficientStorage, Code: "storageFull", Message: "the device's storage is full: free space and retry"}
	case errors.Is(err, geodb.ErrNoAttachments):
		return &Error{Status: http.StatusConflict, Code: "noAttachments", Message: err.Error()}
	case errors.Is(err, ErrUnavailable):
		return &Error{Status: http.StatusNotImplemented, Code: "notAvailable", Message: err.Error()}
	case errors.As(err, &aerr):
		if arcgis.IsAuth(err) {
			return &Error{Status: http.StatusBadGateway, Code: "portalAuth", Message: aerr.Message}
		}
		return &Error{Status: http.StatusBadGateway, Code: "portalError", Message: aerr.Message}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "tooLarge", Message: fmt.Sprintf("request body over %d bytes", mbe.Limit)}
	}
	if te := typedError(err); te != nil {
		return te
	}
	// The cause (which may name files by their absolute path) goes to the
	// daemon's log, not to the client.
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error (the daemon's log has the cause)"}
}

// writeError writes err as a JSON error body.
func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(ae.Status)
	json.NewEncoder(w).Encode(map[string]*Error{"error": ae})
}

// respond returns err when it is set, and otherwise writes v with status:
// the end of a handler whose last call gave v, err.
func respond(w http.ResponseWriter, status int, v any, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

// writeJSON writes v with status 200.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// decodeBody decodes a JSON request body into v (unknown members refused).
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		var ae *Error
		if errors.As(err, &ae) {
			return ae // a field's own decoder named the field
		}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return badRequest(ute.Field, "wrong type for %s: %v", ute.Field, ute.Value)
		}
		return badRequest("body", "invalid JSON body: %v", err)
	}
	if dec.More() {
		return badRequest("body", "trailing data after the JSON body")
	}
	return nil
}

// fieldErrorCodes are the API error codes of geodb's field errors, by
// reason (the first match wins; others are "invalidField").
var fieldErrorCodes = []struct {
	reason error
	code   string
}{
	{geodb.ErrUnknownField, "unknownField"},
	{geodb.ErrType, "wrongType"},
	{geodb.ErrLength, "tooLong"},
	{geodb.ErrNull, "nullNotAllowed"},
	{geodb.ErrDomain, "outsideDomain"},
	{geodb.ErrReadOnly, "readOnlyField"},
}
