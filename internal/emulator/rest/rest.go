// Package rest holds the small HTTP helpers every part of the ArcGIS REST
// emulator shares: ArcGIS-shaped JSON and error bodies, case-insensitive
// form parameters, the request's base URL, and the token check each
// service route runs (AuthFunc, provided by the portal).
package rest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gorilla/mux"
)

// AuthFunc checks a request's token. When it returns ok=false it has already
// written the ArcGIS 498/499 error; user is "" for anonymous access.
type AuthFunc func(w http.ResponseWriter, r *http.Request) (user string, ok bool)

// Anonymous is an AuthFunc that lets every request through as anonymous.
func Anonymous(http.ResponseWriter, *http.Request) (string, bool) { return "", true }

// ServiceDefaults returns authorize and jobsFail as a service uses them:
// a nil authorize lets everyone in (Anonymous), a nil jobsFail never fails.
func ServiceDefaults(authorize AuthFunc, jobsFail func() bool) (AuthFunc, func() bool) {
	if authorize == nil {
		authorize = Anonymous
	}
	if jobsFail == nil {
		jobsFail = func() bool { return false }
	}
	return authorize, jobsFail
}

// WriteJSON writes v as a JSON body with HTTP status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError writes an ArcGIS error body {"error":{code,message,details}}
// with the given HTTP status (ArcGIS usually answers 200).
func WriteError(w http.ResponseWriter, httpStatus, code int, message string, details ...string) {
	if details == nil {
		details = []string{}
	}
	WriteJSON(w, httpStatus, map[string]any{"error": map[string]any{"code": code, "message": message, "details": details}})
}

// ParamError writes the ArcGIS "invalid parameters" error.
func ParamError(w http.ResponseWriter, details ...string) {
	WriteError(w, http.StatusOK, 400, "Invalid or missing input parameters.", details...)
}

// FormValue reads a request parameter (query, urlencoded or multipart
// form), matching the name case-insensitively as ArcGIS does.
func FormValue(r *http.Request, name string) string {
	if r.Form == nil {
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			_ = r.ParseMultipartForm(32 << 20)
		} else {
			_ = r.ParseForm()
		}
	}
	if v, ok := r.Form[name]; ok && len(v) > 0 {
		return v[0]
	}
	for k, v := range r.Form {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	if r.MultipartForm != nil {
		for k, v := range r.MultipartForm.Value {
			if strings.EqualFold(k, name) && len(v) > 0 {
				return v[0]
			}
		}
	}
	return ""
}

// BoolParam parses a boolean parameter with a default.
func BoolParam(r *http.Request, name string, def bool) bool {
	v := strings.TrimSpace(FormValue(r, name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.ToLower(v))
	if err != nil {
		return def
	}
	return b
}

// IntParam parses an integer parameter with a default.
func IntParam(r *http.Request, name string, def int) int {
	v, err := strconv.Atoi(strings.TrimSpace(r.FormValue(name)))
	if err != nil {
		return def
	}
	return v
}

// BaseURL is the scheme and host the request came to.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// MuxVar returns a route variable.
func MuxVar(r *http.Request, name string) string { return mux.Vars(r)[name] }
