package arcgis

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseErrorFixtures(t *testing.T) {
	var fx map[string]json.RawMessage
	if err := json.Unmarshal(readFixture(t, "errors-token.arcgis-rest-js.json"), &fx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key         string
		code        int
		message     string
		messageCode string
		details     []string
		auth        bool
	}{
		{"ArcGISOnlineAuthError", 498, "Invalid token.", "", nil, true},
		{"ArcGISServerTokenRequired", 499, "Token Required", "GWM_0003", []string{"Token Required"}, true},
		{"ArcGISOnlineError", 400, "'type' and 'title' property required.", "", nil, false},
		{"ArcGISOnlineErrorNoMessageCode", 403, "You do not have permissions to access this resource or perform this operation.", "", nil, false},
		{"GenerateTokenError", 400, "Unable to generate token.", "", []string{"Invalid username or password."}, false},
		{"RefreshTokenError", 498, "refresh_token expired", "invalid_request", nil, true},
		{"TaskError", 500, "failed", "", nil, false},
		{"TaskErrorWithJSON", 400, "Index was outside the bounds of the array.", "", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			e, ok := ParseError(fx[tt.key])
			if !ok {
				t.Fatalf("ParseError: not recognised as an error")
			}
			if e.Code != tt.code || e.Message != tt.message || e.MessageCode != tt.messageCode {
				t.Errorf("got code=%d message=%q messageCode=%q, want %d %q %q", e.Code, e.Message, e.MessageCode, tt.code, tt.message, tt.messageCode)
			}
			if len(e.Details) != len(tt.details) || (len(tt.details) > 0 && e.Details[0] != tt.details[0]) {
				t.Errorf("details = %q, want %q", e.Details, tt.details)
			}
			if e.IsAuth() != tt.auth {
				t.Errorf("IsAuth = %v, want %v", e.IsAuth(), tt.auth)
			}
			if !strings.Contains(e.Error(), tt.message) {
				t.Errorf("Error() = %q does not contain the message", e.Error())
			}
		})
	}
}

func TestParseErrorShapes(t *testing.T) {
	tests := []struct {
		name string
		body string
		ok   bool
		code int
		msg  string
	}{
		{"oauth top-level", `{"error":"invalid_grant","error_description":"Invalid refresh_token"}`, true, 400, "Invalid refresh_token"},
		{"string code", `{"error":{"code":"500","message":"boom"}}`, true, 500, "boom"},
		{"details string", `{"error":{"code":404,"message":"Item does not exist","details":"x"}}`, true, 404, "Item does not exist"},
		{"layer json", `{"id":0,"name":"Inspections","fields":[]}`, false, 0, ""},
		{"array", `[{"replicaID":"x"}]`, false, 0, ""},
		{"garbage", `<html>oops</html>`, false, 0, ""},
		{"null error", `{"error":null,"x":1}`, false, 0, ""},
		{"empty error object", `{"error":{}}`, false, 0, ""},
		{"success status", `{"status":"Completed"}`, false, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := ParseError([]byte(tt.body))
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tt.ok, e)
			}
			if ok && (e.Code != tt.code || e.Message != tt.msg) {
				t.Errorf("got %d %q, want %d %q", e.Code, e.Message, tt.code, tt.msg)
			}
		})
	}
}

func TestErrorHelpers(t *testing.T) {
	notFound := error(&Error{Code: 400, Message: "Item does not exist or is inaccessible."})
	if !IsNotFound(notFound) {
		t.Error("IsNotFound(item does not exist) = false")
	}
	if !IsNotFound(&Error{Code: 400, Message: "Invalid or missing input parameters.", Details: []string{"Layer not found"}}) {
		t.Error("IsNotFound(400 with detail Layer not found) = false")
	}
	if IsNotFound(&Error{Code: 400, Message: "Invalid or missing input parameters.", Details: []string{"where clause"}}) {
		t.Error("IsNotFound(plain 400) = true")
	}
	wrapped := errors.Join(errors.New("ctx"), &Error{Code: 498, Message: "Invalid token."})
	if !IsAuth(wrapped) {
		t.Error("IsAuth(wrapped 498) = false")
	}
	if IsAuth(&Error{Code: 400}) {
		t.Error("IsAuth(400) = true")
	}
	if !IsForbidden(&HTTPError{StatusCode: 403}) {
		t.Error("IsForbidden(http 403) = false")
	}
	ta := error(&TileAbsentError{URL: "u", StatusCode: 404})
	if !errors.Is(ta, ErrTileAbsent) || !IsNotFound(ta) {
		t.Error("TileAbsentError does not match ErrTileAbsent/IsNotFound")
	}
	re := &RetryError{Attempts: 3, Last: &Error{Code: 503, Message: "busy"}}
	var ae *Error
	if !errors.As(re, &ae) || ae.Code != 503 || !strings.Contains(re.Error(), "3 attempts") {
		t.Errorf("RetryError does not unwrap to the last error: %v", re)
	}
}

// TestHTTPErrorHTMLBody: a web server's HTML error page is summarised by
// its title, not printed as markup (issue 23 item 13).
func TestHTTPErrorHTMLBody(t *testing.T) {
	e := &HTTPError{StatusCode: 404, Status: "404 File not found", URL: "http://h/nope.json",
		Body: "<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<title>Error response</title>\n</head><body><h1>Error</h1>"}
	if got := e.Error(); strings.Contains(got, "<") || !strings.Contains(got, "Error response") || !strings.Contains(got, "check the URL") {
		t.Errorf("HTML body in error: %q", got)
	}
	j := &HTTPError{StatusCode: 500, Status: "500", URL: "u", Body: `{"error":"x"}`}
	if !strings.Contains(j.Error(), `{"error":"x"}`) {
		t.Errorf("JSON body dropped: %q", j.Error())
	}
}
