package arcgis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error is an ArcGIS error body, {"error":{"code","message","details",
// "messageCode"}}, or the OAuth2 variant with "error_description". ArcGIS
// usually sends it with HTTP 200; HTTPStatus records the status it came
// with.
type Error struct {
	Code        int
	Message     string
	Details     []string
	MessageCode string
	// HTTPStatus is the HTTP status of the response that carried the body.
	HTTPStatus int
	// URL is the request URL without its query (so no token leaks into logs).
	URL string
}

// Error formats the code, message and details.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("arcgis error ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.MessageCode != "" {
		b.WriteString(" (" + e.MessageCode + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	var extra []string
	for _, d := range e.Details {
		if d != "" && d != e.Message {
			extra = append(extra, d)
		}
	}
	if len(extra) > 0 {
		b.WriteString(" [" + strings.Join(extra, "; ") + "]")
	}
	if e.URL != "" {
		b.WriteString(" (" + e.URL + ")")
	}
	return b.String()
}

// IsAuth reports an invalid/expired token (498), a missing token (499) or
// an HTTP 401.
func (e *Error) IsAuth() bool {
	return e.Code == 498 || e.Code == 499 || e.Code == 401 || e.HTTPStatus == 401
}

// IsForbidden reports a permission error (403).
func (e *Error) IsForbidden() bool { return e.Code == 403 }

// IsNotFound reports a missing resource (404), including ArcGIS's
// "Item does not exist or is inaccessible" and "Layer not found" (400 with
// that message or detail).
func (e *Error) IsNotFound() bool {
	if e.Code == 404 || e.HTTPStatus == 404 {
		return true
	}
	if e.Code != 400 {
		return false
	}
	for _, m := range append([]string{e.Message}, e.Details...) {
		m = strings.ToLower(m)
		if strings.Contains(m, "does not exist") || strings.Contains(m, "not found") {
			return true
		}
	}
	return false
}

// IsRetryable reports a transient server condition (429, 5xx).
func (e *Error) IsRetryable() bool {
	return e.Code == 429 || (e.Code >= 500 && e.Code <= 599)
}

// IsAuth reports whether err carries an ArcGIS authentication error (498,
// 499, 401).
func IsAuth(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.IsAuth()
	}
	var h *HTTPError
	return errors.As(err, &h) && h.StatusCode == 401
}

// IsNotFound reports whether err says the resource does not exist (ArcGIS
// error 404, HTTP 404, or a missing tile).
func IsNotFound(err error) bool {
	var e *Error
	if errors.As(err, &e) && e.IsNotFound() {
		return true
	}
	var h *HTTPError
	if errors.As(err, &h) && h.StatusCode == 404 {
		return true
	}
	var t *TileAbsentError
	return errors.As(err, &t)
}

// IsForbidden reports whether err is a permission error (403).
func IsForbidden(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.IsForbidden() || e.HTTPStatus == 403
	}
	var h *HTTPError
	return errors.As(err, &h) && h.StatusCode == 403
}

// HTTPError is a non-2xx response whose body is not an ArcGIS error.
type HTTPError struct {
	StatusCode int
	Status     string
	URL        string
	// Body holds the first bytes of the response body.
	Body string
}

// Error formats the status and URL.
func (e *HTTPError) Error() string {
	s := fmt.Sprintf("http %s from %s", e.Status, e.URL)
	if t := bodyText(e.Body); t != "" {
		s += ": " + t
	}
	return s
}

// bodyText is what an error message shows of a response body: an HTML
// page (a web server's error page) by its title or first heading, never
// its markup; other bodies as they are.
func bodyText(b string) string {
	l := strings.ToLower(b)
	if !strings.HasPrefix(strings.TrimSpace(l), "<!doctype html") && !strings.HasPrefix(strings.TrimSpace(l), "<html") {
		return b
	}
	for _, tag := range []string{"title", "h1"} {
		if i := strings.Index(l, "<"+tag); i >= 0 {
			if j := strings.Index(l[i:], ">"); j >= 0 {
				rest := b[i+j+1:]
				if k := strings.Index(strings.ToLower(rest), "</"+tag); k >= 0 {
					if t := strings.Join(strings.Fields(rest[:k]), " "); t != "" {
						return "an HTML page (" + t + "), not an ArcGIS answer: check the URL"
					}
				}
			}
		}
	}
	return "an HTML page, not an ArcGIS answer: check the URL"
}

// UnexpectedResponseError is a successful HTTP response whose body does not
// have the shape the operation answers with, e.g. createReplica answered
// with the layer JSON by a server that does not support it.
type UnexpectedResponseError struct {
	Op   string // operation, e.g. "createReplica"
	URL  string
	Want string // what was expected, e.g. "replica JSON, responseUrl or statusUrl"
	// Body holds the first bytes of the body.
	Body string
}

// Error describes what was expected and what came.
func (e *UnexpectedResponseError) Error() string {
	return fmt.Sprintf("%s %s: unexpected response (want %s): %s", e.Op, e.URL, e.Want, e.Body)
}

// RetryError is returned when a request kept failing with retryable errors
// until the retry policy gave up.
type RetryError struct {
	Attempts int
	// Last is the error of the final attempt.
	Last error
}

// Error names the attempt count and the last error.
func (e *RetryError) Error() string {
	return fmt.Sprintf("giving up after %d attempts: %v", e.Attempts, e.Last)
}

// Unwrap returns the last error.
func (e *RetryError) Unwrap() error { return e.Last }

// TileAbsentError reports that a tile does not exist (HTTP 404 or 204, or
// an ArcGIS 404 body): the area is outside the cache, not a failure.
type TileAbsentError struct {
	URL        string
	StatusCode int
}

// Error names the tile URL.
func (e *TileAbsentError) Error() string {
	return fmt.Sprintf("tile absent (http %d): %s", e.StatusCode, e.URL)
}

// ErrTileAbsent matches any *TileAbsentError with errors.Is.
var ErrTileAbsent = errors.New("arcgis: tile absent")

// Is makes errors.Is(err, ErrTileAbsent) true.
func (e *TileAbsentError) Is(target error) bool { return target == ErrTileAbsent }

// ParseError decodes an ArcGIS error body. It reports ok=false when body is
// not an error body (including any body that is not a JSON object). It
// understands {"error":{...}}, the OAuth2 shapes
// {"error":"invalid_request","error_description":"…"} and
// {"error":{"code":498,"error":"invalid_request","error_description":"…"}},
// and failed portal task bodies {"status":"failed","statusMessage":"…"}.
func ParseError(body []byte) (*Error, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil, false
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, false
	}
	raw, has := top["error"]
	if !has {
		return parseTaskFailure(top)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	e := &Error{}
	switch raw[0] {
	case '"': // OAuth2: {"error":"invalid_grant","error_description":"…"}
		var kind string
		_ = json.Unmarshal(raw, &kind)
		e.MessageCode = kind
		e.Message = jsonString(top["error_description"])
		if e.Message == "" {
			e.Message = kind
		}
		e.Code = jsonInt(top["code"])
		if e.Code == 0 {
			e.Code = 400
		}
		return e, true
	case '{':
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(raw, &inner); err != nil {
			return nil, false
		}
		e.Code = jsonInt(inner["code"])
		e.Message = jsonString(inner["message"])
		e.MessageCode = jsonString(inner["messageCode"])
		if desc := jsonString(inner["error_description"]); desc != "" && e.Message == "" {
			e.Message = desc
		}
		if e.MessageCode == "" {
			e.MessageCode = jsonString(inner["error"])
		}
		if e.Message == "" {
			e.Message = jsonString(inner["description"])
		}
		e.Details = jsonStrings(inner["details"])
		if e.Code == 0 && e.Message == "" && len(e.Details) == 0 {
			return nil, false
		}
		return e, true
	}
	return nil, false
}

// parseTaskFailure reads {"status":"failed","statusMessage":"…"} whose
// statusMessage may itself be an encoded {"code","message"} object.
func parseTaskFailure(top map[string]json.RawMessage) (*Error, bool) {
	if !strings.EqualFold(jsonString(top["status"]), "failed") {
		return nil, false
	}
	msg := jsonString(top["statusMessage"])
	e := &Error{Code: 500, Message: msg}
	var inner struct {
		Code    json.RawMessage `json:"code"`
		Message string          `json:"message"`
	}
	if strings.HasPrefix(strings.TrimSpace(msg), "{") && json.Unmarshal([]byte(msg), &inner) == nil {
		if c := jsonInt(inner.Code); c != 0 {
			e.Code = c
		}
		if inner.Message != "" {
			e.Message = inner.Message
		}
	}
	return e, true
}

// jsonInt reads a number or a numeric string; anything else is 0.
func jsonInt(raw json.RawMessage) int {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	if s == "" {
		return 0
	}
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f >= -1e9 && f <= 1e9 {
		return int(f)
	}
	return 0
}

// jsonString reads a string; other JSON values are rendered as text.
func jsonString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// jsonStrings reads details: an array of strings (other items rendered as
// JSON text), or a single string.
func jsonStrings(raw json.RawMessage) []string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		if s := jsonString(raw); s != "" {
			return []string{s}
		}
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s := jsonString(it); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// snippet returns at most 200 bytes of body for error messages.
func snippet(body []byte) string {
	const max = 200
	s := strings.TrimSpace(string(body))
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// ResponseTooLargeError is returned when a server answer read into memory
// exceeds the client's cap (WithMaxResponseBytes). It is not retried.
type ResponseTooLargeError struct {
	Op    string
	URL   string // without query (no token)
	Limit int64
}

func (e *ResponseTooLargeError) Error() string {
	return fmt.Sprintf("%s %s: answer larger than %d bytes; refused (raise the response limit if the server is trusted)", e.Op, e.URL, e.Limit)
}
